"""A service's write model of cases, kept in its own collection.

One document per case holds the case's state, its version (the `seq` of the
last event applied) and an outbox of events decided but not yet confirmed by
Kafka. A command runs as:

1. load the case; publish any outbox left by a crash;
2. decide (pure; may raise `Refused`, and then nothing is recorded);
3. compare-and-set the document from version n to n+k with the new events in
   its outbox; if another command got there first, go back to 1 and decide
   again on the newer state — so two racing commands cannot both win;
4. append the events to the log and wait until Kafka holds them (acks=all);
5. empty the outbox.

A crash between 3 and 5 leaves the events in the outbox; they are published
with the same ids on the next command or by the relay (`flush_outboxes`),
and every consumer skips a `seq` it has seen. The log stays the source of
truth: `fold` applies events other services recorded, and a replay rebuilds
the whole collection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts.case_events import CaseEvent
from contracts.envelope import Envelope
from services.common.bus import EventLog
from services.common.case import Case, Refused
from services.common.clock import Clock
from services.common.logging import bound, get_logger

log = get_logger("zaiban.casestreams")

MAX_ATTEMPTS = 8

Decide = Callable[[Case], Sequence[CaseEvent]]
IndexFields = Callable[[Case], dict[str, Any]]


class ConcurrentChange(Refused):
    def __init__(self, case_id: str) -> None:
        super().__init__(f"case {case_id} changed while this command was decided; try again")


class CaseStreams:
    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        log_: EventLog,
        clock: Clock,
        producer: str,
        index_fields: IndexFields | None = None,
    ) -> None:
        self.collection = collection
        self.log = log_
        self.clock = clock
        self.producer = producer
        self.index_fields = index_fields or (lambda case: {})

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("pending")

    # -- reading --------------------------------------------------------------

    async def get(self, case_id: str) -> Case | None:
        doc = await self.collection.find_one({"_id": case_id})
        return Case.model_validate(doc["case"]) if doc else None

    async def find(self, query: dict[str, Any], limit: int = 100) -> list[Case]:
        cursor = self.collection.find(query, limit=limit)
        return [Case.model_validate(doc["case"]) async for doc in cursor]

    # -- commands -------------------------------------------------------------

    async def execute(
        self,
        case_id: str,
        decide: Decide,
        *,
        cause: str,
        correlation_id: str,
        at: datetime | None = None,
        create: bool = False,
    ) -> list[Envelope]:
        """Decide on the current state of `case_id` and record what follows.

        `cause` is the command id (or the id of the event reacted to): running
        the same cause twice on the same state records the same event ids.
        With `create`, the case must not exist yet (a submission).
        """
        for _attempt in range(MAX_ATTEMPTS):
            doc = await self.collection.find_one({"_id": case_id})
            if doc is None and not create:
                raise Refused(f"case {case_id} not found", status=404)
            if doc is not None and create:
                raise Refused(f"case {case_id} exists already")
            if doc is not None and doc.get("pending"):
                await self._publish_outbox(doc)
            case = Case.model_validate(doc["case"]) if doc else Case(case_id=case_id)
            events = decide(case)
            if not events:
                return []
            now = self.clock.now()
            envelopes = case.record(
                events,
                at=at or now,
                recorded_at=now,
                producer=self.producer,
                correlation_id=correlation_id,
                cause=cause,
            )
            updated = case.fold(envelopes)
            outbox = [envelope.model_dump_json() for envelope in envelopes]
            if not await self._swap(case.version, updated, outbox, insert=doc is None):
                continue
            with bound(case_id=case_id, correlation_id=correlation_id):
                await self.log.append(envelopes)
                await self._clear_outbox(case_id, updated.version)
                for envelope in envelopes:
                    log.info("recorded", event_id=str(envelope.event_id), type=envelope.type,
                             seq=envelope.seq)
            return envelopes
        raise ConcurrentChange(case_id)

    async def _swap(self, expected: int, case: Case, outbox: list[str], *, insert: bool) -> bool:
        doc = self._document(case, outbox)
        if insert:
            try:
                await self.collection.insert_one(doc)
            except DuplicateKeyError:
                return False
            return True
        result = await self.collection.replace_one(
            {"_id": case.case_id, "version": expected}, doc
        )
        return result.modified_count == 1

    def _document(self, case: Case, outbox: list[str]) -> dict[str, Any]:
        return {
            "_id": case.case_id,
            "version": case.version,
            "case": case.model_dump(mode="json"),
            "outbox": outbox,
            "pending": bool(outbox),
            **self.index_fields(case),
        }

    async def _publish_outbox(self, doc: dict[str, Any]) -> None:
        envelopes = [Envelope.model_validate_json(raw) for raw in doc.get("outbox", [])]
        if envelopes:
            await self.log.append(envelopes)
            log.info("outbox_published", case_id=doc["_id"], events=len(envelopes))
        await self._clear_outbox(doc["_id"], doc["version"])

    async def _clear_outbox(self, case_id: str, version: int) -> None:
        await self.collection.update_one(
            {"_id": case_id, "version": version}, {"$set": {"outbox": [], "pending": False}}
        )

    async def flush_outboxes(self) -> int:
        """Publish every outbox a crash left behind. Returns how many cases had one."""
        count = 0
        async for doc in self.collection.find({"pending": True}):
            await self._publish_outbox(doc)
            count += 1
        return count

    async def relay(self, every_s: float = 5.0) -> None:
        """Run `flush_outboxes` forever (a background task of the service)."""
        while True:
            try:
                await self.flush_outboxes()
            except Exception:
                log.exception("outbox_relay_failed")
            await asyncio.sleep(every_s)

    # -- the log's side -------------------------------------------------------

    async def fold(self, envelope: Envelope) -> Case | None:
        """Apply an event recorded elsewhere (or replayed). Seen events change nothing.

        Returns the case after the event, or None when it was already applied.
        """
        for _attempt in range(MAX_ATTEMPTS):
            doc = await self.collection.find_one({"_id": envelope.case_id})
            case = Case.model_validate(doc["case"]) if doc else Case(case_id=envelope.case_id)
            if envelope.seq <= case.version:
                return None
            updated = case.apply(envelope)
            outbox = doc.get("outbox", []) if doc else []
            if await self._swap(case.version, updated, outbox, insert=doc is None):
                return updated
        raise ConcurrentChange(envelope.case_id)
