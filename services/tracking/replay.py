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

from dataclasses import dataclass

from services.common.bus import Delivery
from services.common.logging import get_logger
from services.common.replay import LogReader, Progress, Project, swap_in
from services.common.settings import CommonSettings
from services.common.store import make_client, service_db
from services.tracking.store import COLLECTION, REBUILD_COLLECTION, TimelineStore

log = get_logger("zaiban.tracking.replay")


@dataclass(frozen=True)
class RebuildReport:
    events: int
    unreadable: int
    caught_up: int
    cases: int


def projector(store: TimelineStore) -> Project:
    async def project(deliveries: list[Delivery]) -> int:
        projected = await store.project([d.envelope for d in deliveries])
        for envelope, reason in projected.failed:
            log.warning("replay_skipped_unprojectable", case_id=envelope.case_id,
                        event_id=str(envelope.event_id), reason=reason)
        return len(projected.failed)

    return project


async def rebuild(settings: CommonSettings, *, progress: Progress | None = None) -> RebuildReport:
    """Rebuild the tracking read model from offset 0 and swap it in (see the module doc)."""
    client = make_client(settings)
    db = service_db(client, settings, "tracking")
    try:
        async with LogReader(settings) as reader:
            await db.drop_collection(REBUILD_COLLECTION)
            fresh = TimelineStore(db[REBUILD_COLLECTION])
            await fresh.ensure_indexes()
            beginnings, ends = await reader.bounds()
            built = await reader.replay(beginnings, ends, projector(fresh), progress)
            await swap_in(db, REBUILD_COLLECTION, COLLECTION)
            live = TimelineStore(db[COLLECTION])
            _, now = await reader.bounds()
            caught = await reader.replay({tp: ends.get(tp, beginnings.get(tp, 0)) for tp in now},
                                         now, projector(live))
            cases = await live.count()
        log.info("tracking_rebuilt", events=built.events, cases=cases, caught_up=caught.events,
                 unreadable=built.unreadable + caught.unreadable)
        return RebuildReport(events=built.events, unreadable=built.unreadable + caught.unreadable,
                             caught_up=caught.events, cases=cases)
    finally:
        await client.close()
