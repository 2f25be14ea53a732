"""Rebuild the tracking read model from the log (what `zaiban replay tracking` runs).

The log is the source of truth, so the read model can be thrown away and
built again by the same pure projection:

1. read the case event log from offset 0 up to its end as it is *now* (E1),
   folding the views in memory (`Rebuilder`: no read per event, each case
   written once, in bulk) into a fresh collection, `cases_rebuild`, with its
   indexes — the partitions apart, in a process for each group of them
   (`replay.apart`: a case's events are all on one partition; the fold is CPU-bound,
   and one process folds on one core only);
2. swap it in: drop `cases`, rename `cases_rebuild` to `cases` (FerretDB has
   no `dropTarget`, so a live consumer recreating `cases` in between makes the
   rename fail, and it is retried);
3. catch up: project the log again from E1 to its end now into the new
   `cases`. Events the running consumers wrote into the old collection while
   the rebuild ran are applied again here; being idempotent by seq, nothing
   is applied twice and nothing is lost;
4. tell the running instances (`bump_generation`): each reloads the rows its lists are
   answered from (`services/common/rowfollower.py`).

The running tracking instances need no restart: they read and write the
collection by name. Their live streams keep going (a stream's next poll reads
the rebuilt document).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pymongo import ReplaceOne

from contracts.envelope import Envelope
from services.common import collector
from services.common.bus import Delivery
from services.common.compact import compact
from services.common.inturn import in_turn
from services.common.kafka import principal_of
from services.common.logging import get_logger
from services.common.replay import (
    LogReader,
    Offsets,
    Phases,
    Progress,
    Project,
    Work,
    apart,
    processes_for,
    swap_in,
)
from services.common.rowfollower import bump_generation
from services.common.settings import CommonSettings
from services.common.store import ensure_collections, make_client, service_db
from services.tracking.store import (
    COLLECTION,
    REBUILD_COLLECTION,
    WRITE_CHUNK,
    TimelineStore,
    document,
    fold_safely,
    remember_codes,
    view_of,
)
from services.tracking.timeline import CaseView

log = get_logger("zaiban.tracking.replay")


@dataclass(frozen=True)
class RebuildReport:
    events: int
    unreadable: int
    caught_up: int
    cases: int
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds in each phase: fold (reading and folding), write, swap, catch-up."""


INSERT_CHUNK = 500
HELD_CASES = 50_000
"""Views a rebuild keeps in memory before writing them out (~8 KB each once compact: 400 MB
at most)."""


def _skipped(failed: list[tuple[Envelope, str]]) -> int:
    for envelope, reason in failed:
        log.warning("replay_skipped_unprojectable", case_id=envelope.case_id,
                    event_id=str(envelope.event_id), reason=reason)
    return len(failed)


def projector(store: TimelineStore) -> Project[Envelope]:
    """Project into a live collection, as the consumer does (the catch-up after the swap)."""
    async def project(deliveries: list[Delivery]) -> int:
        projected = await store.project([d.envelope for d in deliveries])
        return _skipped(projected.failed)

    return project


@dataclass
class Rebuilder:
    """Folds the log into views in memory and writes each case once, in bulk.

    The collection is new and only this rebuilder writes it, so nothing is read per
    event. When more than `held` cases are in memory they are written out; a later
    event of a written case reads it back once (a write-back cache), so memory stays
    bounded whatever the size of the log.
    """

    store: TimelineStore
    held: int = HELD_CASES
    views: dict[str, CaseView] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)

    async def project(self, deliveries: list[Delivery]) -> int:
        by_case: dict[str, list[Envelope]] = defaultdict(list)
        for delivery in deliveries:
            by_case[delivery.envelope.case_id].append(delivery.envelope)
        skipped = 0
        for case_id, found in by_case.items():
            view = self.views.get(case_id)
            if view is None and case_id in self.written:
                view = view_of(await self.store.collection.find_one({"_id": case_id}))
            after, failed = fold_safely(view, found)
            skipped += _skipped(failed)
            if after is not None:
                compact(after)  # held views: half the memory (`compact.py`)
                self.views[case_id] = after
        if len(self.views) >= self.held:
            await self.flush()
        return skipped

    async def flush(self) -> None:
        """Write the cases in memory, a chunk's documents made while the chunk before is
        being written (`inturn.py`)."""
        fresh = [v for c, v in self.views.items() if c not in self.written]
        again = [document(v) for c, v in self.views.items() if c in self.written]
        collection = self.store.collection

        async def insert(views: list[CaseView], documents: list[dict[str, Any]]) -> None:
            await collection.insert_many(documents, ordered=False)
            await remember_codes(self.store.codes, views)

        def chunks() -> Iterator[tuple[None, Awaitable[None]]]:
            for start in range(0, len(fresh), INSERT_CHUNK):
                views = fresh[start:start + INSERT_CHUNK]
                yield None, insert(views, [document(v) for v in views])

        await in_turn(chunks())
        for start in range(0, len(again), WRITE_CHUNK):
            await collection.bulk_write([ReplaceOne({"_id": doc["_id"]}, doc)
                                         for doc in again[start:start + WRITE_CHUNK]])
        self.written.update(self.views)
        self.views.clear()


@dataclass(frozen=True)
class Folded:
    """What folding a group of partitions gave (`folding`)."""

    events: int
    unreadable: int
    cases: int
    phases: dict[str, float]


def folding(settings: CommonSettings, *, held: int, batch: int) -> Work[Folded]:
    """Fold a group of the log's partitions into `cases_rebuild` and write its cases: with a
    reader, a client and a `Rebuilder` of its own (in a process of its own, `apart`). A case's
    events are all on one partition, so no two groups write the same case."""
    async def fold(starts: Offsets, ends: Offsets, progress: Progress) -> Folded:
        collector.for_folding()
        client = make_client(settings)
        try:
            db = service_db(client, settings, "tracking")
            async with LogReader(settings, principal_of("tracking")) as reader:
                reader.reading(list(ends))
                rebuilder = Rebuilder(TimelineStore(db[REBUILD_COLLECTION]), held=held)
                clock = Phases()
                built = await reader.replay(starts, ends, rebuilder.project, progress, batch)
                clock.mark("fold_s")
                await rebuilder.flush()
                clock.mark("write_s")
            return Folded(built.events, built.unreadable, len(rebuilder.written), clock.spent)
        finally:
            await client.close()

    return fold


async def rebuild(settings: CommonSettings, *, progress: Progress | None = None,
                  held: int = HELD_CASES, batch: int = 2000,
                  processes: int | None = None) -> RebuildReport:
    """Rebuild the tracking read model from offset 0 and swap it in (see the module doc).

    `held`: cases kept in memory before they are written out (shared out among the
    processes); `batch`: records per read; `processes`: how many fold the partitions apart
    (`replay.apart`; one per partition, up to twice this machine's cores, unless told)."""
    client = make_client(settings)
    db = service_db(client, settings, "tracking")
    try:
        async with LogReader(settings, principal_of("tracking")) as reader:
            await db.drop_collection(REBUILD_COLLECTION)
            # made once here: two processes making it at once may both try (FerretDB)
            await ensure_collections(db, [REBUILD_COLLECTION])
            beginnings, ends = await reader.bounds()
            clock = Phases()
            processes = processes or processes_for(len(ends))
            # the views held in memory, shared out: the rebuild's bound whatever the processes
            parts = await apart(folding(settings, held=max(1, held // processes), batch=batch),
                                beginnings, ends, processes=processes, progress=progress)
            # each group folded, then wrote: the phases of the slowest of each
            clock.spent.update({phase: max(part.phases[phase] for part in parts)
                                for phase in ("fold_s", "write_s")} if parts else {})
            clock.mark("fold_and_write_s")
            await swap_in(db, REBUILD_COLLECTION, COLLECTION)
            clock.mark("swap_s")
            live = TimelineStore(db[COLLECTION])
            _, now = await reader.bounds()
            caught = await reader.replay({tp: ends.get(tp, beginnings.get(tp, 0)) for tp in now},
                                         now, projector(live))
            built = sum(part.events for part in parts)
            unreadable = sum(part.unreadable for part in parts) + caught.unreadable
            # the rebuilt collection holds the cases written; only a catch-up can add more
            cases = await live.count() if caught.events else sum(part.cases for part in parts)
            await bump_generation(db[COLLECTION])  # every instance reloads its lists
            clock.mark("catch_up_s")
        log.info("tracking_rebuilt", events=built, cases=cases, caught_up=caught.events,
                 unreadable=unreadable, processes=len(parts), **clock.spent)
        return RebuildReport(events=built, unreadable=unreadable, caught_up=caught.events,
                             cases=cases, phases=clock.spent)
    finally:
        await client.close()
