"""The delivery ledger on the real store: one delivery per event and channel, one attempt per
claim, attempts cut short counted, stops and erasures drop what waits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from unit.tracking.tracking_stories import day, reference_case

from services.common.settings import CommonSettings
from services.common.store import make_client
from services.notify.ledger import ORPHAN_AFTER, Delivery, Ledger, planned

pytestmark = pytest.mark.stack

NOW = day("10-06", 10, 6)
LEASE = timedelta(seconds=60)
[_, ACCEPTED, *_rest] = reference_case("ZB261006-LDG0-0001").envelopes


@pytest_asyncio.fixture(loop_scope="session")
async def ledger(settings: CommonSettings) -> AsyncIterator[Ledger]:
    client = make_client(settings)
    try:
        yield Ledger(client[settings.database("notify")])
    finally:
        await client.close()


def row(channel: str = "email", **change: Any) -> dict[str, Any]:
    return {**planned(ACCEPTED, channel, language="en",  # type: ignore[arg-type]
                      due_at=NOW, now=NOW, topic="t", partition=0, offset=1), **change}


async def the_one(ledger: Ledger) -> Delivery:
    [delivery] = await ledger.due(NOW + timedelta(days=1))
    return delivery


async def test_an_event_planned_twice_is_one_delivery_per_channel(ledger: Ledger) -> None:
    assert await ledger.plan([row("email"), row("sms")]) == 2
    assert await ledger.plan([row("email"), row("sms")]) == 0
    assert sorted(d.delivery_id for d in await ledger.due(NOW)) == [
        f"{ACCEPTED.event_id}:email", f"{ACCEPTED.event_id}:sms"]
    assert await ledger.due(NOW - timedelta(seconds=1)) == []


async def test_one_attempt_at_a_time_and_one_cut_short_is_counted(ledger: Ledger) -> None:
    await ledger.plan([row()])
    delivery = await the_one(ledger)
    assert await ledger.claim(delivery, NOW, LEASE, 3) == 1
    # another instance that read the delivery before the claim cannot take it meanwhile
    assert await ledger.claim(delivery, NOW + timedelta(seconds=1), LEASE, 3) == "held"
    assert await ledger.due(NOW + timedelta(seconds=59)) == []  # not due while leased

    # its instance died: once the lease runs out the next attempt is claimed, the first
    # counted as uncertain (it may have gone)
    later = NOW + LEASE + timedelta(seconds=1)
    delivery = await the_one(ledger)
    assert await ledger.claim(delivery, later, LEASE, 3) == 2
    assert (await the_one(ledger)).uncertain == 1

    await ledger.sent(await the_one(ledger), 2, at=later, provider_id="250 ok", accepted=0.0)
    assert await ledger.due(NOW + timedelta(days=1)) == []
    [doc] = await ledger.all()
    assert (doc["status"], doc["attempts"], doc["uncertain"]) == ("sent", 2, 1)


async def test_a_claim_whose_mark_was_lost_is_found_and_counted(ledger: Ledger) -> None:
    await ledger.plan([row()])
    delivery = await the_one(ledger)
    # an instance inserted attempt 1 and died before marking the delivery
    await ledger.attempts.insert_one({"_id": f"{delivery.delivery_id}/1", "at": NOW,
                                      "lease_until": NOW + LEASE})
    assert await ledger.claim(delivery, NOW + timedelta(seconds=5), LEASE, 3) == "held"
    assert await ledger.claim(delivery, NOW + LEASE * 2, LEASE, 3) == 2
    assert (await the_one(ledger)).uncertain == 1


async def test_attempts_run_out(ledger: Ledger) -> None:
    await ledger.plan([row()])
    at = NOW
    for number in (1, 2):
        assert await ledger.claim(await the_one(ledger), at, LEASE, 2) == number
        await ledger.failed(await the_one(ledger), number, reason="451", retry_at=at)
    assert await ledger.claim(await the_one(ledger), at, LEASE, 2) == "exhausted"


async def test_a_stop_or_an_erasure_drops_what_waits(ledger: Ledger) -> None:
    await ledger.plan([row("email"), row("sms")])
    assert await ledger.stop(ACCEPTED.case_id, NOW) is True
    assert await ledger.stop(ACCEPTED.case_id, NOW) is False  # once
    assert {d["status"] for d in await ledger.all()} == {"dropped"}
    assert await ledger.stopped(ACCEPTED.case_id)
    assert not await ledger.stopped("ZB261006-LDG0-0002")


async def test_an_event_planned_again_revives_its_dead_delivery_only(ledger: Ledger) -> None:
    await ledger.plan([row("email"), row("sms")])
    email, sms = sorted(await ledger.due(NOW), key=lambda d: d.channel)
    assert await ledger.claim(email, NOW, LEASE, 1) == 1
    await ledger.failed(email, 1, reason="550", retry_at=None)  # dead
    assert await ledger.claim(sms, NOW, LEASE, 1) == 1
    await ledger.sent(sms, 1, at=NOW, provider_id="", accepted=0.0)

    later = NOW + timedelta(hours=1)  # the dead letter put back on the log
    assert await ledger.plan([row("email"), row("sms")], now=later, max_attempts=2) == 1
    [revived] = await ledger.due(later)
    assert (revived.channel, revived.attempts, revived.limit) == ("email", 1, 3)
    assert await ledger.claim(revived, later, LEASE, 2) == 2  # its own limit, not the default
    statuses = {d["channel"]: d["status"] for d in await ledger.all()}
    assert statuses == {"email": "pending", "sms": "sent"}  # what was sent stays sent


async def test_only_what_waits_is_looked_at_and_every_delivery_pending_is(ledger: Ledger) -> None:
    """The dispatcher reads `pending`, not every delivery ever planned: an entry comes with
    its delivery and goes when it is sent, dead or dropped."""
    await ledger.plan([row("email"), row("sms"), an_alert()])
    email, alert, sms = sorted(await ledger.due(NOW), key=lambda d: d.delivery_id)
    assert alert.subscription == "sub-1"
    assert await pending_ids(ledger) == {email.delivery_id, alert.delivery_id, sms.delivery_id}
    assert await ledger.claim(email, NOW, LEASE, 1) == 1
    await ledger.sent(email, 1, at=NOW, provider_id="250 ok", accepted=0.0)
    assert await ledger.claim(sms, NOW, LEASE, 1) == 1
    await ledger.failed(sms, 1, reason="550", retry_at=None)
    await ledger.drop(alert, "unsubscribed")
    assert await pending_ids(ledger) == set()
    assert {d["status"] for d in await ledger.all()} == {"sent", "dead", "dropped"}


async def test_entries_a_crash_left_behind_are_mended_when_met(ledger: Ledger) -> None:
    await ledger.plan([row("email"), row("sms")])
    email, sms = sorted(await ledger.due(NOW), key=lambda d: d.channel)
    # a crash between the sent mark and the entry's removal: the entry is met and removed
    assert await ledger.claim(email, NOW, LEASE, 1) == 1
    await ledger.deliveries.update_one({"_id": email.delivery_id}, {"$set": {"status": "sent"}})
    # a claim moves the delivery's due time on, not its entry's: the entry is moved when met
    assert await ledger.claim(sms, NOW, LEASE, 1) == 1
    # the entry of a plan that failed between its two writes waits for the event read again
    await ledger.pending.insert_one({"_id": "orphan", "due_at": NOW, "planned_at": NOW,
                                     "case_id": ACCEPTED.case_id, "resident": True})

    assert await ledger.looked_at(NOW + timedelta(seconds=1)) == (3, [])
    assert await pending_ids(ledger) == {sms.delivery_id, "orphan"}
    [entry] = [e async for e in ledger.pending.find({"_id": sms.delivery_id})]
    assert entry["due_at"] == NOW + LEASE
    assert await ledger.looked_at(NOW + ORPHAN_AFTER + timedelta(seconds=1)) == (2, [
        await the_one(ledger)])
    assert await pending_ids(ledger) == {sms.delivery_id}


async def test_deliveries_planned_without_entries_get_them_at_start(ledger: Ledger) -> None:
    await ledger.plan([row("email"), row("sms")])
    email, _ = sorted(await ledger.due(NOW), key=lambda d: d.channel)
    assert await ledger.claim(email, NOW, LEASE, 1) == 1
    await ledger.sent(email, 1, at=NOW, provider_id="250 ok", accepted=0.0)
    await ledger.pending.delete_many({})  # as a ledger written before `pending` was

    assert await ledger.due(NOW) == []
    assert await ledger.keep_pending() == 1  # the one still pending, not the one sent
    [sms] = await ledger.due(NOW)
    assert sms.channel == "sms"
    assert await ledger.keep_pending() == 0  # each has its entry: nothing made twice
    assert await pending_ids(ledger) == {sms.delivery_id}


async def test_a_stop_drops_the_residents_messages_not_an_areas_alerts(ledger: Ledger) -> None:
    alert = an_alert()
    await ledger.plan([row("email"), alert])
    assert await ledger.stop(ACCEPTED.case_id, NOW) is True
    statuses = {d["_id"]: d["status"] for d in await ledger.all()}
    assert statuses == {f"{ACCEPTED.event_id}:email": "dropped", alert["_id"]: "pending"}
    assert await pending_ids(ledger) == {alert["_id"]}


def an_alert() -> dict[str, Any]:
    """The event's alert to an area's subscriber."""
    return row("email", _id=f"{ACCEPTED.event_id}:email:sub-1", subscription="sub-1")


async def pending_ids(ledger: Ledger) -> set[str]:
    return {entry["_id"] async for entry in ledger.pending.find({})}
