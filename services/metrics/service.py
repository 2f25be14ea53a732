"""The metrics service, wired: the case event log in, the public figures out.

It reads the case event log as consumer group `<prefix>zaiban-metrics`
(partitions spread over N instances), folds each batch into the figures of
each partition (`store.py` around the pure `ledger.fold`), and serves the
routes of `api.py`, plus Prometheus gauges of the headline figures and
counters of its own work on /metrics (`telemetry.py`). `replay.py` rebuilds
the figures from offset 0.
"""

from __future__ import annotations

import asyncio
import time
from datetime import tzinfo
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from aiokafka import ConsumerRecord
from pymongo.asynchronous.collection import AsyncCollection

from services.common import collector
from services.common.bus import DeadLetters
from services.common.catalogue import load_city
from services.common.clock import Clock
from services.common.kafka import principal_of
from services.common.logging import get_logger
from services.common.runtime import ServiceRuntime
from services.common.settings import CommonSettings
from services.common.store import ensure_collections
from services.metrics.api import install_routes
from services.metrics.reading import CountedDelivery, read_counted
from services.metrics.report import Figures
from services.metrics.settings import MetricsSettings
from services.metrics.store import FigureStore, KafkaGapReader
from services.metrics.telemetry import DEAD_LETTERS, observe_batch, show_headline

log = get_logger("zaiban.metrics")


class CountedDeadLetters(DeadLetters):
    """Dead letters, counted on /metrics."""

    async def put(self, record: ConsumerRecord[Any, Any], reason: str, *,
                  withhold: bool = False) -> None:
        DEAD_LETTERS.inc()
        await super().put(record, reason, withhold=withhold)


def city_timezone(settings: CommonSettings) -> tzinfo:
    """Days are the city's days (deploy/config/districts.yaml: city.timezone)."""
    return ZoneInfo(load_city(settings.config_dir).city.timezone)


def figure_store(collection: AsyncCollection[dict[str, Any]], settings: MetricsSettings,
                 tz: tzinfo) -> FigureStore:
    """The writer and reader of the figures in `collection` (the live one, or a rebuild)."""
    return FigureStore(collection, tz=tz, window=settings.metrics_dedupe_window,
                       gaps=KafkaGapReader(settings, principal_of("metrics")),
                       days=collection.database[f"{settings.metrics_collection}_days"])


class MetricsService(ServiceRuntime[MetricsSettings]):
    name = "metrics"

    def __init__(self, settings: MetricsSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        self.store = figure_store(self.db[settings.metrics_collection], settings,
                                  city_timezone(settings))
        self.read_case_events(self.project, title="metrics: public figures",
                              max_records=settings.metrics_batch_max, read=read_counted)
        install_routes(self.router, store=self.store, city=self.city, seen=show_headline,
                       ranking_min_cases=settings.metrics_ranking_min_cases)

    @cached_property
    def dead_letters(self) -> DeadLetters:
        return CountedDeadLetters(self.broker, self.topics, self.name)

    async def on_start(self) -> None:
        collector.for_folding()  # this process folds the log (`collector.py`)
        await ensure_collections(self.db, [self.store.collection.name, self.store.days.name])
        self.background(self.refresh_gauges)

    async def project(self, deliveries: list[CountedDelivery]) -> None:
        started = time.perf_counter()
        applied = await self.store.apply(deliveries)
        observe_batch(applied, time.perf_counter() - started)
        log.debug("figures_applied", records=len(deliveries), applied=applied.applied,
                  duplicates=applied.duplicates, redelivered=applied.redelivered)

    async def refresh_gauges(self) -> None:
        while True:
            try:
                show_headline(Figures.of(await self.store.counters()).overall())
            except Exception as error:  # the store may be away for a while; try again later
                log.warning("gauges_not_refreshed", error=str(error) or type(error).__name__)
            await asyncio.sleep(self.settings.metrics_gauge_refresh_s)
