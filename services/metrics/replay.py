"""Rebuild the figures from the log (what `zaiban replay metrics` runs).

1. read the case event log from offset 0 up to its end as it is *now* (E1),
   folding it into a fresh collection, `<collection>_rebuild`;
2. swap it in: drop the live collection, rename the rebuild to its name
   (retried if a live consumer recreates it in between);
3. catch up: apply the log from E1 to its end now. The running consumers keep
   writing the same collection by name; every write is fenced by the offset
   the partition document holds, and a writer that finds a hole before its
   batch reads it from the log first, so whichever writer gets to a record
   first applies it, exactly once;
4. delete the month documents of the figures by day (`<collection>_days`) of
   the lineages the swap replaced (see `store.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common import collector
from services.common.kafka import principal_of
from services.common.logging import get_logger
from services.common.replay import LogReader, Phases, Progress, Project, swap_in
from services.common.settings import CommonSettings
from services.common.store import ensure_collections, make_client, service_db
from services.metrics.reading import Counted, CountedDelivery, read_counted
from services.metrics.report import Figures
from services.metrics.service import city_timezone, figure_store
from services.metrics.settings import MetricsSettings
from services.metrics.store import FigureStore

log = get_logger("zaiban.metrics.replay")


@dataclass(frozen=True)
class RebuildReport:
    events: int
    unreadable: int
    caught_up: int
    received: int
    resolved: int
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds in each phase: fold (reading, folding and writing), swap, catch-up."""


def projector(store: FigureStore) -> Project[Counted]:
    async def project(deliveries: list[CountedDelivery]) -> int:
        await store.apply(deliveries)
        return 0  # the figures take every readable event; unreadable ones never get here

    return project


async def rebuild(settings: CommonSettings, *, progress: Progress | None = None) -> RebuildReport:
    """Rebuild the figures from offset 0 and swap them in (see the module doc)."""
    collector.for_folding()
    metrics = MetricsSettings.from_common(settings)
    live_name = metrics.metrics_collection
    rebuild_name = f"{live_name}_rebuild"
    tz = city_timezone(metrics)
    client = make_client(metrics)
    db = service_db(client, metrics, "metrics")
    try:
        async with LogReader(metrics, principal_of("metrics"), read_counted) as reader:
            await db.drop_collection(rebuild_name)
            # made here: a log with nothing in it writes no figures, and the swap renames it
            await ensure_collections(db, [rebuild_name])
            fresh = figure_store(db[rebuild_name], metrics, tz)
            beginnings, ends = await reader.bounds()
            clock = Phases()
            built = await reader.replay(beginnings, ends, projector(fresh), progress)
            clock.mark("fold_s")
            await swap_in(db, rebuild_name, live_name)
            clock.mark("swap_s")
            live = figure_store(db[live_name], metrics, tz)
            _, now = await reader.bounds()
            caught = await reader.replay({tp: ends.get(tp, beginnings.get(tp, 0)) for tp in now},
                                         now, projector(live))
            forgotten = await live.forget_other_lineages()
            overall = Figures.of(await live.counters()).overall()
            clock.mark("catch_up_s")
        log.info("figures_rebuilt", events=built.events, caught_up=caught.events,
                 month_documents_forgotten=forgotten,
                 unreadable=built.unreadable + caught.unreadable, received=overall.received,
                 resolved=overall.resolved, **clock.spent)
        return RebuildReport(events=built.events, unreadable=built.unreadable + caught.unreadable,
                             caught_up=caught.events, received=overall.received,
                             resolved=overall.resolved, phases=clock.spent)
    finally:
        await client.close()
