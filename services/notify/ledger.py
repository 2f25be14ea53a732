"""Notify's store: the cases it may speak about, the delivery ledger, the residents' stops.

- `cases`: per case, its personal data as the log carries it (sealed: it opens only while
  the case's key lives) and the resident's language.
- `deliveries`: one document per message, `_id` = `<event id>:<channel>` (a case to a
  department's webhook: `<message id>:webhook:<department>`, `webhooks.py`), inserted when
  the event is read (a redelivered event inserts nothing), with only public data (the
  event's own fields); the address is looked up when the message goes. Its `status` is
  pending (due at `due_at`), sent, dead (attempts used up: on the dead-letter topic, with
  the event; put back on the log by `zaiban dlq redrive`, the event revives it) or dropped
  (the personal data was erased, or the resident stopped the messages).
- `attempts`: one document per attempt, `_id` = `<delivery>/<n>`. An attempt is claimed by
  inserting it — the store refuses a second insert of one `_id` (atomic on FerretDB too,
  where a filtered update is not) — before the message goes, and carries its outcome
  after. An attempt with no outcome whose lease ran out was cut short (its instance died):
  the message may or may not have left, so the next attempt sends it again with the same
  Message-ID / Idempotency-Key, and the delivery counts it as `uncertain`. That is the one
  window for a repeat: between the server's acceptance and the mark, which each sent
  attempt records (`mark_ms`).
- `pending`: the deliveries pending, and when each is due: `_id` = the delivery's, `due_at`,
  `case_id`, and whether it is the case's resident's. What the dispatcher asks for the
  deliveries due, and a stop or an erasure for those of a case: FerretDB 1.24 reads every
  document of a collection for any filter but `_id`, and `deliveries` keeps every message
  ever planned (1.85 s a look at 30,000, 10.1 s at 150,000: measured), while this holds only
  those still to go. An entry is written before its delivery and removed after it leaves
  pending, so a delivery pending always has one; an entry that outlived its delivery's
  pending (a crash between the two writes) is removed, and one due before its delivery
  (leased, rescheduled) is moved, when `looked_at` meets it.
- `stops`: `_id` = case id: the resident asked for no more messages about the case (the
  signed link). Kept here, not as an event on the log: it concerns nothing but notify's
  own deliveries, no other service reads it, and the log keeps everything forever while a
  stop is a wish about a person — here it goes when the case's records go.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.envelope import Envelope
from contracts.personal import NotifyChannel
from services.common.store import create_query_indexes, find_by_ids, insert_new, upsert_raced
from services.notify.messages import Notice


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    case_id: str
    event_id: str
    channel: NotifyChannel | Literal["webhook"]
    notice: Notice
    due_at: datetime
    attempts: int
    uncertain: int
    source: dict[str, Any]
    subscription: str | None = None
    """An area alert's or a confirmation's subscription (its address); None: the case's
    resident."""
    envelope: str | None = None
    """The event it tells, as the log holds it (what its dead letter carries); for a
    department's webhook, the record of its cases topic, which is what is POSTed."""
    limit: int | None = None
    """The attempts it may use in all, once revived from the dead letters."""
    department: str | None = None
    """A case POSTed to a department's webhook (`webhooks.py`)."""

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Delivery:
        return cls(delivery_id=doc["_id"], case_id=doc["case_id"], event_id=doc["event_id"],
                   channel=doc["channel"],
                   notice=Notice(case_id=doc["case_id"], type=doc["type"],
                                 data=json.loads(doc["data"]), occurred_at=doc["occurred_at"],
                                 language=doc["language"]),
                   due_at=doc["due_at"], attempts=doc.get("attempts", 0),
                   uncertain=doc.get("uncertain", 0), source=doc.get("source", {}),
                   subscription=doc.get("subscription"), envelope=doc.get("envelope"),
                   limit=doc.get("limit"), department=doc.get("department"))

    def as_record_value(self) -> bytes:
        """What the dead-letter topic keeps of it: the event it tells (so `zaiban dlq
        redrive` puts it back on the log, which revives the delivery), never an address."""
        if self.envelope is not None:
            return self.envelope.encode()
        return json.dumps({"delivery_id": self.delivery_id, "case_id": self.case_id,
                           "event_id": self.event_id, "channel": self.channel,
                           "type": self.notice.type, "attempts": self.attempts},
                          ensure_ascii=False).encode()


class Ledger:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.cases = db["cases"]
        self.deliveries = db["deliveries"]
        self.pending = db["pending"]
        self.attempts = db["attempts"]
        self.stops = db["stops"]

    async def ensure_indexes(self) -> None:
        await create_query_indexes(self.pending, [([("due_at", 1)], "due"),
                                                  ([("case_id", 1)], "case")])

    async def keep_pending(self) -> int:
        """Give every pending delivery that has none its entry in `pending`: those planned
        by code that kept no entries (a ledger from before, or an instance of that code
        still running in a rolling upgrade). At each start: one look over `deliveries`, what
        the dispatcher took at each sweep before. The entries made."""
        entries = [pending_entry(doc) async for doc in self.deliveries.find(
            {"status": "pending"}, projection=PENDING_FIELDS)]
        return len(entries) - len(await insert_new(self.pending, entries))

    # -- cases --------------------------------------------------------------------------

    async def remember_case(self, envelope: Envelope) -> None:
        """A submitted case: its sealed personal data and its resident's language."""
        await self.cases.update_one(
            {"_id": envelope.case_id},
            {"$set": {"personal": envelope.data.get("personal"),
                      "language": envelope.data.get("language", "zh-Hans")}},
            upsert=True)

    async def case(self, case_id: str) -> dict[str, Any] | None:
        return await self.cases.find_one({"_id": case_id})

    async def forget_case(self, case_id: str) -> int:
        """The personal data was erased: nothing more is said, nothing pending goes."""
        await self.cases.update_one({"_id": case_id},
                                    {"$set": {"personal": None, "erased": True}}, upsert=True)
        return await self.drop_pending(case_id, "erased")

    async def drop_pending(self, case_id: str, reason: str) -> int:
        """Drop the messages to the case's resident that wait (not an alert to an area's
        subscriber, nor a case to its department); how many."""
        dropped = 0
        async for entry in self.pending.find({"case_id": case_id, "resident": True}):
            changed = await self.deliveries.update_one(
                {"_id": entry["_id"], "status": "pending"},
                {"$set": {"status": "dropped", "why": reason}})
            await self.pending.delete_one({"_id": entry["_id"]})
            dropped += changed.modified_count
        return dropped

    # -- stops --------------------------------------------------------------------------

    async def stop(self, case_id: str, at: datetime) -> bool:
        """Record the resident's stop (once); True if it is new."""
        try:
            await self.stops.insert_one({"_id": case_id, "at": at})
        except DuplicateKeyError:
            return False
        await self.drop_pending(case_id, "stopped")
        return True

    async def stopped(self, case_id: str) -> bool:
        return await self.stops.find_one({"_id": case_id}) is not None

    # -- deliveries ---------------------------------------------------------------------

    async def plan(self, rows: list[dict[str, Any]], *, now: datetime | None = None,
                   max_attempts: int = 0) -> int:
        """Insert the deliveries not planned yet; the number inserted, and revived.

        A delivery planned already stays as it is — pending, sent or dropped — unless it is
        dead: the event came again because an operator put its dead letter back on the log
        (`zaiban dlq redrive`, once the cause is fixed), so it is due again with
        `max_attempts` more attempts."""
        if not rows:
            return 0
        # the entries first: a delivery pending never lacks one (one whose delivery was there
        # already, and has gone, is removed by `looked_at`)
        await insert_new(self.pending, [pending_entry(row) for row in rows])
        again = await insert_new(self.deliveries, rows)
        if not again:
            return len(rows)
        return len(rows) - len(again) + await self._revive(list(again), now, max_attempts)

    async def _revive(self, delivery_ids: list[str], now: datetime | None,
                      max_attempts: int) -> int:
        if now is None or max_attempts < 1:
            return 0
        revived = 0
        for delivery_id in delivery_ids:
            doc = await self.deliveries.find_one(
                {"_id": delivery_id}, projection={**PENDING_FIELDS, "status": 1, "attempts": 1})
            if doc is None or doc.get("status") != "dead":
                continue
            entry = pending_entry({**doc, "due_at": now})
            del entry["_id"]
            await upsert_raced(partial(self.pending.update_one, {"_id": delivery_id},
                                       {"$set": entry}, upsert=True))
            await self.deliveries.update_one({"_id": delivery_id}, {
                "$set": {"status": "pending", "due_at": now,
                         "limit": doc.get("attempts", 0) + max_attempts},
                "$inc": {"revived": 1}})
            revived += 1
        return revived

    async def due(self, now: datetime, limit: int = 100) -> list[Delivery]:
        """The pending deliveries due at `now`, the longest due first, of the `limit` first
        entries due (see `looked_at`)."""
        return (await self.looked_at(now, limit))[1]

    async def looked_at(self, now: datetime, limit: int = 100) -> tuple[int, list[Delivery]]:
        """The entries due at `now` looked at (at most `limit`), and their deliveries still
        pending and due. Entries are mended on the way: removed when their delivery left
        pending (or was never written, `ORPHAN_AFTER` on), moved when it is due later."""
        entries = [entry async for entry in self.pending.find(
            {"due_at": {"$lte": now}}, sort=[("due_at", 1)], limit=limit)]
        docs = await find_by_ids(self.deliveries, [entry["_id"] for entry in entries])
        due = []
        for entry in entries:
            doc = docs.get(entry["_id"])
            if doc is None:
                if now - entry.get("planned_at", entry["due_at"]) > ORPHAN_AFTER:
                    await self.pending.delete_one({"_id": entry["_id"]})
            elif doc["status"] != "pending":
                await self.pending.delete_one({"_id": entry["_id"]})
            elif doc["due_at"] > now:
                await self.pending.update_one({"_id": entry["_id"]},
                                              {"$set": {"due_at": doc["due_at"]}})
            else:
                due.append(Delivery.of(doc))
        return len(entries), due

    async def claim(self, delivery: Delivery, now: datetime, lease: timedelta,
                    max_attempts: int) -> int | Literal["held", "exhausted"]:
        """Claim the delivery's next attempt: its number; "held" if another instance holds
        one whose lease has not run out; "exhausted" past `max_attempts`. Attempts cut short
        before it (no outcome, lease run out) are counted as uncertain."""
        max_attempts = delivery.limit or max_attempts
        number = delivery.attempts + 1
        uncertain = delivery.uncertain
        if delivery.attempts:  # the last attempt claimed: ended, or cut short?
            last = await self.attempts.find_one(
                {"_id": f"{delivery.delivery_id}/{delivery.attempts}"})
            if last is not None and last.get("outcome") is None:
                if last["lease_until"] > now:
                    return "held"
                uncertain += 1  # its instance died with it: it may have gone
        while number <= max_attempts:
            try:
                await self.attempts.insert_one({"_id": f"{delivery.delivery_id}/{number}",
                                                "at": now, "lease_until": now + lease})
                break
            except DuplicateKeyError:
                held = await self.attempts.find_one({"_id": f"{delivery.delivery_id}/{number}"})
                if held is not None and held.get("outcome") is None:
                    if held["lease_until"] > now:
                        return "held"
                    uncertain += 1  # its instance died with it: it may have gone
                number += 1
        await self.deliveries.update_one(
            {"_id": delivery.delivery_id},
            {"$set": {"attempts": min(number, max_attempts), "uncertain": uncertain,
                      "due_at": now + lease}})
        return number if number <= max_attempts else "exhausted"

    async def sent(self, delivery: Delivery, number: int, *, at: datetime, provider_id: str,
                   accepted: float) -> float:
        """Mark the delivery sent; the milliseconds from the provider's acceptance
        (`accepted`, a perf_counter reading) until the mark was written: the window in
        which a crash makes the message go twice."""
        await self.deliveries.update_one(
            {"_id": delivery.delivery_id},
            {"$set": {"status": "sent", "sent_at": at, "provider_id": provider_id}})
        window_ms = round((time.perf_counter() - accepted) * 1000, 3)
        await self.pending.delete_one({"_id": delivery.delivery_id})
        await self.attempts.update_one({"_id": f"{delivery.delivery_id}/{number}"},
                                       {"$set": {"outcome": "sent", "mark_ms": window_ms}})
        return window_ms

    async def reschedule(self, delivery: Delivery, due_at: datetime) -> None:
        await self.deliveries.update_one({"_id": delivery.delivery_id},
                                         {"$set": {"due_at": due_at}})
        await self.pending.update_one({"_id": delivery.delivery_id},
                                      {"$set": {"due_at": due_at}})

    async def failed(self, delivery: Delivery, number: int, *, reason: str,
                     retry_at: datetime | None) -> None:
        """A failed attempt: due again at `retry_at`, or dead (None)."""
        change: dict[str, Any] = {"last_error": reason}
        change.update({"due_at": retry_at} if retry_at is not None else {"status": "dead"})
        await self.deliveries.update_one({"_id": delivery.delivery_id}, {"$set": change})
        await self.attempts.update_one({"_id": f"{delivery.delivery_id}/{number}"},
                                       {"$set": {"outcome": "failed"}})
        if retry_at is None:
            await self.pending.delete_one({"_id": delivery.delivery_id})
        else:
            await self.pending.update_one({"_id": delivery.delivery_id},
                                          {"$set": {"due_at": retry_at}})

    async def mark_dead(self, delivery: Delivery, reason: str) -> None:
        await self.deliveries.update_one({"_id": delivery.delivery_id},
                                         {"$set": {"status": "dead", "last_error": reason}})
        await self.pending.delete_one({"_id": delivery.delivery_id})

    async def drop(self, delivery: Delivery, reason: str, number: int | None = None) -> None:
        await self.deliveries.update_one({"_id": delivery.delivery_id},
                                         {"$set": {"status": "dropped", "why": reason}})
        await self.pending.delete_one({"_id": delivery.delivery_id})
        if number is not None:
            await self.attempts.update_one({"_id": f"{delivery.delivery_id}/{number}"},
                                           {"$set": {"outcome": "dropped"}})

    async def troubled(self, channel: str, limit: int = 200) -> list[dict[str, Any]]:
        """The deliveries of `channel` that failed at least once and have not gone: pending
        (to be tried again at `due_at`) or dead; the longest troubled first."""
        cursor = self.deliveries.find(
            {"channel": channel, "status": {"$in": ["pending", "dead"]},
             "last_error": {"$exists": True}},
            sort=[("planned_at", 1)], limit=limit)
        return [doc async for doc in cursor]

    async def all(self) -> list[dict[str, Any]]:
        return [doc async for doc in self.deliveries.find({})]


PENDING_FIELDS = {"_id": 1, "due_at": 1, "planned_at": 1, "case_id": 1, "subscription": 1,
                  "department": 1}
ORPHAN_AFTER = timedelta(minutes=10)
"""How long an entry waits for its delivery: it is written first, so for a moment one is
there without it; past this, the plan that wrote it failed (its event, read again, plans it
again)."""


def pending_entry(delivery: dict[str, Any]) -> dict[str, Any]:
    """A delivery's entry in `pending`."""
    return {"_id": delivery["_id"], "due_at": delivery["due_at"],
            "planned_at": delivery.get("planned_at", delivery["due_at"]),
            "case_id": delivery["case_id"],
            "resident": not (delivery.get("subscription") or delivery.get("department"))}


def planned(envelope: Envelope, channel: NotifyChannel, *, language: str, due_at: datetime,
            now: datetime, topic: str, partition: int, offset: int,
            subscription: str | None = None) -> dict[str, Any]:
    """The ledger's document of one message to plan: public data only. To a subscriber, an
    alert of the event: keyed by the subscription too."""
    planned = {
        "_id": f"{envelope.event_id}:{channel}"
               + (f":{subscription}" if subscription else ""),
        "case_id": envelope.case_id,
        "event_id": str(envelope.event_id),
        "channel": channel,
        "type": envelope.type,
        "data": json.dumps(envelope.data, ensure_ascii=False, default=str),
        "occurred_at": envelope.occurred_at,
        "language": language,
        "status": "pending",
        "due_at": due_at,
        "planned_at": now,
        "attempts": 0,
        "uncertain": 0,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "envelope": envelope.to_bytes().decode(),
    }
    if subscription is not None:
        planned.update(type="AreaAlert", subscription=subscription, data=json.dumps({
            "kind": "resolved" if envelope.type == "CaseResolved" else "new",
            "category": envelope.facts.category, "district": envelope.facts.district}))
    return planned


def planned_confirmation(subscription_id: str, language: str, now: datetime) -> dict[str, Any]:
    """The double opt-in's email: at most one a day for one subscription."""
    return {
        "_id": f"subscription:{subscription_id}:confirm:{now.date().isoformat()}",
        "case_id": "", "event_id": subscription_id, "channel": "email",
        "type": "SubscriptionConfirm", "data": "{}", "occurred_at": now, "language": language,
        "status": "pending", "due_at": now, "planned_at": now, "attempts": 0, "uncertain": 0,
        "source": {}, "subscription": subscription_id,
    }
