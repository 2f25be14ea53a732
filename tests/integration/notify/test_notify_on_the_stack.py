"""Notify on the real stack: case events into Kafka, messages out at a real SMTP server and an
SMS provider on loopback, the delivery ledger in the document store.

Each story publishes a case's events as intake and routing record them (the resident's
contact sealed with the case's key, the key in the key store), runs the notifications
service against Kafka and the store with a clock of the test's, and reads what the resident
received.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from helpers import DiesAfter, client_for, eventually, publish_envelopes, read_topic
from notifyfixtures import (
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    WEBHOOK_SECRET,
    MailBox,
    SmsProvider,
    TlsCertificate,
    consenting,
    received,
)
from unit.tracking.tracking_stories import (
    EMAIL,
    OFFICER,
    PHONE,
    REPORTER,
    RING,
    SIGNAL_CO,
    STORY_TITLE,
    STORY_URL,
    accepted,
    code_of,
    day,
    routed,
)

from contracts import case_events as ev
from contracts.facts import Actor, Role
from contracts.personal import NotifyChannel
from contracts.topics import Topics
from services.common.clock import Clock, ManualClock, SystemClock
from services.common.keys import key_store
from services.common.runtime import running
from services.common.settings import CommonSettings
from services.composition import app_of
from services.lifecycle.history import History
from services.notify.channels import message_id
from services.notify.service import NotifyService
from services.notify.settings import NotifySettings
from zaiban.dlq import read_letters, redrive

pytestmark = pytest.mark.stack

MAIL_FROM = "zaiban <notify@zb.example>"
PUBLIC = "https://zb.example"


def life_of(case_id: str, submission: ev.CaseSubmitted) -> History:
    """The reference case (BRIEF.md), its resident as given."""
    return (
        History(case_id)
        .given(day("10-06", 9, 12), submission)
        .given(day("10-06", 10, 5), accepted())
        .given(day("10-07", 9, 30), ev.SiteVisited(by=REPORTER, note="路口四个方向的信号灯全部不亮。"))
        .given(day("10-07", 10, 0), routed("signal-co", day("10-14", 10, 0), by=REPORTER))
        .given(day("10-07", 16, 0), ev.StoryPublished(by=REPORTER, title=STORY_TITLE,
                                                      url=STORY_URL, column="inquiry"))
        .given(day("10-12", 11, 0), ev.CaseResolved(
            by=SIGNAL_CO, resolution="更换了信号控制机，四个方向的信号灯均已恢复。", on_time=True))
        .given(day("10-12", 18, 0), ev.FeedbackGiven(fixed=True, satisfied=True, rating=5))
        .given(day("10-12", 18, 1), ev.CaseClosed(reason="confirmed"))
    )


@asynccontextmanager
async def notifying(settings: CommonSettings, clock: Clock,
                    **overrides: Any) -> AsyncIterator[NotifyService]:
    own = NotifySettings.from_common(settings, **{
        "notify_max_age_h": 24 * 3650, "notify_sweep_s": 0.2, "notify_mail_from": MAIL_FROM,
        "notify_public_url": PUBLIC, **overrides})
    service = NotifyService(own, clock)
    async with running(service):
        yield service


async def ledger_of(service: NotifyService) -> dict[str, dict[str, Any]]:
    return {doc["_id"]: doc for doc in await service.ledger.all()}


# -- email: a case's life ---------------------------------------------------------------------


async def test_a_cases_life_mails_its_resident_each_step_in_their_language_and_no_one_else(
        settings: CommonSettings, tmp_path: Path) -> None:
    told = life_of("ZB261006-NTF0-0001", consenting("ZB261006-NTF0-0001", language="en"))
    silent = life_of("ZB261006-NTF0-0002", consenting("ZB261006-NTF0-0002", agreed=False))
    rejected = (History("ZB261006-NTF0-0003")
                .given(day("10-06", 9), consenting("ZB261006-NTF0-0003", language="zh-Hant"))
                .given(day("10-06", 10), ev.CaseRejected(officer=OFFICER,
                                                         reason="屬於私人物業，請聯繫物業公司")))
    with MailBox() as box:
        async with notifying(settings, ManualClock(day("10-12", 18, 5)),
                             smtp_url=box.url()) as service:
            await publish_envelopes(settings, told.envelopes + silent.envelopes
                                    + rejected.envelopes, keys=RING)
            messages = await received(box, 7, "six emails of the case's life and a rejection")
            await asyncio.sleep(1.0)  # and then nothing more
            ledger = await ledger_of(service)

    assert len(box.messages()) == 7
    by_case = {case: [m for m in messages if case in str(m.message["Subject"])]
               for case in ("NTF0-0001", "NTF0-0002", "NTF0-0003")}
    assert by_case["NTF0-0002"] == []  # no consent, no message
    life = by_case["NTF0-0001"]
    assert sorted(str(m.message["Subject"]) for m in life) == sorted(
        f"Your request ZB261006-NTF0-0001: {what}" for what in (
            "accepted", "a reporter visited the site", "sent to Traffic Signal Company",
            "a story was published", "resolved, tell us", "closed"))
    assert all(m.rcpt_to == [EMAIL] and m.message["To"] == EMAIL for m in messages)
    assert all(m.message["From"] == MAIL_FROM for m in messages)

    # one Message-ID per event, made from the event: the same if it were ever sent again
    told_events = {str(e.event_id) for e in told.envelopes
                   if e.type not in ("CaseSubmitted", "FeedbackGiven")}
    assert {m.message_id for m in life} == {message_id(f"{e}:email", MAIL_FROM)
                                            for e in told_events}

    [resolved] = [m for m in life if "resolved" in str(m.message["Subject"])]
    answer = f"{PUBLIC}/cases/ZB261006-NTF0-0001?code={code_of('ZB261006-NTF0-0001')}&lang=en"
    assert f"Is it fixed? Are you satisfied? Tell us here: {answer}" in resolved.text
    assert sum("code=" in m.text for m in life) == 1  # the code only where it is needed
    [routed_mail] = [m for m in life if "sent to Traffic" in str(m.message["Subject"])]
    assert "To be handled by 2026-10-14 10:00." in routed_mail.text

    [refusal] = by_case["NTF0-0003"]
    assert refusal.message["Subject"] == "您的訴求 ZB261006-NTF0-0003：未予受理"
    assert "原因：屬於私人物業，請聯繫物業公司" in refusal.text
    assert refusal.message["Content-Language"] == "zh-Hant"

    for message in messages:  # every message says how to stop them (RFC 8058)
        stop = str(message.message["List-Unsubscribe"]).strip("<>")
        assert stop.startswith(f"{PUBLIC}/notify/stop/") and stop in message.text
        assert message.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert {doc["status"] for doc in ledger.values()} == {"sent"}
    assert len(ledger) == 7

    # what the SMTP server received, for the record (printed with -s)
    record = "\n\n".join(f"From: {m.message['From']}\nTo: {m.message['To']}\n"
                         f"Subject: {m.message['Subject']}\nMessage-ID: {m.message_id}\n"
                         f"List-Unsubscribe: {m.message['List-Unsubscribe']}\n\n{m.text}"
                         for m in sorted(life, key=lambda m: str(m.message["Date"])))
    (tmp_path / "messages.txt").write_text(record)
    print(f"\n--- the messages of ZB261006-NTF0-0001, as received ---\n{record}")


async def test_redelivered_events_and_a_restart_send_nothing_twice(
        settings: CommonSettings) -> None:
    story = life_of("ZB261006-NTF1-0001", consenting("ZB261006-NTF1-0001"))
    clock = ManualClock(day("10-12", 18, 5))
    with MailBox() as box:
        async with notifying(settings, clock, smtp_url=box.url()):
            await publish_envelopes(settings, story.envelopes, keys=RING)
            await received(box, 6, "the six emails")
        # the same events again in the log (a producer's retry), and notify started anew
        await publish_envelopes(settings, story.envelopes)
        async with notifying(settings, clock, smtp_url=box.url()) as again:
            async def caught_up() -> bool:
                return await again.ledger.cases.count_documents({}) >= 1 and len(
                    await again.ledger.all()) == 6
            await eventually(caught_up, what="the ledger as it was")
            await asyncio.sleep(1.5)
    assert len(box.messages()) == 6
    assert len({m.message_id for m in box.messages()}) == 6


async def test_a_crash_between_the_servers_acceptance_and_the_mark_sends_it_again_alike(
        settings: CommonSettings) -> None:
    """The one window for a repeat, forced: the server took the email, the process died
    before the ledger said so. After the lease the next instance sends it again — the same
    Message-ID, so the receiving side can drop it — and the ledger counts the attempt cut
    short."""
    story = accepted_at("ZB261006-NTF7-0001", day("10-06", 10), ("email",))
    clock = ManualClock(day("10-06", 10, 1))
    with MailBox() as box:
        async with notifying(settings, clock, smtp_url=box.url(), notify_lease_s=60) as dying:
            dying.senders["email"] = DiesAfter(dying.senders["email"], "send")
            await publish_envelopes(settings, story.envelopes, keys=RING)
            [first] = await received(box, 1, "the email, before the crash")
            await asyncio.sleep(0.5)
            [doc] = (await ledger_of(dying)).values()
            assert (doc["status"], doc["attempts"]) == ("pending", 1)  # no mark
        clock.advance(timedelta(seconds=61))  # the dead instance's lease runs out
        async with notifying(settings, clock, smtp_url=box.url(), notify_lease_s=60) as next_:
            _, second = await received(box, 2, "the same email again")
            [doc] = (await ledger_of(next_)).values()
    assert second.message_id == first.message_id and second.text == first.text
    assert (doc["status"], doc["attempts"], doc["uncertain"]) == ("sent", 2, 1)


async def test_mail_goes_over_starttls_when_the_server_offers_it(
        settings: CommonSettings, tmp_path: Path) -> None:
    tls = TlsCertificate(tmp_path)
    story = (History("ZB261006-NTF2-0001")
             .given(day("10-06", 9), consenting("ZB261006-NTF2-0001", language="zh-Hans"))
             .given(day("10-06", 10), accepted()))
    with MailBox(tls=tls) as box:  # it refuses to take mail or a login before STARTTLS
        async with notifying(settings, ManualClock(day("10-06", 10, 1)), smtp_url=box.url(),
                             smtp_ca_file=str(tls.cert)):
            await publish_envelopes(settings, story.envelopes, keys=RING)
            [mail] = await received(box, 1, "the acceptance, over TLS")
    assert mail.message["Subject"] == "您的诉求 ZB261006-NTF2-0001：已受理"


# -- SMS: quiet hours, the providers, retries and dead letters ---------------------------------


def accepted_at(case_id: str, at: datetime, channels: tuple[NotifyChannel, ...]) -> History:
    return (History(case_id)
            .given(at - timedelta(minutes=10), consenting(case_id, channels=channels))
            .given(at, accepted()))


async def test_an_sms_at_night_waits_until_eight_while_the_email_goes_at_once(
        settings: CommonSettings) -> None:
    night = day("10-06", 23, 0)
    clock = ManualClock(night + timedelta(minutes=1))
    story = accepted_at("ZB261006-NTF3-0001", night, ("email", "sms"))
    provider = SmsProvider()
    with MailBox() as box:
        async with provider.serving(), notifying(
                settings, clock, smtp_url=box.url(), sms_provider="twilio",
                sms_url=provider.url, sms_account=TWILIO_SID, sms_secret=TWILIO_TOKEN,
                sms_from=TWILIO_FROM) as service:
            await publish_envelopes(settings, story.envelopes, keys=RING)
            await received(box, 1, "the email, at night")
            await asyncio.sleep(1.0)  # five sweeps
            ledger = await ledger_of(service)
            [sms] = [d for d in ledger.values() if d["channel"] == "sms"]
            assert provider.received == [] and sms["status"] == "pending"
            assert sms["due_at"] == day("10-07", 8, 0)

            clock.set(day("10-07", 7, 59))
            await asyncio.sleep(0.6)
            assert provider.received == []
            clock.set(day("10-07", 8, 0))
            await eventually(lambda: _some(provider.received), what="the SMS at eight")
    [message] = provider.received
    assert (message.protocol, message.to, message.sender) == ("twilio", PHONE, TWILIO_FROM)
    assert message.text.startswith("Your request ZB261006-NTF3-0001: accepted Stop: ")
    assert provider.refused == []


async def _some(items: list[Any]) -> list[Any] | None:
    return items or None


async def test_a_failing_provider_is_tried_again_then_dead_lettered_then_redriven(
        settings: CommonSettings) -> None:
    now = datetime.now(UTC).replace(hour=4)  # 12:00 in the city: no quiet hours
    provider = SmsProvider()
    provider.fail_next = 2
    first = accepted_at("ZB261006-NTF4-0001", now, ("sms",))
    async with provider.serving(), notifying(
            settings, _Fixed(now), sms_provider="webhook", sms_url=f"{provider.url}/hook",
            sms_secret=WEBHOOK_SECRET, notify_backoff_s=0.1, notify_max_attempts=4) as service:
        await publish_envelopes(settings, first.envelopes, keys=RING)
        await eventually(lambda: _some(provider.received), what="the SMS, third time lucky")

        async def marked_sent() -> list[dict[str, Any]] | None:
            # the ledger says so once the provider has answered (a moment after it received)
            kept = list((await ledger_of(service)).values())
            return kept if [d["status"] for d in kept] == ["sent"] else None

        [delivery] = await eventually(marked_sent, what="the SMS marked sent")
        assert delivery["attempts"] == 3
        [sms] = provider.received
        assert sms.idempotency_key == delivery["_id"] and sms.to == PHONE

        provider.refuse_next = 1  # the provider says the request is wrong: no retry helps
        second = accepted_at("ZB261006-NTF4-0002", now, ("sms",))
        await publish_envelopes(settings, second.envelopes, keys=RING)
        dead = await read_topic(settings.kafka_bootstrap,
                                Topics(settings.topic_prefix).dead_letter("notify"),
                                min_count=1, timeout=20)
        letter = json.loads(dead[0])
        assert letter["reason"] == "notify sms: webhook answered 400"
        assert letter["key"] == "ZB261006-NTF4-0002" and PHONE not in dead[0].decode()
        assert len(provider.received) == 1 and provider.refused == []

        # the cause fixed, an operator puts the dead letter back (`zaiban dlq redrive`): the
        # event comes again, and the message goes, once
        letters = await read_letters(settings, "notify")
        assert await redrive(settings, letters) == 1
        await eventually(lambda: _some(provider.received[1:]), what="the revived SMS")
        await asyncio.sleep(0.5)
        revived = (await ledger_of(service))[f"{second.envelopes[-1].event_id}:sms"]
    assert (revived["status"], revived["attempts"], revived["revived"]) == ("sent", 2, 1)
    assert [sms.idempotency_key for sms in provider.received] == [
        delivery["_id"], revived["_id"]]


async def test_a_mail_server_that_says_later_is_tried_again_one_that_refuses_is_not(
        settings: CommonSettings) -> None:
    now = datetime.now(UTC)
    with MailBox() as box:
        box.fail_next = 2  # 451: try again later
        async with notifying(settings, _Fixed(now), smtp_url=box.url(),
                             notify_backoff_s=0.1) as service:
            first = accepted_at("ZB261006-NTF8-0001", now, ("email",))
            await publish_envelopes(settings, first.envelopes, keys=RING)
            await received(box, 1, "the email, third time lucky")
            box.refuse_next = 1  # 550, naming the address
            second = accepted_at("ZB261006-NTF8-0002", now, ("email",))
            await publish_envelopes(settings, second.envelopes, keys=RING)
            dead = await read_topic(settings.kafka_bootstrap,
                                    Topics(settings.topic_prefix).dead_letter("notify"),
                                    min_count=1, timeout=20)
            ledger = await ledger_of(service)
    [letter] = [json.loads(raw) for raw in dead]
    assert letter["reason"] == "notify email: SMTP 550: 5.7.1 <<recipient>>: message refused"
    assert EMAIL not in json.dumps(ledger, default=str) and EMAIL not in dead[0].decode()
    assert sorted((d["status"], d["attempts"]) for d in ledger.values()) == [
        ("dead", 1), ("sent", 3)]
    assert len(box.messages()) == 1


async def test_a_message_planned_by_the_code_before_the_pending_entries_still_goes(
        settings: CommonSettings) -> None:
    """Notify's dispatcher reads its pending entries only; a delivery planned by code that
    kept none (the ledger of the version before, or an instance of it still running in a
    rolling upgrade) gets its entry when notify starts, and goes."""
    now = datetime.now(UTC)
    quick = {"notify_backoff_s": 0.1, "notify_backoff_max_s": 0.3,
             "notify_send_timeout_s": 1.0, "notify_lease_s": 2.0}
    with MailBox() as box:
        box.fail_next = 1_000  # 451 each time: the message waits, pending
        async with notifying(settings, _Fixed(now), smtp_url=box.url(), **quick) as service:
            case = accepted_at("ZB261006-NTF9-0001", now, ("email",))
            await publish_envelopes(settings, case.envelopes, keys=RING)

            async def tried() -> list[dict[str, Any]] | None:
                waiting = [d for d in (await ledger_of(service)).values()
                           if d["status"] == "pending" and d.get("last_error")]
                return waiting or None

            [waiting] = await eventually(tried, what="the email tried and pending")
            # as the code before this ledger kept it: the delivery pending, without an entry
            await service.ledger.pending.delete_many({})
            await asyncio.sleep(1.0)  # an attempt under way meanwhile ends
            box.fail_next = 0
            await asyncio.sleep(1.5)
            assert box.messages() == []  # never looked at again while this instance runs
        async with notifying(settings, _Fixed(now), smtp_url=box.url(), **quick) as service:
            [mail] = await received(box, 1, "the email planned before, once notify started")
            await asyncio.sleep(0.5)
            sent = (await ledger_of(service))[waiting["_id"]]
    assert sent["status"] == "sent"
    assert mail.message["Message-ID"] == message_id(waiting["_id"], MAIL_FROM)
    assert len(box.messages()) == 1


class _Fixed:
    """The time now, moving, but on the day of `start` (no quiet hours in the tests' way)."""

    def __init__(self, start: datetime) -> None:
        self.offset = start - SystemClock().now()

    def now(self) -> datetime:
        return SystemClock().now() + self.offset


# -- stopping them, erasing them --------------------------------------------------------------


async def test_the_stop_link_stops_every_further_message(settings: CommonSettings) -> None:
    case_id = "ZB261006-NTF5-0001"
    clock = ManualClock(day("10-06", 11))
    first = accepted_at(case_id, day("10-06", 10), ("email",))
    with MailBox() as box:
        async with notifying(settings, clock, smtp_url=box.url()) as service:
            await publish_envelopes(settings, first.envelopes, keys=RING)
            [mail] = await received(box, 1, "the acceptance")
            link = urlsplit(str(mail.message["List-Unsubscribe"]).strip("<>"))
            path = f"{link.path}?{link.query}"
            async with client_for(app_of(service)) as http:
                page = await http.get(path)
                assert page.status_code == 200 and "<form method=\"post\">" in page.text
                assert not await service.ledger.stopped(case_id)  # looking stops nothing
                forged = await http.post(path.replace("s=", "s=x"),
                                         content=b"List-Unsubscribe=One-Click")
                assert forged.status_code == 403
                garbled = await http.get(f"{link.path}?s=%C3%A9t%C3%A9")
                assert garbled.status_code == 422 and "s" in garbled.text  # not base64url
                other = await http.post(path.replace(case_id, "ZB261006-NTF5-0002"))
                assert other.status_code == 403  # the link of one case stops no other
                stopped = await http.post(path, content=b"List-Unsubscribe=One-Click",
                                          headers={"Content-Type":
                                                   "application/x-www-form-urlencoded"})
                assert stopped.status_code == 200 and "no more messages" in stopped.text
            assert await service.ledger.stopped(case_id)
            later = first.given(day("10-06", 10, 30),
                                routed("signal-co", day("10-13", 10)))
            await publish_envelopes(settings, later.latest)
            await asyncio.sleep(1.5)
    assert len(box.messages()) == 1


async def test_an_erased_case_gets_no_more_messages_not_even_those_held_for_the_morning(
        settings: CommonSettings) -> None:
    case_id = "ZB261006-NTF6-0001"
    night = day("10-06", 23)
    clock = ManualClock(night + timedelta(minutes=1))
    story = accepted_at(case_id, night, ("sms",))
    provider = SmsProvider()
    async with provider.serving(), notifying(
            settings, clock, sms_provider="webhook", sms_url=f"{provider.url}/hook",
            sms_secret=WEBHOOK_SECRET) as service:
        await publish_envelopes(settings, story.envelopes, keys=RING)
        await eventually(lambda: _planned(service, 1), what="the SMS held for the morning")

        # the resident asks for erasure: intake destroys the key and records it
        keys = key_store(service.mongo, service.settings)
        await keys.destroy(case_id, at=night, by="admin", reason="request")
        story.given(night + timedelta(minutes=2), ev.PersonalDataErased(
            by=Actor(role=Role.ADMIN, staff_id="admin-1"), reason="request"))
        story.given(night + timedelta(minutes=3), routed("signal-co", day("10-13", 10)))
        await publish_envelopes(settings, story.envelopes[-2:])
        await eventually(lambda: _dropped(service), what="the held SMS dropped")
        clock.set(day("10-07", 9))
        await asyncio.sleep(1.0)
        ledger = await ledger_of(service)
    assert provider.received == []
    assert [d["status"] for d in ledger.values()] == ["dropped"]  # and the routing: unplanned


async def _planned(service: NotifyService, count: int) -> bool:
    return len(await service.ledger.all()) >= count


async def _dropped(service: NotifyService) -> bool:
    return any(d["status"] == "dropped" for d in await service.ledger.all())
