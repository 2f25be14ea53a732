"""The open-data service, wired: the case event log in, the public history out.

It reads the case event log as consumer group `<prefix>zaiban-opendata` (partitions spread
over N instances), turns each record into its public line (`lines.py`, pure), inserts the
batch's lines once each (`store.py`: a redelivered record changes nothing, a second copy of
an event in the log gives no second line), records each
partition's progress, and only then returns, so the offsets are committed after the lines
are stored (at least once, never lost). It serves the feed (`routes.py`).

Two hooks for the daily files (the days' part, `publishing.py` and `day_routes.py`):
- `on_start` is where the day publisher runs in the background:
  `self.background(Publisher(self.store, self.settings, self.clock, self.end_offsets)
  .run_forever)`; it closes a day once the feed has caught up with the log
  (`end_offsets`, `FeedStore.progress_of`) and settled;
- `__init__` is where its routes (`/open-data/days.json`, `/open-data/days/{day}.ndjson.gz`)
  join the feed's on `self.router`.
"""

from __future__ import annotations

from datetime import date, tzinfo
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.bus import Delivery
from services.common.clock import Clock
from services.common.kafka import kafka_options, principal_of
from services.common.logging import bound, get_logger
from services.common.runtime import ServiceRuntime
from services.opendata.lines import feed_line, line_text
from services.opendata.routes import install_routes
from services.opendata.settings import OpenDataSettings
from services.opendata.store import FeedStore, StoredLine

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

    async def on_start(self) -> None:
        """Where the day publisher starts, once there is one (`publishing.py`, the days'
        part): `self.background(Publisher(self.store, self.settings, self.clock,
        self.end_offsets).run_forever)`. Until then the feed is served, and no day is
        published."""

    async def project(self, deliveries: list[Delivery]) -> None:
        """Store the public line of each record of the batch, then the partitions' progress."""
        last_published = await self.store.last_published_day()
        lines = await self.store.first_copies([
            (str(delivery.envelope.event_id), self.line_of(delivery, last_published))
            for delivery in deliveries])
        added = await self.store.insert(lines)
        read_to: dict[int, int] = {}
        for delivery in deliveries:
            read_to[delivery.partition] = max(delivery.offset,
                                              read_to.get(delivery.partition, -1))
        await self.store.projected(read_to, self.clock.now())
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

    async def end_offsets(self) -> dict[int, int]:
        """Per partition of the case event log, the offset after its last record: where the
        feed has caught up (for the day publisher)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap, group_id=None,
            enable_auto_commit=False, **kafka_options(self.settings, principal_of(self.name)))
        await consumer.start()
        try:
            topic = self.topics.case_events
            await consumer.topics()  # the cluster's metadata, the log's partitions in it
            partitions = [TopicPartition(topic, p)
                          for p in sorted(consumer.partitions_for_topic(topic) or ())]
            ends = await consumer.end_offsets(partitions) if partitions else {}
            return {where.partition: offset for where, offset in ends.items()}
        finally:
            await consumer.stop()
