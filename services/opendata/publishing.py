"""Publishing the days: the manifest (`opendata_days`) and the files (`opendata_files`).

Every ~30 s the publisher asks whether days have become publishable, and publishes each,
oldest first:

1. the day is due (`days.py`) once it ended the grace ago and the projection has every
   record the log held `settle_s` ago (the log's end offsets are noted each round) — or, on
   the first rounds after a start, every record it holds now and has been quiet that long;
2. the lines not yet in a file are read from `opendata_events` by exact `_id`
   (`FeedStore.lines_after`: FerretDB scans the whole collection for anything else),
   partition by partition from where the last published day left off (its
   `unread_after`) to what the projection has stored; each goes to its day — or, if that
   day is published and its file lacks the line (the consumer wrote it while the day was
   being published), to the first day not yet published. The day's lines are put in file
   order, hashed, chained to the day before's head;
3. the manifest entry is INSERTED with `_id` = the day — once: the unique `_id` decides.
   A second publisher (another copy of the service, or this one after a restart) whose
   insert finds it there reads the stored entry instead, and from then on follows it (its
   own lines of the day that the stored file lacks go on to the next day). The entry lists
   the `_id`s of the file's lines (`lines`), so the file can always be made again from
   the store, exactly, and says per partition up to which offset every line is in a file
   by then (`unread_after`: the next reading starts there);
4. the gzipped file is stored in chunks (`_id` = f"{day}:{n}", each ≤ 4 MB, with the day's
   sha256), written by whoever holds bytes matching the entry (identical bytes, so two
   writers agree); a missing or foreign chunk is made again from the entry's lines on the
   first round after a start — and never from lines that no longer hash to the entry;
5. a line is never moved: its stored `day` (and its text) stay as projected, and the
   file it is in is where it was published; a file never changes once its entry exists.

Nothing here takes a lock: every step is an insert that only one can win, or a write
that gives the same result whoever makes it, so any number of publishers may run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from aiokafka.errors import KafkaError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.common.clock import Clock
from services.common.kafka import kafka_options
from services.common.logging import get_logger
from services.opendata.days import (
    GENESIS,
    ONE_DAY,
    Ends,
    Line,
    chain_head,
    file_order,
    gzipped,
    is_settled,
    ndjson_of,
    publishable_days,
    sha256_hex,
)
from services.opendata.store import FeedStore

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer

    from services.common.settings import CommonSettings

log = get_logger("zaiban.opendata.publishing")

PROGRESS = "opendata_progress"
DAYS = "opendata_days"
FILES = "opendata_files"

CHUNK_BYTES = 4 * 1024 * 1024
"""A file is stored in chunks of at most this size (a document holds at most 16 MB)."""

EndOffsets = Callable[[], Awaitable[Ends]]
"""The end offset of each partition of the case event log, now."""

Doc = dict[str, Any]


@dataclass(frozen=True)
class PublishingPolicy:
    """What the publisher needs of the service's settings."""

    tz: tzinfo
    """The city's timezone: its days are the files' days."""
    grace_s: float = 600.0
    """How long after a day ends before it is published (late lines still come in)."""
    settle_s: float = 30.0
    """A day is final once the projection has every record the log held this long ago (or,
    just after a start, holds now, and has been quiet this long)."""
    every_s: float = 30.0
    """How often `run_forever` looks for days to publish."""


def manifest_entry(doc: Doc) -> Doc:
    """A stored day as `/open-data/days.json` lists it."""
    published = doc["published_at"]
    return {"day": doc["day"], "events": doc["events"], "sha256": doc["sha256"],
            "previous": doc["previous"], "head": doc["head"],
            "published_at": published.isoformat() if isinstance(published, datetime)
            else str(published),
            "file": f"/open-data/days/{doc['day']}.ndjson.gz"}


class PublishedDays:
    """Reading what is published: the manifest and the files (the routes' store)."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.days = db[DAYS]
        self.files = db[FILES]
        self._entries: list[Doc] = []  # an entry never changes once stored

    async def entries(self) -> list[Doc]:
        """The stored days, oldest first, without their lists of lines. The collection is
        read whole once; after that, as the days follow each other, only the day after the
        last one known is asked for, by its `_id`."""
        if not self._entries:
            found = [doc async for doc in self.days.find({}, {"lines": 0})]
            self._entries = sorted(found, key=lambda doc: str(doc["_id"]))
        while self._entries:
            after = date.fromisoformat(self._entries[-1]["_id"]) + ONE_DAY
            entry = await self.days.find_one({"_id": after.isoformat()}, {"lines": 0})
            if entry is None:
                break
            self._entries.append(entry)
        return list(self._entries)

    async def entry(self, day: date) -> Doc | None:
        return await self.days.find_one({"_id": day.isoformat()}, {"lines": 0})

    async def file(self, entry: Doc) -> bytes | None:
        """The day's gzipped file, as stored; None if a chunk is missing or not the day's."""
        chunks = await self._chunks(entry, None)
        return None if chunks is None else b"".join(bytes(chunk["data"]) for chunk in chunks)

    async def has_file(self, entry: Doc) -> bool:
        return await self._chunks(entry, {"sha256": 1}) is not None

    async def _chunks(self, entry: Doc, projection: Doc | None) -> list[Doc] | None:
        chunks = []
        for n in range(int(entry["chunks"])):
            chunk = await self.files.find_one({"_id": f"{entry['day']}:{n}"}, projection)
            if chunk is None or chunk.get("sha256") != entry["sha256"]:
                return None
            chunks.append(chunk)
        return chunks


class Publisher:
    """Publishes the due days of the open data, idempotently (see the module's text)."""

    def __init__(self, db: AsyncDatabase[Doc], policy: PublishingPolicy, clock: Clock,
                 end_offsets: EndOffsets) -> None:
        self.policy = policy
        self.clock = clock
        self.end_offsets = end_offsets
        self.feed = FeedStore(db)
        self.progress = db[PROGRESS]
        self.days = db[DAYS]
        self.files = db[FILES]
        self.published = PublishedDays(db)
        self._checked_after_start = False
        self._log_ends: list[tuple[datetime, Ends]] = []  # the log's ends as read, and when

    async def run_forever(self) -> None:
        while True:
            try:
                published = await self.publish_due(self.clock.now())
                if published:
                    log.info("open_data_days_published", days=[d.isoformat() for d in published])
            except (PyMongoError, KafkaError) as error:  # away for a while: next round
                log.warning("open_data_publishing_waits", error=str(error)[:200])
            except Exception:
                log.exception("open_data_publishing_failed_will_retry")
            await asyncio.sleep(self.policy.every_s)

    async def publish_due(self, now: datetime) -> list[date]:
        """Publish every day due at `now`; the days this round published, oldest first (a
        day another publisher got in first counts as published here too)."""
        entries = await self.published.entries()
        last = date.fromisoformat(entries[-1]["_id"]) if entries else None
        if not self._checked_after_start:
            await self._check_after_start(entries)
            self._checked_after_start = True
        if not await self._settled(now):
            return []
        due = publishable_days(now, self.policy.tz, self.policy.grace_s, None, last, True)
        if last is not None and not due:
            return []  # nothing to read before the next day is due
        unread = Unread.after(entries[-1] if entries else None, await self.feed.stored_to())
        waiting = await self._unpublished(unread, last)
        if last is None:  # the first day is the first line's
            due = publishable_days(now, self.policy.tz, self.policy.grace_s,
                                   min(waiting, default=None), None, True)
        previous = entries[-1]["head"] if entries else GENESIS
        for day in due:
            lines = waiting.pop(day, [])
            stored = await self._publish_day(day, lines, previous, unread.left_after(waiting),
                                             now)
            previous = stored["head"]
            in_file = set(stored["lines"])
            strays = [line for line in lines if line.key not in in_file]
            if strays:  # another publisher's file of the day lacks them: the next day's
                waiting.setdefault(day + ONE_DAY, []).extend(strays)
        return due

    async def _settled(self, now: datetime) -> bool:
        ends = await self.end_offsets()  # before the progress: what the log held by then
        progress = {int(doc["_id"]): doc async for doc in self.progress.find({})}
        old_enough = [mark for mark in self._log_ends
                      if now - mark[0] >= timedelta(seconds=self.policy.settle_s)]
        earlier = old_enough[-1] if old_enough else None
        self._log_ends = [mark for mark in self._log_ends if earlier is None or mark[0] >= earlier[0]]
        self._log_ends.append((now, dict(ends)))
        return is_settled(ends, progress, now, self.policy.settle_s, earlier)

    async def _unpublished(self, unread: Unread, last: date | None) -> dict[date, list[Line]]:
        """The lines not yet in a file, read from where the last published day left off,
        by the day whose file they go to: their own, or — for a line of a day already
        published that its file lacks (projected while the day was being published) — the
        first day not yet published."""
        waiting: dict[date, list[Line]] = {}
        files: dict[date, set[str]] = {}
        for partition, (after, end) in sorted(unread.ranges.items()):
            async for run in self.feed.lines_after(partition, after, end):
                for stored in run:
                    line = Line(stored.partition, stored.offset, stored.recorded_at,
                                stored.text)
                    day = stored.day
                    if last is not None and day <= last:
                        if await self._in_a_file(line.key, day, last, files):
                            continue
                        day = last + ONE_DAY
                    waiting.setdefault(day, []).append(line)
        return waiting

    async def _in_a_file(self, key: str, day: date, last: date,
                         files: dict[date, set[str]]) -> bool:
        """Whether the line `key`, given `day`, is in the file of a day from `day` to `last`."""
        while day <= last:
            if day not in files:
                entry = await self.days.find_one({"_id": day.isoformat()}, {"lines": 1})
                files[day] = set(entry["lines"]) if entry is not None else set()
            if key in files[day]:
                return True
            day += ONE_DAY
        return False

    async def _publish_day(self, day: date, lines: Sequence[Line], previous: str,
                           unread_after: dict[int, int], now: datetime) -> Doc:
        ordered = file_order(lines)
        ndjson = ndjson_of(ordered)
        sha = sha256_hex(ndjson)
        gz = gzipped(ndjson)
        chunks = [gz[i:i + CHUNK_BYTES] for i in range(0, len(gz), CHUNK_BYTES)]
        entry = {"_id": day.isoformat(), "day": day.isoformat(), "events": len(ordered),
                 "sha256": sha, "previous": previous, "head": chain_head(previous, day, sha),
                 "published_at": now, "bytes": len(gz), "chunks": len(chunks),
                 "lines": [line.key for line in ordered],
                 "unread_after": {str(p): offset for p, offset in sorted(unread_after.items())}}
        try:
            await self.days.insert_one(entry)
        except DuplicateKeyError:  # another publisher, or this one before a restart
            stored = await self.days.find_one({"_id": day.isoformat()})
            assert stored is not None, "a day's entry is never deleted"
            entry = stored
        if entry["sha256"] == sha:
            await self._store_chunks(day, sha, chunks)
        else:
            await self._ensure_file(entry)
        return entry

    async def _store_chunks(self, day: date, sha: str, chunks: Sequence[bytes]) -> None:
        for n, data in enumerate(chunks):
            chunk = {"_id": f"{day.isoformat()}:{n}", "day": day.isoformat(), "n": n,
                     "sha256": sha, "data": data}
            try:
                await self.files.replace_one({"_id": chunk["_id"]}, chunk, upsert=True)
            except DuplicateKeyError:
                pass  # two writers upserted the same (identical) chunk at once

    async def _ensure_file(self, entry: Doc) -> None:
        """Make the entry's file again from its lines if a chunk is missing or foreign (a
        publisher stopped between the entry and its file) — only if they still hash to it."""
        if await self.published.has_file(entry):
            return
        keys = list(entry["lines"])
        stored = await self.feed.lines_at(keys)
        if any(key not in stored for key in keys):
            log.error("open_data_day_lines_missing", day=entry["day"])
            return
        ndjson = ndjson_of(Line(line.partition, line.offset, line.recorded_at, line.text)
                           for line in (stored[key] for key in keys))
        if sha256_hex(ndjson) != entry["sha256"]:
            # the stored lines were changed after the day was published: never serve that
            log.error("open_data_day_lines_changed", day=entry["day"])
            return
        gz = gzipped(ndjson)
        await self._store_chunks(date.fromisoformat(entry["day"]), entry["sha256"],
                                 [gz[i:i + CHUNK_BYTES] for i in range(0, len(gz), CHUNK_BYTES)])

    async def _check_after_start(self, entries: Sequence[Doc]) -> None:
        """After a start: every published day has its file (a stop may have come between a
        day's entry and its file)."""
        for entry in entries:
            if not await self.published.has_file(entry):
                stored = await self.days.find_one({"_id": entry["_id"]})
                if stored is not None:
                    await self._ensure_file(stored)


@dataclass(frozen=True)
class Unread:
    """Per partition, the offsets whose lines may not all be in a file yet: `(after, end]`,
    from where the last published day left off (its `unread_after`) to what the
    projection has stored."""

    ranges: dict[int, tuple[int, int]]
    before: dict[int, int]
    """Where the last published day left off."""

    @classmethod
    def after(cls, entry: Doc | None, stored: dict[int, int]) -> Unread:
        left = {int(p): int(o) for p, o in (entry or {}).get("unread_after", {}).items()}
        return cls({p: (left.get(p, -1), end) for p, end in stored.items()
                    if left.get(p, -1) < end}, left)

    def left_after(self, waiting: dict[date, list[Line]]) -> dict[int, int]:
        """Where the next reading starts, once the lines still `waiting` for a later day
        are left: per partition, just before the first of them, or the end read."""
        left = {**self.before, **{p: end for p, (_, end) in self.ranges.items()}}
        for lines in waiting.values():
            for line in lines:
                left[line.partition] = min(left[line.partition], line.offset - 1)
        return left


class CaseLogEnds:
    """The end offsets of the case event log, asked of the broker as `principal` (the
    service's own: describing a topic it reads needs no other right). One consumer without a
    group, started on first use and kept."""

    def __init__(self, settings: CommonSettings, principal: str, topic: str) -> None:
        self.settings = settings
        self.principal = principal
        self.topic = topic
        self._consumer: AIOKafkaConsumer | None = None

    async def __call__(self) -> dict[int, int]:
        from aiokafka import TopicPartition

        consumer = await self._started()
        await consumer._client.force_metadata_update()
        partitions = sorted(consumer.partitions_for_topic(self.topic) or set())
        if not partitions:
            return {}
        ends = await consumer.end_offsets([TopicPartition(self.topic, p) for p in partitions])
        return {tp.partition: int(offset) for tp, offset in ends.items()}

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            from aiokafka import AIOKafkaConsumer

            consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                        group_id=None,
                                        **kafka_options(self.settings, self.principal))
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()
