"""The figures in the document store: one document per partition of the case event log.

A thin adapter around the pure `ledger.fold`. Each partition of the log has
one document, and every batch of that partition's records becomes ONE
single-document update, a compare-and-set on the offset it started from::

    {
      "_id": "p0",                        # partition 0 of the case event log
      "offset": 41236,                    # last record applied: the fence
      "format": 1,                        # FORMAT; another one asks for a replay
      "counters": <zlib(JSON)>,           # {"received|category=roads": 812, "fr#93|all=*": 40, ...}
      "open_00": <zlib(JSON)>,            # {case_id: Mark as a list}, open cases only, in
      ...                                 #   OPEN_BUCKETS buckets by a hash of the case id:
      "open_63": <zlib(JSON)>,            #   a batch rewrites only the buckets of the cases it
                                          #   moved, not the whole backlog (a document written
                                          #   before holds them all in one "open")
      "done_0": <zlib(JSON)>,             # {case_id: last seq}, cases finished in records
      "done_1": <zlib(JSON)>,             #   [g*window, (g+1)*window) of this partition
      "lineage": "5f0c...",               # names its months' versions (see below)
      "months": <zlib(JSON)>              # {"2026-10": 41236, ...}: the version of each month
    }

    update_one({"_id": "p0", "offset": <offset read>},
               {"$set": {"offset": <last record>, "counters": ..., "open": ..., "done_1": ...}})

Why this is exact under at-least-once delivery, without transactions:
- the counters, the per-case memory and the offset change in one atomic
  single-document write, so a crash leaves either all of a batch or none;
- a redelivered record sits at or below `offset` and is skipped; a duplicated
  record (the same event published twice) sits at or below its case's
  remembered seq and is skipped (`ledger.fold`);
- two writers (N instances during a rebalance, a replay's catch-up next to the
  live consumer): on MongoDB the loser's compare-and-set matches nothing, it
  reloads the document and applies only what is still missing. FerretDB 1.24's
  filtered update is not atomic (five racing updates on one offset: more than
  one matched in 29 of 30 rounds), so there both may write; each write is a
  whole state as of its own offset, so the one that lands last leaves a
  consistent state, and a writer whose next batch no longer follows the stored
  offset reads the missing range first (below) — nothing counted twice or lost;
- records are applied without holes: if the first record of a batch is not
  right after `offset` (a batch of nothing but unreadable records, or a
  collection swapped in by a replay), the missing range is read from the log
  first (`GapReader`), a chunk at a time, passing over unreadable records.

Why blobs and not `$inc` on one field per counter: FerretDB 1.24 on SQLite
slows down steeply with the number of fields in a document (measured here:
4,000 fields take ~0.2 s to read and ~0.7 s to update, and 30,000 take
seconds), and its SQLite `_id` index is never used by a lookup (the index is on
`_ferretdb_sjson->"_id"`, the query asks for `->'$._id'`: every lookup scans the
collection, ~6 µs per document), which rules out one document per case too. A few binary
fields per partition keep every read and write proportional to bytes. The
increments are computed by the pure fold and applied under the offset fence,
so a blob replace is as exact as `$inc`, and more: it also fences the case
memory it depends on.

Figures by period (`daily.py`): the same changes, by the day each case was
submitted, are kept per month in a second collection, `<collection>_days`, as
*versions* of each month of each partition, never updated in place::

    {"_id": "5f0c.../2026-10/000000041236", "lineage": "5f0c...", "partition": 0,
     "month": "2026-10", "through": 41236,   # the month as of the partition's record 41236
     "days": <zlib(JSON)>}                   # {"2026-10-06": {"received|all=*": 9, ...}, ...}

The partition document names the version of each month that goes with its
offset (`months`). A batch first inserts, for each month it changed, a version
as of its last record: the version named now plus the batch's changes
(`_store_months`); then its fenced partition update names them. Why that is
exact as well:
- a month's content as of record x is a function of the log up to x alone (it
  is what replaying the log to x gives, as the whole-time counters are), and
  every writer computes it so, from a ledger and a version that are such
  values too: version x of a month is the same document whoever stores it (a
  second writer, a retry, a writer whose batch then loses the race). An insert
  of an `_id` that exists changes nothing, and an insert is atomic even on
  FerretDB, whose compare-and-set update is not (it reads, then writes: two
  writers on one offset can both "match"; measured 29 rounds in 30 with 5
  writers). That is why nothing here updates a month in place;
- the versions and the offset that go together are named in one document
  write, so a reader (which takes the named versions) and the next batch
  (which builds on them) never see a batch half counted; a version of a batch
  that did not count (a crash, a lost race) is named by no one;
- a version stops being named when a later write names its successor; it is
  deleted once that write is known to have stood (the writer's next write
  matched it), and a reader that misses one deleted meanwhile reads again;
- `lineage` is drawn when the partition document is made and names its
  versions: a replay builds its own lineage (its months are the same anyway),
  and deletes the versions of the lineages it replaced.
Each batch inserts a version of only the months it changed: a live stream moves
this month and those of cases still being handled.

Size at the article's volume (30,148 cases over ~3 years, ~27 a day): a day
holds the ~40 counters each of its cases adds per partition (all cases,
category, district, channel, department; histogram buckets; minus the
counters they share): a month of a partition (of 3) is ~22 KB compressed,
25 KB at most, 108 of them 2.4 MB in all (measured:
`test_the_days_of_30148_cases_...`), kept in two versions (the one named, and
the one it replaced until the next write shows that one stood); a version of
a batch that lost a race stays until a replay (one per month per lost race). A year's
figures read 12 versions per partition; whole-time figures read none.

Size: the counters are bounded by dimensions x duration buckets (a few
thousand keys) plus ~12 keys a day; the open-case memory by the backlog; the finished-case memory
by `window` (a duplicate record arriving more than `window` records after its
case finished would be counted again; real duplicates — an outbox relayed twice,
a dead letter redriven — arrive within seconds or days, far inside it).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.common.bus import Delivered, Poison
from services.common.kafka import kafka_options
from services.common.logging import get_logger
from services.common.settings import CommonSettings
from services.metrics.counters import add_counters
from services.metrics.daily import DayCounters, add_days, by_month, in_period
from services.metrics.ledger import Folded, Ledger, Positioned, fold
from services.metrics.marks import Mark
from services.metrics.periods import Period
from services.metrics.reading import CountedDelivery, read_counted

log = get_logger("zaiban.metrics.store")

COLLECTION = "figures"
REBUILD_COLLECTION = "figures_rebuild"
FORMAT = 2
"""Bump when what a counter means or how it is kept changes: stored figures of another format
need a replay (2: the counters by submission day, in the month versions)."""
MAX_ATTEMPTS = 10
GAP_CHUNK = 5000
"""Records read from the log at a time to close a hole, each chunk stored before the next."""
DONE_PREFIX = "done_"
OPEN_PREFIX = "open_"
OPEN_BUCKETS = 64
"""Buckets of the open-case memory. At the article's volume a partition remembers ~2,400 open
cases (~40 KB compressed, 4 ms to encode): a batch of a live stream moves a few dozen cases,
so it rewrites a few buckets instead of all of them (`OpenCases`)."""
MONTHS_REMEMBERED = 24
"""Month documents a writer keeps in memory as it wrote them (~1 MB each at most, see below)."""


class StaleFigures(RuntimeError):
    """The stored figures were computed by other definitions; `zaiban replay metrics` rebuilds them."""


class VersionsMoved(RuntimeError):
    """A month version named by a partition document was replaced while being read."""


class ConcurrentWriters(RuntimeError):
    """Another writer kept winning the partition document; the batch is retried."""


def pack(value: Any) -> Binary:
    return Binary(zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 1))


def unpack(blob: bytes | None) -> Any:
    return json.loads(zlib.decompress(blob)) if blob else {}


def partition_id(partition: int) -> str:
    return f"p{partition}"


def ledger_of(doc: dict[str, Any]) -> Ledger:
    if doc.get("format", FORMAT) != FORMAT:
        raise StaleFigures(
            f"figures document {doc['_id']} has format {doc.get('format')}, this code reads "
            f"{FORMAT}: rebuild with `zaiban replay metrics`")
    return Ledger(
        offset=int(doc["offset"]),
        counters=unpack(doc.get("counters")),
        open={case: Mark.from_json(mark)
              for name in ("open", *sorted(n for n in doc if n.startswith(OPEN_PREFIX)))
              for case, mark in unpack(doc.get(name)).items()},
        done={int(name.removeprefix(DONE_PREFIX)): unpack(blob)
              for name, blob in doc.items() if name.startswith(DONE_PREFIX)},
    )


def open_bucket(case_id: str) -> int:
    return zlib.crc32(case_id.encode()) % OPEN_BUCKETS


class OpenCases:
    """Encodes the open-case memory in buckets, re-encoding only the buckets of the cases a
    batch moved (`Folded.open_touched`).

    It mirrors the ledger it last stored, as text per case; after `reset` (a ledger loaded
    again, a write that failed or lost) the next `fields` encodes every bucket from the
    ledger, and its update drops the single `open` of documents written before the buckets."""

    def __init__(self) -> None:
        self._buckets: dict[int, dict[str, str]] | None = None

    def reset(self) -> None:
        self._buckets = None

    @staticmethod
    def _text(case_id: str, mark: Mark) -> str:
        return json.dumps(case_id) + ":" + json.dumps(mark.to_json(), separators=(",", ":"))

    def fields(self, marks: dict[str, Mark], touched: set[str]) -> tuple[dict[str, Binary], bool]:
        """The bucket fields to store, and whether they are all of them (see the class doc)."""
        buckets = self._buckets
        every = buckets is None
        if buckets is None:
            buckets = {}
            for case_id, mark in marks.items():
                buckets.setdefault(open_bucket(case_id), {})[case_id] = self._text(case_id, mark)
            changed: set[int] = set(range(OPEN_BUCKETS))
        else:
            changed = set()
            for case_id in touched:
                bucket = open_bucket(case_id)
                changed.add(bucket)
                now = marks.get(case_id)
                if now is None:
                    buckets.get(bucket, {}).pop(case_id, None)
                else:
                    buckets.setdefault(bucket, {})[case_id] = self._text(case_id, now)
        self._buckets = buckets
        return {f"{OPEN_PREFIX}{b:02d}": Binary(zlib.compress(
            ("{" + ",".join(buckets.get(b, {}).values()) + "}").encode(), 1))
            for b in sorted(changed)}, every


def version_id(lineage: str, month: str, through: int) -> str:
    return f"{lineage}/{month}/{through:012d}"


def changes_of(folded: Folded, open_cases: OpenCases | None = None) -> dict[str, Any]:
    """The update that stores `folded`: only the fields that changed."""
    ledger = folded.ledger
    fields: dict[str, Any] = {"offset": ledger.offset, "format": FORMAT}
    if folded.counters_changed:
        fields["counters"] = pack(ledger.counters)
    unset: dict[str, str] = {}
    if folded.open_changed:
        buckets, every = (open_cases or OpenCases()).fields(ledger.open, folded.open_touched)
        fields.update(buckets)
        if every:
            unset["open"] = ""  # the single field of documents written before the buckets
    for generation in folded.done_changed:
        fields[f"{DONE_PREFIX}{generation}"] = pack(ledger.done[generation])
    update: dict[str, Any] = {"$set": fields}
    unset.update({f"{DONE_PREFIX}{g}": "" for g in folded.done_dropped})
    if unset:
        update["$unset"] = unset
    return update


class GapReader(Protocol):
    async def read(self, topic: str, partition: int, start: int, end: int,
                   limit: int) -> tuple[list[CountedDelivery], int]:
        """Up to `limit` readable records of [start, end) of one partition, in order, and
        the offset to read on from (`end` once the range is read; unreadable records
        are passed over)."""
        ...


class KafkaGapReader:
    """Reads a range of a partition straight from the log, outside any consumer group."""

    def __init__(self, settings: CommonSettings, principal: str, *,
                 timeout_s: float = 60.0) -> None:
        self.bootstrap = settings.kafka_bootstrap
        self.options = kafka_options(settings, principal)
        self.timeout_s = timeout_s

    async def read(self, topic: str, partition: int, start: int, end: int,
                   limit: int) -> tuple[list[CountedDelivery], int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    **self.options)
        await consumer.start()
        try:
            where = TopicPartition(topic, partition)
            consumer.assign([where])
            consumer.seek(where, max(start, 0))
            found: list[CountedDelivery] = []
            deadline = time.monotonic() + self.timeout_s
            while await consumer.position(where) < end:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading {topic}[{partition}] {start}..{end} took too long")
                fetched = await consumer.getmany(where, timeout_ms=500,
                                                 max_records=min(limit - len(found), 2000))
                for record in fetched.get(where, []):
                    if record.offset >= end:
                        return found, end
                    try:
                        envelope = read_counted(record.value or b"")
                    except Poison:
                        continue  # the live consumer dead-letters it; the figures pass over it
                    found.append(Delivered(envelope, topic, partition, record.offset))
                    if len(found) >= limit:
                        return found, record.offset + 1
            return found, end
        finally:
            await consumer.stop()


@dataclass
class Applied:
    """What a batch did to the figures."""

    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    redelivered: int = 0
    gap_records: int = 0
    conflicts: int = 0

    def add(self, other: Applied) -> Applied:
        return Applied(*(a + b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def astuple(self) -> tuple[int, ...]:
        return (self.applied, self.duplicates, self.stale, self.redelivered, self.gap_records,
                self.conflicts)


class FigureStore:
    """Writes and reads the figures of one collection (a replay builds another and swaps it in)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], *, tz: tzinfo,
                 window: int, gaps: GapReader | None = None,
                 days: AsyncCollection[dict[str, Any]] | None = None) -> None:
        self.collection = collection
        self.days = days if days is not None else collection.database[f"{collection.name}_days"]
        self.tz = tz
        self.window = window
        self.gaps = gaps
        # The ledger this writer last read or wrote, per partition. Only a guess:
        # every write is checked against the stored offset, and a miss reloads.
        self._known: dict[int, Ledger] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._open_cases: dict[int, OpenCases] = {}
        # Per partition, with the known ledger: its lineage
        self._lineage: dict[int, str] = {}
        # per partition, the version of each month its document names (see the module doc)
        self._month_map: dict[int, dict[str, int]] = {}
        self._replaced: dict[int, list[str]] = {}  # versions our last write stopped naming
        # per (lineage, month): the version this writer stored last, and its days
        self._months: dict[tuple[str, str], tuple[int, DayCounters]] = {}

    # -- writing ----------------------------------------------------------------------------------

    async def apply(self, deliveries: list[CountedDelivery]) -> Applied:
        """Apply a batch from the log: each partition in one fenced single-document update."""
        by_partition: dict[tuple[str, int], list[CountedDelivery]] = {}
        for delivery in deliveries:
            by_partition.setdefault((delivery.topic, delivery.partition), []).append(delivery)
        done = await asyncio.gather(*(self._apply_partition(topic, partition, part)
                                      for (topic, partition), part in by_partition.items()))
        total = Applied()
        for part_result in done:
            total = total.add(part_result)
        return total

    async def _apply_partition(self, topic: str, partition: int,
                               deliveries: list[CountedDelivery]) -> Applied:
        lock = self._locks.setdefault(partition, asyncio.Lock())
        async with lock:
            result = Applied()
            deliveries = sorted(deliveries, key=lambda d: d.offset)
            while True:
                ledger = self._known.get(partition) or await self._load(partition)
                fresh = [d for d in deliveries if d.offset > ledger.offset]
                if not fresh:
                    result.redelivered += len(deliveries)
                    return result
                if fresh[0].offset > ledger.offset + 1 and self.gaps is not None:
                    # a hole before this batch: close it from the log first, a chunk at a time
                    start, end = ledger.offset + 1, fresh[0].offset
                    missing, next_offset = await self.gaps.read(topic, partition, start, end,
                                                                 GAP_CHUNK)
                    if next_offset <= start:
                        raise RuntimeError(f"partition {partition}: reading {start}..{end} "
                                           "made no progress")
                    if await self._commit(partition, ledger, missing, result,
                                          through=next_offset - 1):
                        result.gap_records += len(missing)
                        log.info("gap_filled", partition=partition, start=start,
                                 end=next_offset, records=len(missing))
                    continue
                if fresh[0].offset > ledger.offset + 1:
                    log.warning("gap_left_open", partition=partition, start=ledger.offset + 1,
                                end=fresh[0].offset)
                if await self._commit(partition, ledger, fresh, result):
                    result.redelivered += len(deliveries) - len(fresh)
                    return result

    async def _commit(self, partition: int, ledger: Ledger, deliveries: list[CountedDelivery],
                      result: Applied, through: int | None = None) -> bool:
        """Fold `deliveries` into `ledger` and store it, if nobody wrote the partition since."""
        folded = fold(ledger, (Positioned(d.offset, d.envelope) for d in deliveries),
                      self.tz, self.window, through)
        before = self._month_map.get(partition, {})
        # the months first, each a new version; then the partition, naming them: see the doc
        months = await self._store_months(partition, before, folded) if folded.day_deltas \
            else before
        if months is not None and await self._write(partition, ledger, folded,
                                                    months if months != before else None):
            self._known[partition] = folded.ledger
            self._month_map[partition] = months
            # Our write matched the document as our previous write left it, so that one stood:
            # the versions it replaced are named by no one any more. (This write's own may not
            # have stood: FerretDB's compare-and-set can let two writers match.)
            forgotten = self._replaced.pop(partition, [])
            if forgotten:
                await self.days.delete_many({"_id": {"$in": forgotten}})
            self._replaced[partition] = [version_id(self._lineage[partition], m, v)
                                         for m, v in before.items() if months.get(m) != v]
            result.applied += folded.applied
            result.duplicates += folded.duplicates
            result.stale += folded.stale
            if folded.stale:
                log.warning("events_after_finish_skipped", partition=partition,
                            count=folded.stale)
            return True
        result.conflicts += 1
        self._known.pop(partition, None)
        self._open_cases.pop(partition, None)  # its mirror is of a ledger that did not stand
        self._replaced.pop(partition, None)
        log.info("figures_write_conflict", partition=partition, offset=ledger.offset)
        if result.conflicts >= MAX_ATTEMPTS:
            raise ConcurrentWriters(f"partition {partition}: {MAX_ATTEMPTS} writes lost the race")
        return False

    async def _load(self, partition: int) -> Ledger:
        self._open_cases.pop(partition, None)  # the next write encodes every bucket of it
        _id = partition_id(partition)
        doc = await self.collection.find_one({"_id": _id})
        if doc is None:
            try:
                await self.collection.insert_one({"_id": _id, "offset": -1, "format": FORMAT,
                                                  "lineage": uuid.uuid4().hex})
            except DuplicateKeyError:
                pass  # another writer made it first
            doc = await self.collection.find_one({"_id": _id})
            if doc is None:  # dropped in between (a replay swapping collections)
                self._lineage[partition] = ""
                return Ledger()  # a guess no write can match: the next try reloads
        ledger = ledger_of(doc)
        self._lineage[partition] = str(doc["lineage"])
        self._month_map[partition] = unpack(doc.get("months"))
        return ledger

    async def _write(self, partition: int, before: Ledger, folded: Folded,
                     months: dict[str, int] | None) -> bool:
        update = changes_of(folded, self._open_cases.setdefault(partition, OpenCases()))
        if months is not None:
            update["$set"]["months"] = pack(months)
        try:
            answer = await self.collection.update_one(
                {"_id": partition_id(partition), "offset": before.offset,
                 "lineage": self._lineage[partition]}, update)
        except BaseException:
            self._open_cases.pop(partition, None)  # not stored: encode every bucket next time
            raise
        return answer.matched_count == 1

    async def _store_months(self, partition: int, before: dict[str, int],
                            folded: Folded) -> dict[str, int] | None:
        """Store a version of each month the batch changed, as of its last record: the
        version the partition names now plus the batch's changes. The months named after the
        batch; None when a version named now is gone (a writer further on replaced it: this
        writer is behind, and its write could not match anyway)."""
        lineage, through = self._lineage[partition], folded.ledger.offset
        changes = by_month(folded.day_deltas)
        stored = await asyncio.gather(*(
            self._add_version(lineage, partition, month, days, before.get(month), through)
            for month, days in changes.items()))
        if not all(stored):
            return None
        return {**before, **dict.fromkeys(changes, through)}

    async def _add_version(self, lineage: str, partition: int, month: str, change: DayCounters,
                           base: int | None, through: int) -> bool:
        """Store the month as of record `through`: version `base` plus the batch's changes (see
        the module doc: why any writer stores the same). False if version `base` is gone."""
        key = (lineage, month)
        cached = self._months.get(key)
        if base is None:
            known: DayCounters = {}
        elif cached is not None and cached[0] == base:
            known = cached[1]
        else:
            doc = await self.days.find_one({"_id": version_id(lineage, month, base)})
            if doc is None:
                return False
            known = unpack(doc.get("days"))
        days = add_days(known, change)
        try:
            await self.days.insert_one({
                "_id": version_id(lineage, month, through), "lineage": lineage,
                "partition": partition, "month": month, "through": through, "days": pack(days)})
        except DuplicateKeyError:
            pass  # another writer stored it first: the same document
        self._months.pop(key, None)
        self._months[key] = (through, days)
        while len(self._months) > MONTHS_REMEMBERED:
            del self._months[next(iter(self._months))]
        return True

    # -- reading ----------------------------------------------------------------------------------

    async def read(self, period: Period | None = None) -> tuple[dict[str, int], dict[int, int]]:
        """Every counter summed over the partitions, and the last record each has counted
        (from the same documents, so the two agree); of the cases submitted in `period`
        when one is given (from the month versions they name, see the module doc)."""
        for _attempt in range(MAX_ATTEMPTS - 1):
            try:
                return await self._read(period)
            except VersionsMoved:
                continue
        return await self._read(period)

    async def _read(self, period: Period | None) -> tuple[dict[str, int], dict[int, int]]:
        parts: list[dict[str, int]] = []
        positions: dict[int, int] = {}
        by_period = period is not None and not period.all_time
        fields = {"lineage": 1, "months": 1} if by_period else {"counters": 1}
        named: dict[str, dict[str, int]] = {}
        async for doc in self.collection.find({}, projection={**fields, "format": 1,
                                                              "offset": 1}):
            if doc.get("format", FORMAT) != FORMAT:
                raise StaleFigures("stored figures have another format: run "
                                   "`zaiban replay metrics`")
            if by_period:
                named[str(doc["lineage"])] = unpack(doc.get("months"))
            else:
                parts.append(unpack(doc.get("counters")))
            positions[int(str(doc["_id"]).removeprefix("p"))] = int(doc["offset"])
        if period is not None and by_period:
            found = await self._days_of(period, named)
            return in_period(found, period), positions
        return add_counters(parts), positions

    async def _days_of(self, period: Period, named: dict[str, dict[str, int]]
                       ) -> list[DayCounters]:
        """The versions of the months of `period` the partition documents name."""
        wanted = [version_id(lineage, month, at) for lineage, months in named.items()
                  for month, at in months.items()
                  if (period.first is None or month >= period.first.isoformat()[:7])
                  and (period.last is None or month <= period.last.isoformat()[:7])]
        if not wanted:
            return []
        found = [unpack(doc.get("days")) async for doc in
                 self.days.find({"_id": {"$in": wanted}}, projection={"days": 1})]
        if len(found) != len(wanted):
            raise VersionsMoved  # a writer replaced one between the two reads: read again
        return found

    async def counters(self, period: Period | None = None) -> dict[str, int]:
        """Every counter, summed over the partitions (of the cases submitted in `period`)."""
        return (await self.read(period))[0]

    async def forget_other_lineages(self) -> int:
        """Delete the month versions of the lineages no partition document has (what a replay
        replaced)."""
        lineages = [str(doc["lineage"]) async for doc in
                    self.collection.find({}, projection={"lineage": 1}) if "lineage" in doc]
        answer = await self.days.delete_many({"lineage": {"$nin": lineages}})
        return answer.deleted_count

    async def positions(self) -> dict[int, int]:
        """The last record counted, per partition."""
        return (await self.read())[1]

    async def sizes(self) -> dict[str, int]:
        """Bytes of each stored field summed over the partition documents (for operators)."""
        sizes: dict[str, int] = {}
        async for doc in self.collection.find({}):
            for name, value in doc.items():
                if isinstance(value, bytes | Binary):
                    label = next((prefix + "*" for prefix in (DONE_PREFIX, OPEN_PREFIX)
                                  if name.startswith(prefix)), name)
                    sizes[label] = sizes.get(label, 0) + len(value)
        async for doc in self.days.find({}, projection={"days": 1}):
            sizes["days"] = sizes.get("days", 0) + len(doc.get("days") or b"")
            sizes["month_versions"] = sizes.get("month_versions", 0) + 1
        return sizes

