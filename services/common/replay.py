"""Reading the case event log from offset 0 again, to rebuild a read model.

The log is the source of truth, so a read model can be thrown away and built
again by the same pure projection. A rebuild reads a fixed range of the log
(from the beginning to its end as it was when the rebuild started) outside
any consumer group, so the live consumers are not disturbed, then the caller
swaps the new collection in and catches up with what came meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, overload

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from contracts.envelope import Envelope
from contracts.topics import Topics
from services.common.bus import Delivered, E, Poison, Reading, parse_envelope
from services.common.kafka import kafka_options
from services.common.logging import get_logger
from services.common.settings import CommonSettings

log = get_logger("zaiban.replay")

NAMESPACE_EXISTS = 48
SWAP_ATTEMPTS = 200
FETCH_WAIT_MS = 20
"""How long the broker holds a fetch that finds nothing new. A reader at the end of the range
keeps fetching, and the broker answers one connection's requests in order: the offsets a
catch-up asks for next waited behind such a fetch (aiokafka's 500 ms, half a second of every
rebuild)."""

Offsets = dict[TopicPartition, int]
Progress = Callable[[int, int], None]
"""Called with (records read, records to read) as a replay goes."""

Project = Callable[[list[Delivered[E]]], Awaitable[int]]
"""Projects a batch; returns how many of its events could not be projected."""


@dataclass(frozen=True)
class Replayed:
    events: int
    unreadable: int


@dataclass
class Phases:
    """Seconds spent in each phase of a rebuild, for its closing log line."""

    spent: dict[str, float] = field(default_factory=dict)
    since: float = field(default_factory=time.monotonic)

    def mark(self, phase: str) -> None:
        now = time.monotonic()
        self.spent[phase] = round(now - self.since, 3)
        self.since = now


class LogReader(Generic[E]):
    """A consumer outside any group, reading ranges of the case event log: each record whole,
    or as `read` reads it."""

    @overload
    def __init__(self: LogReader[Envelope], settings: CommonSettings, principal: str) -> None: ...

    @overload
    def __init__(self, settings: CommonSettings, principal: str, read: Reading[E]) -> None: ...

    def __init__(self, settings: CommonSettings, principal: str,
                 read: Reading[Any] = parse_envelope) -> None:
        self.topic = Topics(settings.topic_prefix).case_events
        self.read = read
        self.consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                         group_id=None, enable_auto_commit=False,
                                         auto_offset_reset="earliest",
                                         fetch_max_wait_ms=FETCH_WAIT_MS,
                                         **kafka_options(settings, principal))

    async def __aenter__(self) -> LogReader[E]:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def bounds(self) -> tuple[Offsets, Offsets]:
        """(beginning, end) offsets of every partition; empty if the log does not exist yet."""
        await self.consumer._client.force_metadata_update()
        partitions = self.consumer.partitions_for_topic(self.topic) or set()
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        if not assigned:
            return {}, {}
        self.consumer.assign(assigned)
        return (await self.consumer.beginning_offsets(assigned),
                await self.consumer.end_offsets(assigned))

    async def replay(self, starts: Offsets, ends: Offsets, project: Project[E],
                     progress: Progress | None = None, batch: int = 2000) -> Replayed:
        """Project every record in [start, end) of each partition, in order per partition."""
        total = sum(max(ends[tp] - starts.get(tp, 0), 0) for tp in ends)
        remaining = {tp for tp in ends if starts.get(tp, 0) < ends[tp]}
        for tp in remaining:
            self.consumer.seek(tp, starts.get(tp, 0))
        read = events = unreadable = 0
        while remaining:
            fetched = await self.consumer.getmany(*remaining, timeout_ms=500, max_records=batch)
            deliveries: list[Delivered[E]] = []
            for tp, records in fetched.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    read += 1
                    try:
                        envelope = self.read(record.value or b"")
                    except Poison as poison:
                        unreadable += 1
                        log.warning("replay_skipped_unreadable", partition=tp.partition,
                                    offset=record.offset, reason=str(poison))
                        continue
                    deliveries.append(Delivered(envelope, tp.topic, tp.partition, record.offset))
            if deliveries:
                failed = await project(deliveries)
                events += len(deliveries) - failed
                unreadable += failed
            for tp in list(remaining):
                if await self.consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if progress is not None:
                progress(read, total)
        return Replayed(events, unreadable)


async def swap_in(db: AsyncDatabase[dict[str, Any]], source: str, target: str) -> None:
    """Replace `target` by `source`: drop, then rename (retried if `target` reappears).

    FerretDB has no `dropTarget`; a live consumer writing `target` between the
    drop and the rename makes the rename fail, and it is tried again.
    """
    for _attempt in range(SWAP_ATTEMPTS):
        await db.drop_collection(target)
        try:
            await db[source].rename(target)
            return
        except OperationFailure as error:
            # MongoDB says the namespace exists (48); FerretDB on SQLite may say its
            # table's unique constraint failed (1): either way, `target` reappeared
            recreated = error.code == NAMESPACE_EXISTS or "unique constraint" in str(error).lower()
            if not recreated:
                raise
            # no pause: the window between drop and rename must stay as short as it can
            await asyncio.sleep(0)
    raise RuntimeError(f"could not swap {source} in as {target}: it kept being recreated")
