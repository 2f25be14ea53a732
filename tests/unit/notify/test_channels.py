"""The channels' wire formats: the SMTP address, the email's headers, the webhook signature."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from services.notify.channels import (
    Outgoing,
    SmtpServer,
    email_of,
    message_id,
    scrubbed,
    webhook_signature,
)
from services.notify.messages import Message

OUTGOING = Outgoing(delivery_id="8a1c1e9e-0000-5000-8000-000000000001:email",
                    to="li@example.com", message=Message("Your request ZB1 was accepted",
                                                         "body\n", "sms"),
                    language="en", stop_url="https://zb.example/notify/stop/ZB1?s=x",
                    at=datetime(2026, 10, 6, 2, 5, tzinfo=UTC))


def test_smtp_urls_say_where_how_and_who() -> None:
    assert SmtpServer.parse("smtp://mailer:p%40ss@mail.example:2525") == SmtpServer(
        "mail.example", 2525, False, "mailer", "p@ss")
    assert SmtpServer.parse("smtps://mail.example") == SmtpServer(
        "mail.example", 465, True, None, None)
    assert SmtpServer.parse("smtp://mail.example").port == 587
    with pytest.raises(ValueError, match="ZAIBAN_SMTP_URL"):
        SmtpServer.parse("http://mail.example")


def test_the_email_carries_a_message_id_of_its_delivery_and_one_click_unsubscribe() -> None:
    mail = email_of(OUTGOING, "zaiban <notify@zb.example>")
    assert mail["Message-ID"] == "<8a1c1e9e-0000-5000-8000-000000000001.email@zb.example>"
    assert mail["Message-ID"] == message_id(OUTGOING.delivery_id, "notify@zb.example")
    assert mail["List-Unsubscribe"] == "<https://zb.example/notify/stop/ZB1?s=x>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Content-Language"] == "en" and mail["Auto-Submitted"] == "auto-generated"
    assert mail["To"] == "li@example.com"


def test_the_webhook_signs_timestamp_and_body() -> None:
    expected = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert webhook_signature(b"k", "1700000000", b"{}") == f"sha256={expected}"
    assert webhook_signature(b"k", "1700000001", b"{}") != f"sha256={expected}"


def test_what_a_server_says_of_a_failure_loses_the_address_before_it_is_logged() -> None:
    said = "5.1.1 <li@example.com>: Recipient address rejected; call 13812345678"
    assert scrubbed(said, "li@example.com") == (
        "5.1.1 <<recipient>>: Recipient address rejected; call 138****5678")


def test_a_lease_shorter_than_an_attempt_is_refused_at_start() -> None:
    from services.notify.settings import NotifySettings

    with pytest.raises(ValueError, match="ZAIBAN_NOTIFY_LEASE_S must be longer"):
        NotifySettings(notify_lease_s=10, notify_send_timeout_s=30)
    assert NotifySettings(notify_lease_s=3, notify_send_timeout_s=2).notify_lease_s == 3
