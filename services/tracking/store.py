"""The tracking read model in the document store: one document per case.

A thin adapter around `timeline.apply`. A batch of deliveries may hold many
events of one case: they are folded in memory per case, and each case is
written once, with a compare-and-set on the `seq` the fold started from, so
two writers (N instances during a rebalance, or a replay next to the live
consumer) never lose each other's events and a redelivered event changes
nothing. Cases that begin in the batch are inserted together without a read
(the unique `_id` is their compare-and-set); the others are replaced in bulk.
On FerretDB, whose filtered updates are neither atomic nor cheap (a filter on
more than `_id` reads every document), the `seq` is compared on the document
read at the start of the batch and the write goes by `_id` (`StoreTraits`).

The document::

    {
      "_id": case_id,
      "seq": 9,                               # last event applied (the write guard)
      "view": <bytes>,                        # timeline.CaseView as JSON, LZ4-compressed
                                              #   (`pack_view`): the projection (one value,
                                              #   never queried)
      "row": <bytes>                          # the fields the lists read (`row_fields`),
    }                                         #   packed as BSON (`store.pack_row`)

FerretDB 1.24 spends on every field of a document it reads or writes and on every byte of
a string: the same case as 28 fields and a JSON string cost it 1.26 ms a replacement and
1.56 ms a lookup, as these four fields 0.65 and 0.86 ms (measured on this machine's
store, 1,000 cases of the bench's history). Nothing asks the store about these fields:
every list is answered from rows in memory (below). The row::

      "seq": 9, "status": "closed", "open": false,   # facts copied for the lists
      "category": ..., "district": ..., "channel": ..., "department": ...,
      "assisting": [...],                     # the departments assisting the lead one
      "priority": ..., "overdue": false, "escalated": false,
      "disputed": false,                      # the resident disputes the resolution in force
      "submitted_at": <date>, "updated_at": <date>, "due_at": <date|null>,
      "resolved_at": <date|null>,             # the resolution in force (the feeds of
                                              #   resolved cases); null once reopened
      "text": "<description>",                # searched by staff (Chinese included)
      "public_text": "<description, masked>", # searched by the public
      "deadline": <date>, "late": false,      # a department's inbox sorts by them (inbox.py)
      "handler": "<sha256 hex>|null",         # staff_hash of the handler in force ("mine")
      "reporter": "<sha256 hex>|null",        # staff_hash of the case's reporter ("mine")
      "lat": 34.75, "lon": 113.62             # the point the log holds in clear (a public
                                              #   place's), for the maps; absent otherwise

A document written before the row was packed holds these fields at its top and the view as a
JSON string (or, before that, as a tree): it is read as it is (`store.unpack_row`,
`view_of`) until its next event or a replay of tracking's read model.

Public search looks only at what the public sees: `public_text` is the
description as the public page shows it, masked (`services/common/masking.py`),
so a search for a resident's phone number, or for the digits masked out of it,
finds nothing, and a search cannot be used to guess them digit by digit. Staff
search the description as written. A document written before `public_text`
existed is not found by a public text search (it is found by its case number,
and in the lists) until tracking's read model is replayed; it is never found
through its hidden digits.

Tracking codes are looked up in `tracking_codes` ({_id: code hash, case_id}),
written when a case's document is first inserted: a lookup by `_id`, which
every MongoDB-protocol store answers from its index. The case's document does
not keep the code's hash. A code never changes, so the live
writer and a replay write the same entries, and a swap leaves them be.

Every list — the public list and its search, the staff lists, a department's inbox, Open311
`GET requests`, the maps, the public feeds — is answered by the rows of the cases each
instance keeps in memory (`case_rows`, `services/common/rowindex.py`), kept current from the
log by a `RowFollower`; the store is read by `_id` only, for the views on the page. So a list
costs the same on FerretDB 1.24 (where a filter on anything but `_id` reads every document)
as on MongoDB, and does not grow with every case ever received. The public feeds (`feeds.py`)
read the latest cases of a district, category or department, or of the whole city, by
`submitted_at` (new cases) or `resolved_at` (resolved ones) (`FeedQuery`). As with `public_text`, a document written
before `resolved_at` existed stays out of the resolved feeds until its next event or a
replay of tracking's read model.

Likewise a document written before the inbox fields existed (`deadline`, `late`,
`handler`, `reporter`) is out of place in a department's inbox and in "mine" until its
next event or a replay of tracking's read model.

The maps (`map_routes.py`) ask for the cases whose `lat` and `lon` lie in a box; a document
written before those fields existed stays off the maps until its next event or a replay.

The projection writer takes the collection as a parameter, so a replay can
build `cases_rebuild` and swap it in (`replay.py`).
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import cramjam
from pymongo import ASCENDING, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from contracts.envelope import Envelope
from contracts.facts import CaseStatus
from services.common.bus import describe_error
from services.common.compact import compact
from services.common.inturn import in_turn
from services.common.logging import bound, get_logger
from services.common.masking import mask
from services.common.rowfollower import KeptRows, RowFollower
from services.common.rowindex import NEWEST, Found, RowIndex
from services.common.store import (
    DUPLICATE_KEY,
    ROW,
    StoreTraits,
    find_by_ids,
    insert_new,
    pack_row,
    traits_of,
)
from services.common.textindex import terms
from services.tracking import inbox
from services.tracking.timeline import CaseView, apply

log = get_logger("zaiban.tracking.store")

COLLECTION = "cases"
REBUILD_COLLECTION = "cases_rebuild"
CODES_COLLECTION = "tracking_codes"
MAX_ATTEMPTS = 8
WRITERS = 16  # cases read concurrently per batch, where reads go one by one
WRITE_CHUNK = 25
"""Replaces per bulk command: FerretDB 1.24 holds a connection per statement of a command
until it ends (at most 100 per database), so a bulk of ~100 updates waits forever."""
VIEW_LZ4 = b"\x04"
"""What a view compressed with LZ4 starts with (then an LZ4 block, its size first); the views
written before were zlib streams, which start with 0x78. LZ4 makes ~3.3 KB of a view's JSON
~1.6 KB in 4 µs and reads it back in 2; zlib at level 1 made ~1.3 KB in 39 µs and read it in
14 (the bench's views, measured): a case is written at every batch that moves it, and that
compression was a tenth of tracking's CPU catching up with the article's history."""


class ProjectionConflict(RuntimeError):
    """A case kept changing under this writer; the batch is retried by the consumer."""


@dataclass
class Projected:
    """What a batch did: the cases whose view changed, and the events that could not be applied."""

    changed: list[str] = field(default_factory=list)
    failed: list[tuple[Envelope, str]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    """What the lists of this instance take at once: the rows of the documents written, and
    of those that held the batch's events already (a redelivery: maybe another instance's
    write, after the partition moved here, which this instance's follower no longer reads:
    `held.py`)."""

    def applied_already(self, before: CaseView | None, after: CaseView | None) -> bool:
        """Whether folding the batch onto `before` brought nothing new (a redelivery); if
        so, the case's row as the store holds it is taken all the same."""
        if after is not None and (before is None or after.seq != before.seq):
            return False
        if before is not None:
            self.rows.append(row_fields(before))
        return True


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
class Listed:
    """A page of a list: its views in order, the total (None if not counted), the cursor of
    the page after it (None on the last)."""

    total: int | None
    views: list[CaseView]
    next: str | None


@dataclass(frozen=True)
class CaseQuery:
    """Filters of the public list and the staff queries; None means any.

    `text` is looked for in the description as the public sees it (masked), unless
    `staff`, or taken as a case number. `involving` is a department that leads the
    case or assists with it (a department's own staff list)."""

    statuses: tuple[CaseStatus, ...] = ()
    category: str | None = None
    district: str | None = None
    department: str | None = None
    involving: str | None = None
    channel: str | None = None
    overdue: bool | None = None
    escalated: bool | None = None
    disputed: bool | None = None
    open: bool | None = None
    submitted_from: datetime | None = None
    submitted_before: datetime | None = None
    text: str | None = None
    staff: bool = False
    limit: int = 20
    offset: int = 0
    after: str | None = None
    """A cursor: the page after the one whose `next` it was (`rowindex.py`)."""
    mine: dict[str, Any] | None = None
    """The reader's own cases (`inbox.mine`): a reporter's, or a handler's."""

    @property
    def searched(self) -> str:
        """The text field searched: the description as the reader sees it."""
        return "text" if self.staff else "public_text"

    def filter(self) -> dict[str, Any]:
        query: dict[str, Any] = dict(self.mine or {})
        if self.statuses:
            query["status"] = {"$in": [s.value for s in self.statuses]}
        for name in ("category", "district", "department", "channel", "overdue", "escalated",
                     "disputed", "open"):
            value = getattr(self, name)
            if value is not None:
                query[name] = value
        if self.involving is not None:
            query["$and"] = [{"$or": [{"department": self.involving},
                                      {"assisting": self.involving}]}]
        window = {operator: moment for operator, moment in (("$gte", self.submitted_from),
                                                             ("$lt", self.submitted_before))
                  if moment is not None}
        if window:
            query["submitted_at"] = window
        if self.text:
            words = [{self.searched: {"$regex": literal_pattern(term), "$options": "i"}}
                     for term in terms(self.text)]
            query["$or"] = [{"$and": words}, {"_id": self.text}]
        return query


_REGEX_SPECIALS = re.compile(r"([\\.^$|?*+()\[\]{}])")


def literal_pattern(text: str) -> str:
    """`text` as a regular expression matching itself, in the syntax both MongoDB's
    PCRE and FerretDB's Go regexp read (Python's `re.escape` also escapes spaces,
    which Go refuses)."""
    return _REGEX_SPECIALS.sub(r"\\\1", text)


def document(view: CaseView, row: dict[str, Any] | None = None) -> dict[str, Any]:
    """The case's document: its `_id` and `seq` (the write's guard), the view compressed, and the
    fields the lists read packed in one value (`store.pack_row`): its `row`, when the writer
    has it already (the lists of this instance take it as it is)."""
    return {"_id": view.case_id, "seq": view.seq, "view": pack_view(view),
            ROW: pack_row(row if row is not None else row_fields(view))}


def pack_view(view: CaseView) -> bytes:
    """The view as the document keeps it: its JSON, LZ4-compressed (`VIEW_LZ4`)."""
    return VIEW_LZ4 + bytes(cramjam.lz4.compress_block(view.model_dump_json().encode()))


def unpack_view(packed: bytes) -> bytes:
    """The view's JSON from `pack_view`'s bytes, or from the zlib stream of a document written
    before."""
    if packed[:1] == VIEW_LZ4:
        return bytes(cramjam.lz4.decompress_block(packed[1:]))
    return zlib.decompress(packed)


def row_fields(view: CaseView) -> dict[str, Any]:
    """The case's row: what the lists of every instance read of it (`ROW_FIELDS`), and the
    store never queries."""
    facts = view.facts
    return {
        "_id": view.case_id,
        "seq": view.seq,
        "status": facts.status.value,
        "open": facts.status.is_open,
        "category": facts.category,
        "district": facts.district,
        "channel": facts.channel.value,
        "department": facts.department,
        "assisting": list(view.assisting),
        "priority": facts.priority.value,
        "overdue": facts.overdue,
        "escalated": facts.escalated,
        "disputed": view.disputed,
        "submitted_at": facts.submitted_at,
        "updated_at": view.updated_at,
        "due_at": facts.due_at,
        "resolved_at": facts.resolved_at,
        "text": view.description,
        "public_text": mask(view.description),
        "triage_due_at": facts.triage_due_at,
        "response_due_at": facts.response_due_at,
        "triage_overdue": facts.triage_overdue,
        "response_overdue": facts.response_overdue,
        **inbox.fields(view),
        **point_of(view),
    }


def point_of(view: CaseView) -> dict[str, float]:
    """The case's point as the log holds it, for the maps' range queries (`map_routes.py`):
    only a public place's is there, a private one's is sealed in `personal`."""
    location = view.location
    if location is None or location.lat is None or location.lon is None:
        return {}
    return {"lat": location.lat, "lon": location.lon}


def view_of(doc: dict[str, Any] | None) -> CaseView | None:
    if not doc:
        return None
    view = doc["view"]
    if isinstance(view, bytes):
        return CaseView.model_validate_json(unpack_view(view))
    # documents written before: a JSON string, or before that the tree itself
    return CaseView.model_validate_json(view) if isinstance(view, str) else \
        CaseView.model_validate(view)


async def remember_codes(codes: AsyncCollection[dict[str, Any]],
                         inserted: Sequence[CaseView]) -> None:
    """Enter the tracking codes of the cases whose documents are being inserted (an entry
    already there, from a redelivery or a replay, is the same entry)."""
    entries = [{"_id": view.tracking_code_hash, "case_id": view.case_id}
               for view in inserted if view.tracking_code_hash]
    await insert_new(codes, entries)


FEED_SCOPES = ("district", "category", "department")
"""What a feed narrows the city to (`FeedQuery.field`)."""

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)

KEPT_VIEWS = 2_000
"""Views kept in memory for the lists (the newest pages, Open311's window, the feeds are
asked again and again): a parsed view is some 8-20 KB once compact (`compact.py`)."""

KEYED = ("status", "open", "category", "district", "channel", "department", "assisting",
         "priority", "overdue", "escalated", "disputed", "late", "handler", "reporter")
"""The fields the lists ask equal to a value: a set of cases per value (`rowindex.py`)."""
RANGED = ("submitted_at", "resolved_at", "lat", "lon")
"""The fields the lists ask within a range (a period, a feed, a map's box)."""
TEXTS = ("text", "public_text")
"""The fields searched for words: staff search the description, the public its masked text."""
ROW_FIELDS = (*KEYED, *RANGED, *TEXTS, "seq", "deadline", "updated_at", "due_at")
"""What a case's row keeps of its document: every field a list filters or sorts on."""


def case_rows() -> RowIndex:
    """An empty index of case rows (what each tracking instance lists from)."""
    return RowIndex(fields=ROW_FIELDS, keyed=KEYED, ranged=RANGED, texts=TEXTS)


@dataclass(frozen=True)
class FeedQuery:
    """The latest cases of a feed: `field` (one of `FEED_SCOPES`) equal to `code`, or the
    whole city when `field` is None; the newest submitted, or the latest resolved (a
    resolution in force: a reopened case leaves until resolved again).

    Answered from the rows in memory, like every list (`rowindex.py`)."""

    resolved: bool
    field: str | None = None
    code: str | None = None
    limit: int = 50

    @property
    def time(self) -> str:
        return "resolved_at" if self.resolved else "submitted_at"

    def filter(self) -> dict[str, Any]:
        query: dict[str, Any] = {self.field: self.code} if self.field is not None else {}
        if self.resolved:
            query["resolved_at"] = {"$gte": EARLIEST}
        return query


@dataclass(frozen=True)
class _Chunk:
    """A chunk of cases to write (`TimelineStore._replace`): (case, seq replaced, view), and
    their rows."""

    cases: list[tuple[str, int, CaseView]]
    rows: dict[str, dict[str, Any]]


class TimelineStore:
    """The read model: written by the projection by `_id`, read by `_id`; its lists are
    answered by the rows each instance keeps in memory (`rows`, `rowindex.py`), which a
    `RowFollower` keeps current across instances once `follow` gave it one. The views listed
    or written last are kept too (`kept_views`): a page shows them, and the projection folds a
    case's next event onto them, without reading the store (`_current`)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], *,
                 kept_views: int = KEPT_VIEWS) -> None:
        self.collection = collection
        self.codes = collection.database[CODES_COLLECTION]
        self.traits: StoreTraits | None = None  # asked of the store at the first batch
        self.kept_rows = KeptRows(case_rows())  # without a follower: what this projection wrote
        self._views: OrderedDict[str, CaseView] = OrderedDict()
        self._kept_views = kept_views

    def follow(self, follower: RowFollower) -> None:
        self.kept_rows.follower = follower

    @property
    def follower(self) -> RowFollower | None:
        return self.kept_rows.follower

    @property
    def rows(self) -> RowIndex:
        return self.kept_rows.index

    # -- writing ------------------------------------------------------------------

    async def project(self, envelopes: Sequence[Envelope]) -> Projected:
        """Apply a batch: new cases inserted in one command without a read, the others read
        (one query, or by key where the store indexes it) and replaced in bulk; the lists of
        this instance take the rows written — also when the batch fails after some of its
        cases were written: it comes again, and finds those written already."""
        projected = Projected()
        try:
            await self._project(envelopes, projected)
        finally:
            self.kept_rows.put(projected.rows)
        return projected

    async def _project(self, envelopes: Sequence[Envelope], projected: Projected) -> None:
        by_case: dict[str, list[Envelope]] = defaultdict(list)
        for envelope in envelopes:
            by_case[envelope.case_id].append(envelope)
        traits = await self._traits()
        remaining = dict(by_case)
        fresh = {c: found for c, found in by_case.items() if min(e.seq for e in found) == 1}
        for case_id in await self._insert_fresh(fresh, projected):
            del remaining[case_id]  # (a new case already there, a redelivery: as any known)
        writes = await self._fold_known(remaining, traits, projected)
        # a chunk's documents are made while the chunk before is being written (`inturn.py`)
        def chunks() -> Iterator[tuple[_Chunk, Awaitable[list[str]]]]:
            for start in range(0, len(writes), WRITE_CHUNK):
                chunk = writes[start:start + WRITE_CHUNK]
                rows = {case_id: row_fields(after) for case_id, _, after in chunk}
                documents = {case_id: document(after, rows[case_id])
                             for case_id, _, after in chunk}
                yield _Chunk(chunk, rows), self._replace(chunk, documents, traits)

        async def settle(chunk: _Chunk, written: list[str]) -> None:
            await self._settle(chunk, written, remaining, projected)

        await in_turn(chunks(), settle)

    async def _fold_known(self, cases: dict[str, list[Envelope]], traits: StoreTraits,
                          projected: Projected) -> list[tuple[str, int, CaseView]]:
        """Fold the batch's events of cases already in the store: the writes to make (case,
        seq replaced, view), each case's view before read from what this instance kept, else
        from the store."""
        current = await self._current(cases, traits)
        writes: list[tuple[str, int, CaseView]] = []
        for case_id, found in cases.items():
            before = current.get(case_id)
            after, failed = fold_safely(before, found)
            projected.failed.extend(failed)
            if projected.applied_already(before, after):
                continue
            assert after is not None
            if before is None:  # not new in this batch, yet not there (a collection swapped in)
                await self._write_case(case_id, found, None, projected)
                continue
            writes.append((case_id, before.seq, after))
        return writes

    async def _settle(self, chunk: _Chunk, written: list[str],
                      remaining: dict[str, list[Envelope]], projected: Projected) -> None:
        """Take a chunk's written cases into `projected`; write the others the careful way."""
        versions = {case_id: (seq, after) for case_id, seq, after in chunk.cases}
        for case_id in written:
            projected.changed.append(case_id)
            projected.rows.append(chunk.rows[case_id])
            seq, after = versions[case_id]
            self._keep_view(after)
            self._log_gap(case_id, seq, remaining[case_id])
        for case_id in versions.keys() - set(written):
            await self._write_case(  # lost a race: the careful way
                case_id, remaining[case_id], await self.collection.find_one({"_id": case_id}),
                projected)

    async def _traits(self) -> StoreTraits:
        if self.traits is None:
            self.traits = await traits_of(self.collection)
        return self.traits

    async def _insert_fresh(self, fresh: dict[str, list[Envelope]],
                            projected: Projected) -> list[str]:
        """Insert the cases that start in this batch; returns those inserted (the others
        exist already: a redelivery, handled like any known case)."""
        docs: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        outcomes: list[tuple[str, CaseView, list[tuple[Envelope, str]]]] = []
        for case_id, found in fresh.items():
            after, failed = fold_safely(None, found)
            if after is not None:
                rows.append(row_fields(after))
                docs.append(document(after, rows[-1]))
                outcomes.append((case_id, after, failed))
        if not docs:
            return []
        # The codes first: a failure after them leaves a code whose case is not projected
        # yet (its page answers 404 until the redelivery); after the cases, it would leave
        # cases whose code is never entered (the redelivery finds them all inserted).
        await remember_codes(self.codes, [after for _, after, _ in outcomes])
        refused: set[int] = set()
        try:
            await self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            problems = error.details.get("writeErrors", [])
            if any(p.get("code") != DUPLICATE_KEY for p in problems):
                raise
            refused = {p["index"] for p in problems}
        inserted = []
        for index, (case_id, after, failed) in enumerate(outcomes):
            if index in refused:
                continue
            inserted.append(case_id)
            self._keep_view(after)
            projected.changed.append(case_id)
            projected.rows.append(rows[index])
            projected.failed.extend(failed)
            self._log_gap(case_id, 0, fresh[case_id])
        return inserted

    async def _current(self, by_case: dict[str, list[Envelope]],
                       traits: StoreTraits) -> dict[str, CaseView]:
        """What each case looked like before its events of this batch: the view this
        instance wrote last where the batch starts right after it, else the stored one.

        A kept view is the fold of the case's events up to its seq, whoever wrote the
        document since, so it is the case just before the event that follows it; a batch
        that does not follow it (a redelivery, events this instance did not see: another
        instance had the partition meanwhile) reads the document, as without the view."""
        current: dict[str, CaseView] = {}
        for case_id, found in by_case.items():
            kept = self._views.get(case_id)
            if kept is not None and kept.seq == min(e.seq for e in found) - 1:
                current[case_id] = kept
        unknown = [case_id for case_id in by_case if case_id not in current]
        if unknown:
            for case_id, doc in (await self._read(unknown, traits)).items():
                if (view := view_of(doc)) is not None:
                    current[case_id] = view
        return current

    async def _read(self, case_ids: list[str], traits: StoreTraits) -> dict[str, dict[str, Any]]:
        """The documents of these cases: one by one where lookups by key are indexed, else in
        one query (on FerretDB 1.24 without the index, any read scans the whole collection)."""
        if not traits.indexed_id_lookups:
            return {doc["_id"]: doc
                    async for doc in self.collection.find({"_id": {"$in": case_ids}})}
        gate = asyncio.Semaphore(WRITERS)

        async def one(case_id: str) -> dict[str, Any] | None:
            async with gate:
                return await self.collection.find_one({"_id": case_id})

        found = await asyncio.gather(*(one(case_id) for case_id in case_ids))
        return {doc["_id"]: doc for doc in found if doc is not None}

    async def _replace(self, chunk: list[tuple[str, int, CaseView]],
                       documents: dict[str, dict[str, Any]], traits: StoreTraits) -> list[str]:
        """Write a chunk of cases in one command; returns those written.

        The write is a compare-and-set on the `seq` read where the store makes a filtered
        update atomic. FerretDB does not (it reads, then writes, and reads every document
        of the collection to match a filter on more than `_id`): there the `seq` was
        compared on the document just read, and the write goes by `_id`.
        """
        guarded = traits.atomic_filtered_updates
        operations = [ReplaceOne({"_id": case_id, "seq": seq} if guarded else {"_id": case_id},
                                 documents[case_id]) for case_id, seq, _ in chunk]
        result = await self.collection.bulk_write(operations, ordered=False)
        if result.matched_count == len(chunk):
            return [case_id for case_id, _, _ in chunk]
        # some lost: the ones whose document now holds what we wrote are done
        wanted = {case_id: after.seq for case_id, _, after in chunk}
        now = await self._read(list(wanted), traits)
        return [case_id for case_id, seq in wanted.items()
                if case_id in now and now[case_id].get("seq") == seq]

    async def _write_case(self, case_id: str, envelopes: list[Envelope],
                          doc: dict[str, Any] | None, projected: Projected) -> None:
        """One case, read again and written until it holds, for the rare batch that raced;
        its row into `projected` (and the case as changed, when it wrote something new)."""
        traits = await self._traits()
        for _attempt in range(MAX_ATTEMPTS):
            before = view_of(doc)
            after, _ = fold_safely(before, envelopes)  # (what fails was set aside by the caller)
            if projected.applied_already(before, after):
                return
            assert after is not None
            row = row_fields(after)
            if before is None:
                try:
                    await remember_codes(self.codes, [after])  # first, as in `_insert_fresh`
                    await self.collection.insert_one(document(after, row))
                    written = True
                except DuplicateKeyError:
                    written = False
            else:
                guard = ({"_id": case_id, "seq": before.seq} if traits.atomic_filtered_updates
                         else {"_id": case_id})
                written = (await self.collection.replace_one(guard, document(after, row))
                           ).matched_count == 1
            if not written:  # another wrote it meanwhile: read it again, fold onto that
                doc = await self.collection.find_one({"_id": case_id})
                continue
            self._log_gap(case_id, before.seq if before is not None else 0, envelopes)
            self._keep_view(after)
            projected.changed.append(case_id)
            projected.rows.append(row)
            return
        raise ProjectionConflict(f"case {case_id} changed {MAX_ATTEMPTS} times during one write")

    @staticmethod
    def _log_gap(case_id: str, seq: int, envelopes: list[Envelope]) -> None:
        """A gap in a case's seq means events were lost upstream: say so, keep going."""
        expected = seq + 1
        for envelope in sorted(envelopes, key=lambda e: e.seq):
            if envelope.seq < expected:  # applied before, or a second copy in the batch
                continue
            if envelope.seq != expected:
                with bound(case_id=case_id, event_id=str(envelope.event_id)):
                    log.warning("seq_gap", expected=expected, got=envelope.seq)
            expected = envelope.seq + 1

    # -- reading ------------------------------------------------------------------

    async def get(self, case_id: str) -> CaseView | None:
        return view_of(await self.collection.find_one({"_id": case_id}))

    async def newer_than(self, case_id: str, seq: int) -> CaseView | None:
        """The view if it moved past `seq` (the cheap read behind live streams).

        Looked up by `_id` alone, with `seq` compared here: a filter on more than `_id`
        reads every document of the collection on FerretDB 1.24."""
        doc = await self.collection.find_one({"_id": case_id})
        return view_of(doc) if doc is not None and doc.get("seq", 0) > seq else None

    async def case_for_code_hash(self, code_hash: str) -> str | None:
        entry = await self.codes.find_one({"_id": code_hash})
        return str(entry["case_id"]) if entry else None

    async def search(self, query: CaseQuery, *, count: bool = True) -> Listed:
        """A page of the cases `query` finds: newest first, or for words, the most relevant
        first (`textindex.py`), then the newest; the total only when asked."""
        relevance = None
        if query.text:
            relevance = dict(self.rows.search(query.searched, query.text))
            if query.text in self.rows:  # a case number: that case first
                relevance[query.text] = max(relevance.values(), default=0.0) + 1.0
        found = self.rows.find(query.filter(), sort=NEWEST, limit=query.limit,
                               skip=query.offset, after=query.after, count=count,
                               relevance=relevance)
        return await self._listed(found)

    async def newest(self, selector: dict[str, Any], *, limit: int,
                     skip: int = 0) -> list[CaseView]:
        """The cases `selector` finds, newest submitted first (Open311, the maps)."""
        found = self.rows.find(selector, sort=NEWEST, limit=limit, skip=skip, count=False)
        return await self.views(found.ids)

    async def views(self, case_ids: Sequence[str]) -> list[CaseView]:
        """The views of the cases of a page, in this order: the ones listed last are kept
        (`kept_views`, as long as their row says they have not changed), the others read by
        `_id` (`find_by_ids`); a case gone meanwhile is left out."""
        rows = self.rows
        found: dict[str, CaseView] = {}
        for case_id in case_ids:
            kept = self._views.get(case_id)
            if kept is not None and kept.seq >= rows.seq(case_id):
                self._views.move_to_end(case_id)
                found[case_id] = kept
        missing = [case_id for case_id in case_ids if case_id not in found]
        for case_id, doc in (await find_by_ids(self.collection, missing, {"view": 1})).items():
            if (view := view_of(doc)) is not None:
                found[case_id] = view
                self._keep_view(view)
        return [found[case_id] for case_id in case_ids if case_id in found]

    def _keep_view(self, view: CaseView) -> None:
        if not self._kept_views:
            return
        compact(view)
        self._views[view.case_id] = view
        self._views.move_to_end(view.case_id)
        while len(self._views) > self._kept_views:
            self._views.popitem(last=False)

    async def _listed(self, found: Found) -> Listed:
        return Listed(total=found.total, views=await self.views(found.ids), next=found.next)

    async def each(self, selector: dict[str, Any], *, batch: int = 500
                   ) -> AsyncIterator[CaseView]:
        """Every case `selector` finds in the rows, in case number order (the `_id` index), read
        `batch` at a time: for answers about all the cases that must not hold them all at
        once. The whole collection is read in order (an export is most of it, and the store
        reads it whole for any filter), and the cases the rows did not find are skipped."""
        wanted = self.rows.matching(selector)
        cursor = (self.collection.find({}, projection={"view": 1}, batch_size=batch)
                  .sort([("_id", ASCENDING)]))
        async for doc in cursor:
            if doc["_id"] in wanted and (view := view_of(doc)) is not None:
                yield view

    async def latest(self, query: FeedQuery) -> list[CaseView]:
        """The cases of a feed, the latest first (`FeedQuery`)."""
        found = self.rows.find(query.filter(), sort=[(query.time, -1), ("_id", -1)],
                               limit=query.limit, count=False)
        return await self.views(found.ids)

    def count_by_district(self, selector: dict[str, Any]) -> dict[str, int]:
        """How many cases `selector` finds in each district."""
        return {str(district): n for district, n in self.rows.count_by("district", selector).items()
                if district}

    def count_matching(self, selector: dict[str, Any]) -> int:
        return self.rows.count(selector)

    async def has(self, case_id: str) -> bool:
        """Whether the case is in the read model (without reading its view)."""
        return await self.collection.find_one({"_id": case_id}, projection={"_id": 1}) is not None

    async def count(self) -> int:
        return await self.collection.count_documents({})

    async def inbox(self, query: inbox.InboxQuery) -> Listed:
        """A department's inbox (`inbox.SORT`: late first, then the soonest deadline)."""
        found = self.rows.find(query.filter(), sort=inbox.SORT, limit=query.limit,
                               skip=query.offset, after=query.after)
        return await self._listed(found)
