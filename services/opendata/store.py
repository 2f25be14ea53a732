"""Where the public feed is kept: one document per line, the progress of each partition, and
pages of the history read back in order.

- `opendata_events`: one line per record of the case event log, `_id` its position
  zero-padded (`"001:000000004711"`), so `_id` order is log order within a partition and a
  page is a range of `_id`. MongoDB answers such a range from the `_id` index; FerretDB 1.24
  uses that index for `_id` equality only, and scans the collection for a range (issue 21). A line is inserted once: a
  redelivered record finds its `_id` taken and changes nothing, which keeps its text — and
  the day it was given — as first projected.
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
  reads the last one, so that no line joins a day whose file is out.

A page merges the partitions' lines by (recorded_at, partition, offset), keeping each
partition in log order; its cursor says, per partition, the last offset it included
(`Cursor`), so a reader resumes exactly where it stopped, whatever arrived meanwhile.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.common.store import insert_new

EVENTS = "opendata_events"
IDS = "opendata_ids"
PROGRESS = "opendata_progress"
DAYS = "opendata_days"

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


class FeedStore:
    """The open-data collections of one database."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db
        self.events = db[EVENTS]
        self.ids = db[IDS]
        self.progress = db[PROGRESS]
        self.days = db[DAYS]

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

    async def insert(self, lines: Sequence[StoredLine]) -> int:
        """Insert `lines`, each once: how many were new (the rest were there already)."""
        return len(lines) - len(await insert_new(self.events,
                                                   [line.document() for line in lines]))

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
        """The latest day whose file is published (lines may no longer join it)."""
        async for doc in self.days.find({}, {"_id": 1}).sort("_id", -1).limit(1):
            return date.fromisoformat(doc["_id"])
        return None

    async def page(self, cursor: Cursor, limit: int) -> tuple[list[StoredLine], Cursor]:
        """Up to `limit` lines after `cursor`, each partition's in log order, merged by
        (recorded_at, partition, offset), and the cursor after them.

        Each partition is read as a window of offsets, `(read_to, read_to + limit]`, cut at
        what the projection has stored (`opendata_progress`): an `_id` range with no sort on
        the server (FerretDB sorts the whole match before it limits; and it scans for a
        range, see the module's text). A window holds at most `limit` lines; fewer when the log has records that
        make no line there (transaction markers, an event's second copy), so a partition
        whose window was read whole moves to the window's end, gaps included, and a page
        that found only gaps reads the next windows before it answers empty (caught up).
        """
        stored = {partition: offset for partition, (offset, _) in (await self.progress_of()).items()}
        while True:
            windows = {p: (cursor.read_to.get(p, -1), min(cursor.read_to.get(p, -1) + limit, end))
                       for p, end in stored.items() if cursor.read_to.get(p, -1) < end}
            if not windows:
                return [], cursor
            streams = {p: await self._window(p, low, high) for p, (low, high) in windows.items()}
            merged = heapq.merge(*streams.values(), key=lambda line: line.order)
            lines = [line for line, _ in zip(merged, range(limit), strict=False)]
            taken = Counter(line.partition for line in lines)
            read_to = dict(cursor.read_to)
            for p, (_, high) in windows.items():
                if taken[p] == len(streams[p]):
                    read_to[p] = high
                elif taken[p]:
                    read_to[p] = max(line.offset for line in lines if line.partition == p)
            cursor = Cursor(read_to)
            if lines:
                return lines, cursor

    async def _window(self, partition: int, low: int, high: int) -> list[StoredLine]:
        """The lines of `partition` at offsets in `(low, high]`, in log order."""
        query = {"_id": {"$gt": line_id(partition, low), "$lte": line_id(partition, high)}}
        lines = [StoredLine.of(doc) async for doc in self.events.find(query)]
        return sorted(lines, key=lambda line: line.offset)
