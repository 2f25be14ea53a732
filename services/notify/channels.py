"""The channels a message leaves by: email over SMTP, SMS through a provider over HTTP.

A sender takes one `Outgoing` and returns once the server or provider has accepted it
(the provider's id for it), or raises `SendFailed`: `permanent` when trying again cannot
help (an address refused, a request the provider says is wrong), else it is retried.

- `SmtpSender`: `ZAIBAN_SMTP_URL`, smtp:// (STARTTLS whenever the server offers it) or
  smtps:// (TLS from the first byte), with the credentials in the URL. Each email carries
  a Message-ID made from the delivery (event and channel), so a copy sent again after a
  crash is the same message to the receiving side, and RFC 8058's one-click unsubscribe
  (List-Unsubscribe, List-Unsubscribe-Post).
- `TwilioSms`: Twilio's Messages API, `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`,
  form-encoded To, From, Body, HTTP basic auth (Account SID, auth token); 201 and the
  message's `sid` mean accepted.
- `WebhookSms`: a JSON POST to any URL, signed: `X-Zaiban-Timestamp` (Unix seconds) and
  `X-Zaiban-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`, and
  `Idempotency-Key` (the delivery), so the receiver can refuse replays and drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib
import httpx

from services.common.masking import mask
from services.notify.messages import Message


class SendFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Outgoing:
    delivery_id: str
    """`<event id>:<channel>`: the same for every attempt of one message."""
    to: str
    message: Message
    language: str
    stop_url: str
    at: datetime


class Sender(Protocol):
    channel: str

    async def send(self, outgoing: Outgoing) -> str: ...


# --- email -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        """smtp://user:password@host:587 or smtps://user:password@host:465."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("ZAIBAN_SMTP_URL: smtp://user:password@host:port or smtps://...")
        implicit = parts.scheme == "smtps"
        return cls(host=parts.hostname, port=parts.port or (465 if implicit else 587),
                   implicit_tls=implicit,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None)


def message_id(delivery_id: str, mail_from: str) -> str:
    """The Message-ID of a delivery: the same for each of its attempts."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "zaiban.invalid"
    return f"<{delivery_id.replace(':', '.')}@{domain}>"


def email_of(outgoing: Outgoing, mail_from: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = mail_from
    mail["To"] = outgoing.to
    mail["Subject"] = outgoing.message.subject
    mail["Date"] = format_datetime(outgoing.at)
    mail["Message-ID"] = message_id(outgoing.delivery_id, mail_from)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    mail["List-Unsubscribe"] = f"<{outgoing.stop_url}>"
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
    mail.set_content(outgoing.message.text)
    mail["Content-Language"] = outgoing.language  # after the content, which sets Content-*
    return mail


class SmtpSender:
    channel = "email"

    def __init__(self, url: str, mail_from: str, *, timeout_s: float,
                 ca_file: str | None = None) -> None:
        self.server = SmtpServer.parse(url)
        self.mail_from = mail_from
        self.timeout_s = timeout_s
        self.tls = ssl.create_default_context(cafile=ca_file)

    async def send(self, outgoing: Outgoing) -> str:
        server = self.server
        try:
            _refused, answer = await aiosmtplib.send(
                email_of(outgoing, self.mail_from), hostname=server.host, port=server.port,
                username=server.username, password=server.password,
                use_tls=server.implicit_tls,
                start_tls=False if server.implicit_tls else None,  # None: if offered
                tls_context=self.tls, timeout=self.timeout_s)
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise SendFailed(f"recipient refused: {_codes(error)}", permanent=True) from error
        except aiosmtplib.SMTPResponseException as error:
            raise SendFailed(f"SMTP {error.code}: {scrubbed(error.message, outgoing.to)}",
                             permanent=500 <= error.code < 600) from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise SendFailed(f"SMTP: {type(error).__name__}: "
                             f"{scrubbed(str(error), outgoing.to)}") from error
        return answer[:200]


def scrubbed(said: str, to: str) -> str:
    """What a server said about a failure, fit for logs and dead letters: the address it
    names replaced, any other detail masked (servers quote the recipient: "550 <li@…>")."""
    return mask(said.replace(to, "<recipient>"))[:200]


def _codes(error: aiosmtplib.SMTPRecipientsRefused) -> str:
    return ", ".join(str(getattr(e, "code", "?")) for e in error.recipients)


# --- SMS -------------------------------------------------------------------------------


def _failed(answer: httpx.Response, what: str) -> SendFailed:
    permanent = 400 <= answer.status_code < 500 and answer.status_code not in (408, 429)
    return SendFailed(f"{what} answered {answer.status_code}", permanent=permanent)


class TwilioSms:
    channel = "sms"

    def __init__(self, base_url: str, account: str, token: str, sender: str, *,
                 timeout_s: float) -> None:
        if not (base_url and account and token and sender):
            raise ValueError("twilio needs ZAIBAN_SMS_URL, ZAIBAN_SMS_ACCOUNT, "
                             "ZAIBAN_SMS_SECRET and ZAIBAN_SMS_FROM")
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account}/Messages.json"
        self.auth = (account, token)
        self.sender = sender
        self.timeout_s = timeout_s

    async def send(self, outgoing: Outgoing) -> str:
        form = {"To": outgoing.to, "From": self.sender, "Body": outgoing.message.sms}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as http:
                answer = await http.post(self.url, data=form, auth=self.auth)
        except httpx.HTTPError as error:
            raise SendFailed(f"twilio: {type(error).__name__}") from error
        if answer.status_code not in (200, 201):
            raise _failed(answer, "twilio")
        try:
            return str(answer.json()["sid"])
        except (ValueError, KeyError, TypeError):
            return ""


def webhook_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


class WebhookSms:
    channel = "sms"

    def __init__(self, url: str, secret: str, *, timeout_s: float) -> None:
        if not (url and secret):
            raise ValueError("webhook needs ZAIBAN_SMS_URL and ZAIBAN_SMS_SECRET")
        self.url = url
        self.secret = secret.encode()
        self.timeout_s = timeout_s

    async def send(self, outgoing: Outgoing) -> str:
        body = json.dumps({"id": outgoing.delivery_id, "to": outgoing.to,
                           "text": outgoing.message.sms, "language": outgoing.language},
                          ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Zaiban-Timestamp": stamp,
                   "X-Zaiban-Signature": webhook_signature(self.secret, stamp, body),
                   "Idempotency-Key": outgoing.delivery_id}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as http:
                answer = await http.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise SendFailed(f"webhook: {type(error).__name__}") from error
        if not answer.is_success:
            raise _failed(answer, "webhook")
        return answer.headers.get("X-Message-Id", "")
