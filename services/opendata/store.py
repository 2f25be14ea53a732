"""Where the public feed is kept: one document per line and the same lines by blocks, the
progress of each partition, and pages of the history read back in order.

Everything here is read by exact `_id`: FerretDB 1.24 answers `_id` equality from its index
but scans the whole collection for a range of `_id`, an `$in` or any other field (its explain
says SCAN; at 218,032 lines an `_id` range took ~26 s).

- `opendata_events`: one line per record of the case event log, `_id` its position
  zero-padded (`"001:000000004711"`). A line is inserted once: a redelivered record finds
  its `_id` taken and changes nothing, which keeps its text — and the day it was given — as
  first projected.
- `opendata_blocks`: the same lines by blocks of `BLOCK` consecutive offsets of a partition,
  `_id` `"001:00000018"` for offsets [18*BLOCK, 19*BLOCK): their offsets, days and times,
  and their texts compressed (`block_document`).
  The projection stores a block once the records it projected complete it (`seal`): then
  every offset of the block is projected, so the block holds exactly the lines stored for
  them — records that make no line (a transaction's marker, an event's second copy) leave
  gaps. A block is inserted once, so two writers store the same, and a stop before it is
  stored loses nothing: the first reader of a missing block looks up its offsets one by one,
  and stores it.
- `opendata_ids`: one marker per event, `_id` its event id, with the position of the record
  that gave it its line. A writer that lost its answer publishes the same event again (same
  id, same seq: consumers skip it), so the log may hold an event twice, at two positions; the
  feed gives it one line, the first's: each event once, so that whoever counts lines (an
  answer per `FeedbackGiven`) counts it once. The marker is written before the line, so a
  crash between them leaves a marker of the same position, and the line comes with the
  redelivery.
- `opendata_progress`: per partition, the last offset projected and when (the publisher
  waits for the feed to catch up with the log and settle before it closes a day).
- `opendata_days`: the published days (written by the publisher, `publishing.py`); the feed
  reads the last one, so that no line joins a day whose file is out (the day after the last
  one it knows, by `_id`).

A page merges the partitions' lines by (recorded_at, partition, offset), keeping each
partition in log order; its cursor says, per partition, the last offset it included
(`Cursor`), so a reader resumes exactly where it stopped, whatever arrived meanwhile. A page
reads each partition ahead by blocks, up to what the projection has stored
(`opendata_progress`), and the offsets of the block being filled one by one. The day
publisher reads the lines the same way, partition by partition from where its last
published day left off (`lines_after`).
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase

from services.common.store import find_by_ids, insert_new

EVENTS = "opendata_events"
BLOCKS = "opendata_blocks"
IDS = "opendata_ids"
PROGRESS = "opendata_progress"
DAYS = "opendata_days"

BLOCK = 256
"""Offsets of a partition per block: block b holds the lines of offsets [b*BLOCK, (b+1)*BLOCK)."""

_RUN = 512
"""Offsets of a partition read at once, about (whole blocks, or one `_id` each side by side)."""

_CURSOR = re.compile(r"^[0-9]{1,6}-[0-9]{1,15}(\.[0-9]{1,6}-[0-9]{1,15})*$")


class BadCursor(ValueError):
    """A cursor that is not `p-o.p-o...` (the HTTP edge answers 422 naming it)."""


@dataclass(frozen=True)
class Cursor:
    """Per partition, the offset of the last line read; a partition absent: from its start."""

    read_to: dict[int, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        if not _CURSOR.match(text):
            raise BadCursor("a cursor is partition-offset pairs joined by '.', e.g. '0-41.1-7'")
        read_to: dict[int, int] = {}
        for pair in text.split("."):
            partition, _, offset = pair.partition("-")
            if int(partition) in read_to:
                raise BadCursor(f"partition {int(partition)} is named twice")
            read_to[int(partition)] = int(offset)
        return cls(read_to)

    def after(self, lines: Iterable[StoredLine]) -> Cursor:
        """The cursor once `lines` (in the order given) are read too."""
        read_to = dict(self.read_to)
        for line in lines:
            read_to[line.partition] = line.offset
        return Cursor(read_to)

    def __str__(self) -> str:
        return ".".join(f"{p}-{o}" for p, o in sorted(self.read_to.items()))


def line_id(partition: int, offset: int) -> str:
    """The `_id` of a line: its position, zero-padded so that `_id` order is log order."""
    return f"{partition:03d}:{offset:012d}"


def block_id(partition: int, block: int) -> str:
    """The `_id` of block `block` of `partition` (offsets [block*BLOCK, (block+1)*BLOCK))."""
    return f"{partition:03d}:{block:08d}"


def block_end(offset: int) -> int:
    """The last offset of the block holding `offset`."""
    return (offset // BLOCK + 1) * BLOCK - 1


@dataclass(frozen=True)
class StoredLine:
    """A line as the store keeps it: where, which day, when recorded, its canonical text."""

    partition: int
    offset: int
    day: date
    recorded_at: datetime
    text: str

    def document(self) -> dict[str, Any]:
        return {"_id": line_id(self.partition, self.offset), "partition": self.partition,
                "offset": self.offset, "day": self.day.isoformat(),
                "recorded_at": self.recorded_at, "text": self.text}

    @classmethod
    def of(cls, document: dict[str, Any]) -> StoredLine:
        return cls(partition=document["partition"], offset=document["offset"],
                   day=date.fromisoformat(document["day"]),
                   recorded_at=document["recorded_at"], text=document["text"])

    @property
    def order(self) -> tuple[datetime, int, int]:
        """Where the line stands in a page (and a daily file)."""
        return self.recorded_at, self.partition, self.offset


@dataclass
class _Tail:
    """What a projecting instance knows of a partition's latest records: for every offset
    in `[start, to]`, its line (in `lines`) or that it has none."""

    start: int
    to: int
    lines: dict[int, StoredLine]


def block_document(partition: int, block: int, lines: Sequence[StoredLine]) -> dict[str, Any]:
    """A block as stored: its lines' offsets, days and times side by side, and their texts
    one a line, zlib-compressed (a tenth of the bytes: the projection writes each line twice)."""
    return {"_id": block_id(partition, block), "partition": partition,
            "offsets": [line.offset for line in lines],
            "days": [line.day.isoformat() for line in lines],
            "recorded_at": [line.recorded_at for line in lines],
            "texts": Binary(zlib.compress("\n".join(line.text for line in lines).encode()))}


def block_lines(document: dict[str, Any]) -> list[StoredLine]:
    """The lines of a stored block (a canonical text holds no raw newline)."""
    offsets = document["offsets"]
    texts = zlib.decompress(document["texts"]).decode().split("\n") if offsets else []
    return [StoredLine(document["partition"], offset, date.fromisoformat(day), at, text)
            for offset, day, at, text in zip(offsets, document["days"], document["recorded_at"],
                                             texts, strict=True)]


class FeedStore:
    """The open-data collections of one database."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db
        self.events = db[EVENTS]
        self.ids = db[IDS]
        self.progress = db[PROGRESS]
        self.days = db[DAYS]
        self.blocks = db[BLOCKS]
        self._tails: dict[int, _Tail] = {}
        self._last_published: date | None = None

    async def first_copies(self, lines: Sequence[tuple[str, StoredLine]]) -> list[StoredLine]:
        """Of `lines` (each with its event id, in log order), those that are their event's
        first copy in the log: each event's marker claimed by the first position that had it."""
        first: dict[str, StoredLine] = {}
        for event_id, line in lines:
            first.setdefault(event_id, line)  # a copy later in the same batch
        taken = await insert_new(self.ids, [
            {"_id": event_id, "position": line_id(line.partition, line.offset)}
            for event_id, line in first.items()])
        kept = []
        for event_id, line in first.items():
            if event_id in taken:  # claimed before: by this very record, or by an earlier copy
                marker = await self.ids.find_one({"_id": event_id})
                if marker is None or marker["position"] != line_id(line.partition, line.offset):
                    continue
            kept.append(line)
        return kept

    async def insert(self, lines: Sequence[StoredLine]) -> tuple[list[StoredLine], int]:
        """Insert `lines`, each once: the lines as stored (a line that was there already
        stays as it was first projected, and is read back), and how many were new."""
        taken = await insert_new(self.events, [line.document() for line in lines])
        before = await self.lines_at(sorted(taken)) if taken else {}
        return ([before.get(line_id(line.partition, line.offset), line) for line in lines],
                len(lines) - len(taken))

    async def seal(self, spans: dict[int, tuple[int, int]], lines: Sequence[StoredLine]) -> None:
        """Store whole the blocks the records just projected complete: `spans` gives, per
        partition, the first and last offset of those records, and `lines` the lines they
        made as stored. Called once their progress is recorded.

        The instance keeps, per partition, the lines of the block being filled (`_Tail`);
        the offsets between its last records and these (markers, or records another
        instance projected meanwhile) and, after a start, those of the block before the
        first records, are looked up by `_id`. A block is inserted once, with exactly the
        lines stored for its offsets, so whoever stores it stores the same."""
        for partition, (first, last) in sorted(spans.items()):
            tail = self._tails.get(partition)
            if tail is None or tail.to >= first or first - tail.to > BLOCK:
                start = first - first % BLOCK
                tail = _Tail(start, start - 1, {})
                before = block_id(partition, start // BLOCK - 1)
                if start and await self.blocks.find_one({"_id": before}, {"_id": 1}) is None:
                    tail = _Tail(start - BLOCK, start - BLOCK - 1, {})  # a stop left it unsealed
            missing = [line_id(partition, o) for o in range(tail.to + 1, first)]
            tail.lines.update((line.offset, line) for line in (await self.lines_at(missing)).values())
            tail.lines.update((line.offset, line) for line in lines if line.partition == partition)
            tail.to = last
            while block_end(tail.start) <= tail.to:
                end = block_end(tail.start)
                block = [tail.lines.pop(o) for o in sorted(tail.lines) if o <= end]
                await insert_new(self.blocks, [block_document(partition, tail.start // BLOCK,
                                                              block)])
                tail.start = end + 1
            self._tails[partition] = tail

    async def projected(self, offsets: dict[int, int], at: datetime) -> None:
        """Record that each partition's lines up to `offsets[partition]` are in the store."""
        for partition, offset in sorted(offsets.items()):
            await self.progress.update_one(
                {"_id": str(partition)},
                {"$max": {"offset": offset}, "$set": {"at": at}}, upsert=True)

    async def progress_of(self) -> dict[int, tuple[int, datetime]]:
        """Per partition: the last offset projected, and when."""
        return {int(doc["_id"]): (doc["offset"], doc["at"])
                async for doc in self.progress.find({})}

    async def last_published_day(self) -> date | None:
        """The latest day whose file is published (lines may no longer join it). Looked
        for in the collection until there is one; then, as the days follow each other, the
        day after it is asked for by its `_id`."""
        if self._last_published is None:
            async for doc in self.days.find({}, {"_id": 1}).sort("_id", -1).limit(1):
                self._last_published = date.fromisoformat(doc["_id"])
        while self._last_published is not None:
            after = self._last_published + timedelta(days=1)
            if await self.days.find_one({"_id": after.isoformat()}, {"_id": 1}) is None:
                break
            self._last_published = after
        return self._last_published

    async def stored_to(self) -> dict[int, int]:
        """Per partition, the offset up to which every record is projected."""
        return {partition: offset for partition, (offset, _) in (await self.progress_of()).items()}

    async def page(self, cursor: Cursor, limit: int) -> tuple[list[StoredLine], Cursor]:
        """Up to `limit` lines after `cursor`, each partition's in log order, merged by
        (recorded_at, partition, offset), and the cursor after them.

        Each partition is read ahead in runs of offsets looked up by `_id` (`_run`), no
        further than what the projection has stored, and the heads of the partitions are
        merged; a run that is used up is followed by the next. A partition whose lines are
        all taken moves to the last offset looked up (records that make no line included);
        one whose next line is left for the next page moves to just before it.
        """
        stored = await self.stored_to()
        run = max(16, min(_RUN, limit // max(len(stored), 1) + 1))
        looked = {p: cursor.read_to.get(p, -1) for p, end in stored.items()
                  if cursor.read_to.get(p, -1) < end}
        ahead: dict[int, deque[StoredLine]] = {p: deque() for p in looked}

        async def refill(partition: int) -> None:
            while not ahead[partition] and looked[partition] < stored[partition]:
                high = min(block_end(looked[partition] + run), stored[partition])
                ahead[partition].extend(await self._run(partition, looked[partition], high))
                looked[partition] = high

        await asyncio.gather(*(refill(p) for p in looked))
        lines: list[StoredLine] = []
        while len(lines) < limit:
            heads = [queue[0] for queue in ahead.values() if queue]
            if not heads:
                break
            line = min(heads, key=lambda head: head.order)
            lines.append(ahead[line.partition].popleft())
            if len(lines) < limit:
                await refill(line.partition)
        read_to = dict(cursor.read_to)
        for p, queue in ahead.items():
            to = queue[0].offset - 1 if queue else looked[p]
            if to > read_to.get(p, -1):
                read_to[p] = to
        return lines, Cursor(read_to)

    async def lines_after(self, partition: int, after: int, end: int,
                          ) -> AsyncIterator[list[StoredLine]]:
        """The lines of `partition` at offsets in `(after, end]`, in log order, a run at a
        time (the day publisher's read)."""
        while after < end:
            high = min(block_end(after + _RUN), end)
            yield await self._run(partition, after, high)
            after = high

    async def lines_at(self, keys: Sequence[str]) -> dict[str, StoredLine]:
        """The stored lines of these `_id`s (those that exist)."""
        return {key: StoredLine.of(doc) for key, doc in (await find_by_ids(self.events,
                                                                            keys)).items()}

    async def _run(self, partition: int, low: int, high: int) -> list[StoredLine]:
        """The lines of `partition` at offsets in `(low, high]` (all projected), in log
        order: each block of them by its `_id`. A complete block that is not stored (a stop
        came before it was, or its lines were projected before there were blocks) is read
        by the `_id`s of its offsets, and stored; the offsets of the block being filled are
        read by theirs (some made no line)."""
        starts = range(low + 1 - (low + 1) % BLOCK, high + 1, BLOCK)
        blocks = await find_by_ids(self.blocks, [block_id(partition, s // BLOCK) for s in starts])
        lines: list[StoredLine] = []
        for start in starts:
            offsets = range(max(start, low + 1), min(start + BLOCK - 1, high) + 1)
            block = blocks.get(block_id(partition, start // BLOCK))
            if block is not None:
                found = block_lines(block)
            elif start + BLOCK - 1 <= high:
                found = await self._seal_again(partition, start)
            else:
                found = list((await self.lines_at([line_id(partition, offset)
                                                   for offset in offsets])).values())
            lines += [line for line in found if line.offset in offsets]
        return sorted(lines, key=lambda line: line.offset)

    async def _seal_again(self, partition: int, start: int) -> list[StoredLine]:
        """The lines of the complete block from `start`, read by their `_id`s, and stored."""
        found = await self.lines_at([line_id(partition, offset)
                                     for offset in range(start, start + BLOCK)])
        lines = sorted(found.values(), key=lambda line: line.offset)
        await insert_new(self.blocks, [block_document(partition, start // BLOCK, lines)])
        return lines
