"""The tracking read model in the document store: one document per case.

A thin adapter around `timeline.apply`. A batch of deliveries may hold many
events of one case: they are folded in memory per case, and each case is
written once, with a compare-and-set on the `seq` the fold started from, so
two writers (N instances during a rebalance, or a replay next to the live
consumer) never lose each other's events and a redelivered event changes
nothing.

The document::

    {
      "_id": case_id,
      "seq": 9,                               # last event applied (the write guard)
      "view": {...},                          # timeline.CaseView, as JSON: the projection
      "code_hash": "<sha256 hex>",            # of the tracking code: looks a code up;
                                              #   never returned by any endpoint
      "status": "closed", "open": false,      # facts copied to the top for the staff
      "category": ..., "district": ..., "channel": ..., "department": ...,
      "priority": ..., "overdue": false, "escalated": false,
      "submitted_at": <date>, "updated_at": <date>, "due_at": <date|null>,
      "text": "<description>"                 # searched with $regex (Chinese included)
    }

The projection writer takes the collection as a parameter, so a replay can
build `cases_rebuild` and swap it in (`replay.py`).
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts.envelope import Envelope
from contracts.facts import CaseStatus
from services.common.bus import describe_error
from services.common.logging import bound, get_logger
from services.tracking.timeline import CaseView, apply

log = get_logger("zaiban.tracking.store")

COLLECTION = "cases"
REBUILD_COLLECTION = "cases_rebuild"
MAX_ATTEMPTS = 8
WRITERS = 16  # cases written concurrently per batch


class ProjectionConflict(RuntimeError):
    """A case kept changing under this writer; the batch is retried by the consumer."""


@dataclass
class Projected:
    """What a batch did: the cases whose view changed, and the events that could not be applied."""

    changed: list[str] = field(default_factory=list)
    failed: list[tuple[Envelope, str]] = field(default_factory=list)


def fold_safely(view: CaseView | None, envelopes: Sequence[Envelope]
                ) -> tuple[CaseView | None, list[tuple[Envelope, str]]]:
    """`timeline.fold`, except that an event the projection cannot apply is set aside
    (with the reason) instead of failing the batch, which would be retried forever and
    hold up every case behind it in the partition."""
    failed: list[tuple[Envelope, str]] = []
    for envelope in sorted(envelopes, key=lambda e: e.seq):
        try:
            view = apply(view, envelope)
        except Exception as error:
            failed.append((envelope, f"tracking cannot apply it: {describe_error(error)}"))
    return view, failed


@dataclass(frozen=True)
class CaseQuery:
    """Filters of the public list and the staff queries; None means any."""

    statuses: tuple[CaseStatus, ...] = ()
    category: str | None = None
    district: str | None = None
    department: str | None = None
    channel: str | None = None
    overdue: bool | None = None
    escalated: bool | None = None
    open: bool | None = None
    text: str | None = None
    limit: int = 20
    offset: int = 0

    def filter(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.statuses:
            query["status"] = {"$in": [s.value for s in self.statuses]}
        for name in ("category", "district", "department", "channel", "overdue", "escalated",
                     "open"):
            value = getattr(self, name)
            if value is not None:
                query[name] = value
        if self.text:
            pattern = literal_pattern(self.text)
            query["$or"] = [{"text": {"$regex": pattern, "$options": "i"}}, {"_id": self.text}]
        return query


_REGEX_SPECIALS = re.compile(r"([\\.^$|?*+()\[\]{}])")


def literal_pattern(text: str) -> str:
    """`text` as a regular expression matching itself, in the syntax both MongoDB's
    PCRE and FerretDB's Go regexp read (Python's `re.escape` also escapes spaces,
    which Go refuses)."""
    return _REGEX_SPECIALS.sub(r"\\\1", text)


def document(view: CaseView) -> dict[str, Any]:
    facts = view.facts
    return {
        "_id": view.case_id,
        "seq": view.seq,
        "view": view.model_dump(mode="json"),
        "code_hash": view.tracking_code_hash,
        "status": facts.status.value,
        "open": facts.status.is_open,
        "category": facts.category,
        "district": facts.district,
        "channel": facts.channel.value,
        "department": facts.department,
        "priority": facts.priority.value,
        "overdue": facts.overdue,
        "escalated": facts.escalated,
        "submitted_at": facts.submitted_at,
        "updated_at": view.updated_at,
        "due_at": facts.due_at,
        "text": view.description,
    }


def view_of(doc: dict[str, Any] | None) -> CaseView | None:
    return CaseView.model_validate(doc["view"]) if doc else None


class TimelineStore:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        c = self.collection
        await c.create_index([("code_hash", ASCENDING)], name="code_hash")
        await c.create_index([("submitted_at", DESCENDING), ("_id", DESCENDING)], name="newest")
        for name in ("status", "department", "category", "district", "channel"):
            await c.create_index([(name, ASCENDING), ("submitted_at", DESCENDING)],
                                 name=f"{name}_newest")
        await c.create_index([("open", ASCENDING), ("overdue", ASCENDING)], name="open_overdue")
        await c.create_index([("open", ASCENDING), ("escalated", ASCENDING)],
                             name="open_escalated")

    # -- writing ------------------------------------------------------------------

    async def project(self, envelopes: Sequence[Envelope]) -> Projected:
        """Apply a batch: one read for all its cases, one write per case that changed."""
        by_case: dict[str, list[Envelope]] = defaultdict(list)
        for envelope in envelopes:
            by_case[envelope.case_id].append(envelope)
        current = {
            doc["_id"]: doc
            async for doc in self.collection.find({"_id": {"$in": list(by_case)}})
        }
        gate = asyncio.Semaphore(WRITERS)
        projected = Projected()

        async def write(case_id: str) -> None:
            async with gate:
                changed, failed = await self._write_case(case_id, by_case[case_id],
                                                         current.get(case_id))
            if changed:
                projected.changed.append(case_id)
            projected.failed.extend(failed)

        await asyncio.gather(*(write(case_id) for case_id in by_case))
        return projected

    async def _write_case(self, case_id: str, envelopes: list[Envelope],
                          doc: dict[str, Any] | None) -> tuple[bool, list[tuple[Envelope, str]]]:
        for _attempt in range(MAX_ATTEMPTS):
            before = view_of(doc)
            after, failed = fold_safely(before, envelopes)
            if after is None or (before is not None and after.seq == before.seq):
                return False, failed  # everything here was applied already (a redelivery)
            if before is None:
                try:
                    await self.collection.insert_one(document(after))
                    self._log_gap(case_id, 0, envelopes)
                    return True, failed
                except DuplicateKeyError:
                    pass
            else:
                result = await self.collection.replace_one(
                    {"_id": case_id, "seq": before.seq}, document(after))
                if result.matched_count == 1:
                    self._log_gap(case_id, before.seq, envelopes)
                    return True, failed
            doc = await self.collection.find_one({"_id": case_id})
        raise ProjectionConflict(f"case {case_id} changed {MAX_ATTEMPTS} times during one write")

    @staticmethod
    def _log_gap(case_id: str, seq: int, envelopes: list[Envelope]) -> None:
        """A gap in a case's seq means events were lost upstream: say so, keep going."""
        expected = seq + 1
        for envelope in sorted(envelopes, key=lambda e: e.seq):
            if envelope.seq <= seq:
                continue
            if envelope.seq != expected:
                with bound(case_id=case_id, event_id=str(envelope.event_id)):
                    log.warning("seq_gap", expected=expected, got=envelope.seq)
            expected = envelope.seq + 1

    # -- reading ------------------------------------------------------------------

    async def get(self, case_id: str) -> CaseView | None:
        return view_of(await self.collection.find_one({"_id": case_id}))

    async def newer_than(self, case_id: str, seq: int) -> CaseView | None:
        """The view if it moved past `seq` (the cheap read behind live streams)."""
        return view_of(await self.collection.find_one({"_id": case_id, "seq": {"$gt": seq}}))

    async def case_for_code_hash(self, code_hash: str) -> str | None:
        doc = await self.collection.find_one({"code_hash": code_hash}, projection={"_id": 1})
        return str(doc["_id"]) if doc else None

    async def search(self, query: CaseQuery, *, count: bool = True) -> tuple[int | None,
                                                                            list[CaseView]]:
        """Newest first; the total is counted only when asked (staff lists)."""
        selector = query.filter()
        cursor = (self.collection.find(selector, projection={"view": 1})
                  .sort([("submitted_at", DESCENDING), ("_id", DESCENDING)])
                  .skip(query.offset).limit(query.limit))
        views = [CaseView.model_validate(doc["view"]) async for doc in cursor]
        total = await self.collection.count_documents(selector) if count else None
        return total, views

    async def count(self) -> int:
        return await self.collection.count_documents({})
