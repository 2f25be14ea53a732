"""Rebuild the tracking read model from the log (what `zaiban replay tracking` runs).

The log is the source of truth, so the read model can be thrown away and
built again by the same pure projection:

1. read the case event log from offset 0 up to its end as it is *now* (E1),
   projecting into a fresh collection, `cases_rebuild`, with its indexes;
2. swap it in: drop `cases`, rename `cases_rebuild` to `cases` (FerretDB has
   no `dropTarget`, so a live consumer recreating `cases` in between makes the
   rename fail, and it is retried);
3. catch up: project the log again from E1 to its end now into the new
   `cases`. Events the running consumers wrote into the old collection while
   the rebuild ran are applied again here; being idempotent by seq, nothing
   is applied twice and nothing is lost.

The running tracking instances need no restart: they read and write the
collection by name. Their live streams keep going (a stream's next poll reads
the rebuilt document).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from contracts.envelope import Envelope
from contracts.topics import Topics
from services.common.bus import Poison, parse_envelope
from services.common.logging import get_logger
from services.common.settings import CommonSettings
from services.common.store import make_client, service_db
from services.tracking.store import COLLECTION, REBUILD_COLLECTION, TimelineStore

log = get_logger("zaiban.tracking.replay")

NAMESPACE_EXISTS = 48
SWAP_ATTEMPTS = 10

Progress = Callable[[int, int], None]
"""Called with (records read, records to read) as the rebuild goes."""


@dataclass(frozen=True)
class RebuildReport:
    events: int
    unreadable: int
    caught_up: int
    cases: int


Offsets = dict[TopicPartition, int]


async def _log_end(consumer: AIOKafkaConsumer, topic: str) -> tuple[Offsets, Offsets]:
    """(beginning, end) offsets of every partition of `topic`; empty if it does not exist."""
    await consumer._client.force_metadata_update()
    partitions = consumer.partitions_for_topic(topic) or set()
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    if not assigned:
        return {}, {}
    consumer.assign(assigned)
    beginnings: Offsets = await consumer.beginning_offsets(assigned)
    ends: Offsets = await consumer.end_offsets(assigned)
    return beginnings, ends


async def _project_range(consumer: AIOKafkaConsumer, starts: Offsets, ends: Offsets,
                         store: TimelineStore, progress: Progress | None) -> tuple[int, int]:
    """Project the records in [start, end) of each partition; (events, unreadable)."""
    total = sum(max(ends[tp] - starts[tp], 0) for tp in ends)
    remaining = {tp for tp in ends if starts[tp] < ends[tp]}
    for tp in remaining:
        consumer.seek(tp, starts[tp])
    read = events = unreadable = 0
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=2000)
        envelopes: list[Envelope] = []
        for tp, records in batch.items():
            for record in records:
                if record.offset >= ends[tp]:
                    continue
                read += 1
                try:
                    envelopes.append(parse_envelope(record.value or b""))
                except Poison as poison:
                    unreadable += 1
                    log.warning("replay_skipped_unreadable", partition=tp.partition,
                                offset=record.offset, reason=str(poison))
        if envelopes:
            projected = await store.project(envelopes)
            events += len(envelopes) - len(projected.failed)
            unreadable += len(projected.failed)
            for envelope, reason in projected.failed:
                log.warning("replay_skipped_unprojectable", case_id=envelope.case_id,
                            event_id=str(envelope.event_id), reason=reason)
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
        if progress is not None:
            progress(read, total)
    return events, unreadable


async def swap_in(db: AsyncDatabase[dict[str, Any]], source: str = REBUILD_COLLECTION,
                  target: str = COLLECTION) -> None:
    """Replace `target` by `source` (drop, then rename; retried if `target` reappears)."""
    for _attempt in range(SWAP_ATTEMPTS):
        await db.drop_collection(target)
        try:
            await db[source].rename(target)
            return
        except OperationFailure as error:
            if error.code != NAMESPACE_EXISTS:
                raise
            await asyncio.sleep(0.05)
    raise RuntimeError(f"could not swap {source} in as {target}: it kept being recreated")


async def rebuild(settings: CommonSettings, *, progress: Progress | None = None) -> RebuildReport:
    """Rebuild the tracking read model from offset 0 and swap it in (see the module doc)."""
    client = make_client(settings)
    db = service_db(client, settings, "tracking")
    topic = Topics(settings.topic_prefix).case_events
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await db.drop_collection(REBUILD_COLLECTION)
        fresh = TimelineStore(db[REBUILD_COLLECTION])
        await fresh.ensure_indexes()
        beginnings, ends = await _log_end(consumer, topic)
        events, unreadable = await _project_range(consumer, beginnings, ends, fresh, progress)
        await swap_in(db)
        live = TimelineStore(db[COLLECTION])
        _, now = await _log_end(consumer, topic)
        caught_up, late_unreadable = await _project_range(
            consumer, {tp: ends.get(tp, beginnings.get(tp, 0)) for tp in now}, now, live, None)
        cases = await live.count()
        log.info("tracking_rebuilt", events=events, cases=cases, caught_up=caught_up,
                 unreadable=unreadable + late_unreadable)
        return RebuildReport(events=events, unreadable=unreadable + late_unreadable,
                             caught_up=caught_up, cases=cases)
    finally:
        await consumer.stop()
        await client.close()
