"""Keeping a `RowIndex` current on every instance, from the case event log.

A service runs as N instances, and the partitions of the case log are shared among them:
the projection of this instance writes only some of the cases. Yet any instance may be
asked for a list, so each one keeps every row. The log says which case changed, wherever it
was projected; the store holds the document the projection wrote:

1. *bootstrap*: the offsets the service's consumer group has committed, per partition (an
   admin request), minus a margin (FastStream commits what it fetched, which may run a batch or two ahead
   of what is written); then every document of the collection, once (its rows: the view
   is not read); then the service says it is ready — not before, so an officer never sees
   an empty queue because the index was still filling;
2. *follow*: this instance reads every partition of the case log from there (no consumer
   group, nothing committed: it joins no group and moves no other reader), and for each
   event newer than the row it keeps, reads the case's document again by `_id` — once the
   service's group has committed the event's offset (a projection commits only what it
   wrote; the group's offsets are asked at most every `COMMITTED_S`) and `FIRST_LOOK_S`
   has passed, unless this instance's projection put it meanwhile, and again, less and
   less often, while the document does not hold it yet (`PATIENCE_S`). While the
   projections catch up with a backlog, the follower waits for them instead of reading
   every case they have not written yet again and again (profiled: a third of tracking's
   time in `zaiban bench projections`, and the store's CPU besides);
3. the projection of this instance puts the documents it writes itself (`put`), so its
   own cases are listed as soon as they are written;
4. when that projection is the collection's only writer (tracking's: `held`, `held.py`), the
   follower leaves it the partitions it holds: once the follower has read a partition up to
   where the group had committed it after it was assigned here (so every event from there on
   is this projection's to write, and it puts what it writes), the follower pauses it; when
   the partition moves away, it resumes it from where it paused or, if further, from after
   the last record the projection handled (and put) meanwhile. An instance alone reads the log
   once, not twice (profiled in `zaiban bench seed`: the follower was 8 % of tracking's time,
   reading records its own projection had put already).

A replay of the read model (a new collection swapped in) bumps a generation number kept by
`_id` beside it; every follower looks at it each `poll` and rebuilds its index from the new
collection when it moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pymongo.asynchronous.collection import AsyncCollection

from services.common.held import Held
from services.common.logging import get_logger
from services.common.rowindex import RowIndex
from services.common.stopping import within
from services.common.store import ROW, find_by_ids, unpack_row

log = get_logger("zaiban.rowfollower")

MARGIN = 2_000
"""Records per partition read again before the group's committed offset at bootstrap."""
PATIENCE_S = 60.0
"""How long a row waits for the projection to write the event the log announced."""
FIRST_LOOK_S = 0.5
"""How long after the log announced an event the document is first read: time for the
projection to write it (when this instance's own did, its row is there and nothing is read).
The lists of another instance show a change that much later."""
GATHER_MS = 250
"""How long the broker may hold the follower's fetch while records gather (or `GATHER_BYTES`
are there). A row is first read `FIRST_LOOK_S` after its event anyway; a fetch for each event
as it came cost the follower a round trip of the broker per event (live: as many fetches as
the projection's own)."""
GATHER_BYTES = 256 * 1024
COMMITTED_S = 1.0
"""How often the follower asks the broker for its group's committed offsets."""
ASK_S = 15.0
"""How long a request to the broker may take at start and stop."""
LOAD_BATCH = 2_000
"""Documents read and put at a time when the rows are loaded (the store's batch too)."""
GENERATIONS = "row_generations"
"""The collection of generation numbers (`_id`: the read model's collection name)."""


@dataclass
class Waiting:
    """A case whose document must reach `seq` (announced by the log at `since`)."""

    seq: int
    since: float
    next_at: float = 0.0
    pause: float = FIRST_LOOK_S
    partition: int = -1
    offset: int = -1
    """Where the log announced `seq`: read once the group committed past it."""
    committed: bool = False
    """The group committed past `offset` (`since` then counts from that moment)."""


_SEQ = re.compile(rb'"seq":\s*(\d+)')


def seq_of(value: bytes) -> int | None:
    """The `seq` of an envelope as the log holds it: the JSON of `Envelope`, whose fields
    before `seq` are short ids, so it is found near the start without parsing the event
    (a follower reads every record of the log); else by parsing it."""
    found = _SEQ.search(value, 0, 512)
    if found is not None:
        return int(found.group(1))
    try:
        parsed = json.loads(value)
        return int(parsed["seq"]) if isinstance(parsed, dict) and "seq" in parsed else None
    except (ValueError, TypeError):
        return None


class KeptRows:
    """The rows of a service's own snapshots or documents: put as this process writes them, into
    `index` until a follower keeps them (once started), then into the follower's, which fills
    them from the store and keeps the other instances' writes current."""

    def __init__(self, index: RowIndex) -> None:
        self._index = index
        self.follower: RowFollower | None = None

    @property
    def index(self) -> RowIndex:
        return self.follower.index if self.follower is not None else self._index

    def saved(self, document: dict[str, Any]) -> None:
        """The row of a snapshot this process saved (a `CaseStreams` `saved` callback)."""
        self.put([document])

    def put(self, documents: list[dict[str, Any]]) -> None:
        """The rows of the documents this process wrote."""
        if self.follower is not None:
            self.follower.put(documents)
        else:
            for document in documents:
                self._index.put(document)


class RowFollower:
    """Fills `index` from `collection`, then keeps it current from `topic` (see above)."""

    def __init__(self, index: RowIndex, collection: AsyncCollection[dict[str, Any]], *,
                 topic: str, group_id: str, kafka: Mapping[str, Any],
                 bootstrap_servers: str, poll: float = 0.2, held: Held | None = None) -> None:
        self.index = index
        self.collection = collection
        self.topic = topic
        self.group_id = group_id
        self.kafka = dict(kafka)
        self.bootstrap_servers = bootstrap_servers
        self.poll = poll
        self.generation: int | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiting: dict[str, Waiting] = {}
        self._pending: dict[int, deque[tuple[int, str]]] = {}
        """Per partition, the announcements whose offset the group has not committed yet, in
        log order (a backlog of many thousand cases is not looked through at each poll)."""
        self._ready: set[str] = set()
        """The waiting cases whose event the group committed: the ones to read."""
        self._during_load: list[dict[str, Any]] | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._group_at: dict[int, int] | None = None
        """The group's committed offsets by partition, as last asked (None: unknown)."""
        self._group_asked = 0.0
        self.held = held
        """The partitions this instance's projection holds, when it alone writes `collection`."""
        self.records_read = 0
        """Records of the log this follower has read."""
        self._paused: dict[int, float] = {}
        """The partitions left to the projection, each with when it was assigned to it."""

    @property
    def left_to_projection(self) -> set[int]:
        """The partitions this follower does not read: this instance's projection holds them."""
        return set(self._paused)

    # -- the service's lifecycle --------------------------------------------------------

    async def start(self) -> None:
        """Bootstrap (the service is not ready before it ends), then follow in the background."""
        started = time.monotonic()
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=4 << 20,
                                    fetch_min_bytes=GATHER_BYTES, fetch_max_wait_ms=GATHER_MS,
                                    **self.kafka)
        await consumer.start()
        self._consumer = consumer
        partitions = sorted(consumer.partitions_for_topic(self.topic) or ())
        if not partitions:
            await consumer._client.force_metadata_update()  # a topic not yet in the metadata
            partitions = sorted(consumer.partitions_for_topic(self.topic) or ())
        assigned = [TopicPartition(self.topic, p) for p in partitions]
        consumer.assign(assigned)
        beginnings = await consumer.beginning_offsets(assigned)
        committed = await self._committed()
        starts = {tp: max(beginnings[tp], committed.get(tp, 0) - MARGIN) for tp in assigned}
        self.generation = await self._generation()
        await self.load(self.index)
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        self._task = asyncio.create_task(self._follow(), name=f"rows:{self.collection.name}")
        log.info("rows_loaded", collection=self.collection.name, rows=len(self.index),
                 seconds=round(time.monotonic() - started, 2))

    async def _committed(self) -> dict[TopicPartition, int]:
        """The offsets the service's group committed on the topic, asked once of the broker
        (an admin request: this follower joins no group; a consumer with the group's id
        would bring a coordinator along, whose stop can wait on the group)."""
        try:
            if self._admin is None:
                admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers,
                                            **self.kafka)
                await asyncio.wait_for(admin.start(), timeout=ASK_S)
                self._admin = admin
            found = await asyncio.wait_for(
                self._admin.list_consumer_group_offsets(self.group_id), timeout=ASK_S)
        except (TimeoutError, KafkaError) as error:  # from the start of the log: slower, right
            log.warning("rows_group_offsets_unknown", group=self.group_id,
                        error=f"{type(error).__name__}: {error}")
            await self._close_admin()
            return {}
        return {tp: meta.offset for tp, meta in found.items()
                if tp.topic == self.topic and meta.offset >= 0}

    async def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(admin.close(), timeout=ASK_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await within(self._task, ASK_S)
            self._task = None
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await within(self._consumer.stop(), ASK_S)
            self._consumer = None
        await self._close_admin()

    async def load(self, index: RowIndex) -> None:
        """Every document's row into `index`, read once (the whole collection, without the
        views), a batch at a time: the documents of a whole collection held at once were
        the process's peak of memory (tens of MB at the article's volume)."""
        cursor = self.collection.find({}, projection=self._projection(index),
                                      batch_size=LOAD_BATCH)
        while batch := await cursor.to_list(LOAD_BATCH):
            index.put_all(unpack_row(document) for document in batch)

    @staticmethod
    def _projection(index: RowIndex) -> dict[str, int]:
        """What is read of a document: its row's fields, or those packed (`store.ROW`)."""
        return {**dict.fromkeys(index.fields, 1), ROW: 1}

    # -- keeping up ---------------------------------------------------------------------

    def put(self, documents: list[dict[str, Any]]) -> None:
        """The rows of the documents this instance's projection wrote (as the writer has them:
        never packed)."""
        for document in documents:
            self.index.put(document)
        if self._during_load is not None:
            self._during_load.extend(documents)

    async def _follow(self) -> None:
        assert self._consumer is not None
        last_generation_check = time.monotonic()
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=int(self.poll * 1000),
                                                       max_records=2000)
                for records in batches.values():
                    self.records_read += len(records)
                    for record in records:
                        self._announced(record.key, record.value, record.partition,
                                        record.offset)
                if self.held is not None:
                    await self._leave_to_projection(self.held)
                if self._waiting:
                    await self._refresh()
                if time.monotonic() - last_generation_check >= 1.0:
                    last_generation_check = time.monotonic()
                    await self._check_generation()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the broker or the store away: try again shortly
                log.warning("rows_follow_failed_will_retry", collection=self.collection.name,
                            error=f"{type(error).__name__}: {error}")
                await asyncio.sleep(1.0)

    async def _leave_to_projection(self, held: Held) -> None:
        """Resume the partitions the projection no longer holds (or holds by a new
        assignment: another instance may have written meanwhile), from where they were
        paused or after what the projection handled of them; pause those it holds once read
        up to where the group had committed them after they were assigned (the projection
        started there, or before)."""
        assert self._consumer is not None
        back = [p for p, since in self._paused.items() if held.since.get(p) != since]
        for p in back:
            tp = TopicPartition(self.topic, p)
            self._consumer.resume(tp)
            released = held.released.get(p)
            if released is not None and released[0] == self._paused[p] \
                    and released[1] > await self._consumer.position(tp):
                self._consumer.seek(tp, released[1])  # what lies between, it wrote and put
            del self._paused[p]
        if back:
            log.info("rows_follow_partitions", collection=self.collection.name,
                     partitions=sorted(back))
        followed = {tp.partition for tp in self._consumer.assignment()}
        taking = {p: since for p, since in held.since.items()
                  if p not in self._paused and p in followed}
        if not taking:
            return
        group = await self._group_offsets()
        if group is None:
            return  # the group's offsets unknown: every partition is followed
        left = []
        for p, since in taking.items():
            if self._group_asked <= since:
                continue  # asked before it was assigned: at the next ask
            tp = TopicPartition(self.topic, p)
            if await self._consumer.position(tp) >= group.get(p, 0):
                self._consumer.pause(tp)
                self._paused[p] = since
                left.append(p)
        if left:
            log.info("rows_left_to_projection", collection=self.collection.name,
                     partitions=sorted(left))

    def _announced(self, key: bytes | None, value: bytes | None, partition: int = -1,
                   offset: int = -1) -> None:
        if not key or not value:
            return
        seq = seq_of(value)
        if seq is None:
            return  # unreadable: the projection dead-letters it
        case_id = key.decode(errors="replace")
        if seq > self.index.seq(case_id):
            known = self._waiting.get(case_id)
            if known is None:
                now = time.monotonic()
                known = self._waiting[case_id] = Waiting(
                    seq, now, next_at=now + FIRST_LOOK_S, partition=partition, offset=offset)
            else:
                known.seq = max(known.seq, seq)
                known.offset = max(known.offset, offset)
            if offset < 0:
                known.committed = True
                self._ready.add(case_id)
            else:
                known.committed = False
                self._ready.discard(case_id)
                self._pending.setdefault(partition, deque()).append((offset, case_id))

    async def _group_offsets(self) -> dict[int, int] | None:
        """The group's committed offsets by partition, asked at most every `COMMITTED_S`;
        None when the broker could not say (the follower then reads on time alone)."""
        now = time.monotonic()
        if self._group_at is None or now - self._group_asked >= COMMITTED_S:
            self._group_asked = now
            found = await self._committed()
            self._group_at = {tp.partition: offset for tp, offset in found.items()} \
                if found or self._admin is not None else None
        return self._group_at

    def _committed_now(self, group: dict[int, int] | None, now: float) -> None:
        """Move the cases whose announced event the group has committed (so it is written)
        to the ones to read; from then on `since` and `next_at` count. Without the group's
        offsets, every case waits on time alone."""
        for partition, pending in self._pending.items():
            limit = group.get(partition, 0) if group is not None else None
            while pending and (limit is None or pending[0][0] < limit):
                _, case_id = pending.popleft()
                waiting = self._waiting.get(case_id)
                if waiting is None or waiting.committed \
                        or (limit is not None and waiting.offset >= limit):
                    continue  # read already, or announced again further on
                waiting.committed = True
                if limit is not None:
                    waiting.since = now  # patience counts from the write, however long the backlog
                    waiting.next_at = min(waiting.next_at, now)
                self._ready.add(case_id)

    async def _refresh(self) -> None:
        """Read again the documents the log says changed; keep waiting, less and less often,
        for those the projection has not written yet, up to `PATIENCE_S`."""
        self._committed_now(await self._group_offsets(), time.monotonic())
        now = time.monotonic()
        due = []
        for case_id in list(self._ready):
            waiting = self._waiting[case_id]
            if self.index.seq(case_id) >= waiting.seq:  # this instance's projection put it
                del self._waiting[case_id]
                self._ready.discard(case_id)
            elif waiting.next_at <= now:
                due.append((case_id, waiting))
        if not due:
            return
        documents = await find_by_ids(self.collection, [case_id for case_id, _ in due],
                                      self._projection(self.index))
        now = time.monotonic()
        for case_id, waiting in due:
            document = documents.get(case_id)
            if document is not None:
                self.index.put(unpack_row(document))
            if self.index.seq(case_id) >= waiting.seq or now - waiting.since > PATIENCE_S:
                self._waiting.pop(case_id, None)
                self._ready.discard(case_id)
            else:
                waiting.pause = min(waiting.pause * 2, 5.0)
                waiting.next_at = now + waiting.pause

    async def _generation(self) -> int:
        found = await self.collection.database[GENERATIONS].find_one(
            {"_id": self.collection.name})
        return int(found["generation"]) if found else 0

    async def _check_generation(self) -> None:
        """Rebuild the index from the collection a replay swapped in; the old one answers
        until the new one is whole, and what the projection wrote meanwhile is put in too."""
        generation = await self._generation()
        if generation == self.generation:
            return
        fresh = RowIndex(fields=self.index.fields, keyed=self.index.keyed,
                         ranged=self.index.ranged, texts=tuple(self.index.texts),
                         version=self.index.version)
        self._during_load = []
        try:
            await self.load(fresh)
            for document in self._during_load:
                fresh.put(document)
        finally:
            self._during_load = None
        self.index = fresh
        self.generation = generation
        log.info("rows_reloaded", collection=self.collection.name, rows=len(fresh),
                 generation=generation)


async def bump_generation(collection: AsyncCollection[dict[str, Any]]) -> None:
    """Say that `collection` was replaced (a replay swapped a rebuilt one in): every follower
    of it reloads its rows."""
    generations = collection.database[GENERATIONS]
    found = await generations.find_one({"_id": collection.name})
    generation = (int(found["generation"]) if found else 0) + 1
    await generations.replace_one({"_id": collection.name}, {"generation": generation},
                                  upsert=True)
