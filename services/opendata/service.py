"""The open-data service, wired: the case event log in, the public history out.

It reads the case event log as consumer group `<prefix>zaiban-opendata` (partitions spread
over N instances), turns each record into its public line (`lines.py`, pure), inserts the
batch's lines once each (`store.py`: a redelivered record changes nothing, a second copy of
an event in the log gives no second line), records each partition's progress, stores whole
the blocks of lines those records complete (what the feed reads), and only then returns, so
the offsets are committed after the lines are stored (at least once, never lost). It serves the feed (`routes.py`).

It publishes the days too (`publishing.py`): in the background, each city day, once it has
ended, its grace has passed and the feed has caught up with the log (`CaseLogEnds`), becomes
an immutable gzipped file whose SHA-256 joins the hash chain; `day_routes.py` serves the
manifest and the files. Several instances may publish at once: a day is inserted once.
"""

from __future__ import annotations

from datetime import date, tzinfo
from zoneinfo import ZoneInfo

from services.common.bus import Delivery
from services.common.clock import Clock
from services.common.kafka import principal_of
from services.common.logging import bound, get_logger
from services.common.runtime import ServiceRuntime
from services.common.store import ensure_collections
from services.opendata.day_routes import day_routes
from services.opendata.lines import feed_line, line_text
from services.opendata.publishing import FILES, CaseLogEnds, Publisher, PublishingPolicy
from services.opendata.routes import install_routes
from services.opendata.settings import OpenDataSettings
from services.opendata.store import BLOCKS, DAYS, EVENTS, IDS, PROGRESS, FeedStore, StoredLine

log = get_logger("zaiban.opendata")


class OpenDataService(ServiceRuntime[OpenDataSettings]):
    name = "opendata"

    def __init__(self, settings: OpenDataSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        self.tz: tzinfo = ZoneInfo(self.city.current.city.timezone)  # days are the city's
        self.store = FeedStore(self.db)
        self.read_case_events(self.project, title="opendata: the public history, line by line",
                              max_records=settings.opendata_batch_max)
        install_routes(self.router, store=self.store, settings=settings)
        self.log_ends = CaseLogEnds(settings, principal_of(self.name), self.topics.case_events)
        self.publisher = Publisher(self.db, PublishingPolicy(
            tz=self.tz, grace_s=settings.opendata_grace_s, settle_s=settings.opendata_settle_s,
            every_s=settings.opendata_publish_every_s), self.clock, self.log_ends)
        self.router.include_router(day_routes(self.db, self.city.current.city.timezone))

    async def on_start(self) -> None:
        """The collections (`ensure_collections`), and the day publisher in the background."""
        await ensure_collections(self.db, [EVENTS, IDS, PROGRESS, DAYS, BLOCKS, FILES])
        self.background(self.publisher.run_forever)

    async def stop(self) -> None:
        await super().stop()
        await self.log_ends.stop()

    async def project(self, deliveries: list[Delivery]) -> None:
        """Store the public line of each record of the batch, then the partitions' progress."""
        last_published = await self.store.last_published_day()
        lines = await self.store.first_copies([
            (str(delivery.envelope.event_id), self.line_of(delivery, last_published))
            for delivery in deliveries])
        stored, added = await self.store.insert(lines)
        spans: dict[int, tuple[int, int]] = {}
        for delivery in deliveries:
            low, high = spans.get(delivery.partition, (delivery.offset, delivery.offset))
            spans[delivery.partition] = (min(low, delivery.offset), max(high, delivery.offset))
        await self.store.projected({p: high for p, (_, high) in spans.items()}, self.clock.now())
        await self.store.seal(spans, stored)
        last = deliveries[-1].envelope
        with bound(case_id=last.case_id, event_id=str(last.event_id)):
            log.debug("lines_projected", records=len(deliveries), added=added,
                      passed_over=len(deliveries) - added)

    def line_of(self, delivery: Delivery, last_published: date | None) -> StoredLine:
        envelope = delivery.envelope
        line = feed_line(envelope, partition=delivery.partition, offset=delivery.offset,
                         tz=self.tz, last_published=last_published)
        return StoredLine(partition=delivery.partition, offset=delivery.offset,
                          day=line.day, recorded_at=envelope.recorded_at, text=line_text(line))
