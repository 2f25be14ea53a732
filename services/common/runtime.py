"""What every service process holds: broker, store, clock, topics, HTTP routes.

A service subclasses `ServiceRuntime[ItsSettings]`: it is built from its own
settings object and a clock, `Service(settings, clock)`, declares its
subscribers on `broker` and its HTTP routes on `router`, and adds background
tasks in `on_start`. The composition root (`services/composition.py`) builds
every service that way; the same runtime object runs alone (`zaiban serve
<service>`), inside the local all-in-one entry, or inside a test with a
`ManualClock`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from functools import cached_property
from typing import Any, Generic, TypeVar

from fastapi import APIRouter
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from contracts.topics import Topics
from services.common.auth import TokenCheck
from services.common.bus import (
    AuditTrail,
    BatchHandler,
    DataOf,
    DeadLetters,
    EventLog,
    RevocationFeed,
    RevocationLog,
    make_broker,
    subscribe_envelopes,
)
from services.common.catalogue import load_city
from services.common.cityconfig import CityFeed, CityLog, LiveCity
from services.common.clock import Clock, SystemClock
from services.common.kafka import kafka_options, principal_of
from services.common.logging import configure_logging, get_logger
from services.common.rowfollower import RowFollower
from services.common.rowindex import RowIndex
from services.common.settings import CommonSettings
from services.common.store import WriteHealth, make_client, ping, report_failure, service_db

log = get_logger("zaiban.runtime")

S = TypeVar("S", bound=CommonSettings)


class ServiceRuntime(Generic[S]):
    name: str = "service"

    def __init__(self, settings: S, clock: Clock | None = None) -> None:
        configure_logging(settings)
        self.settings: S = settings
        self.clock: Clock = clock or SystemClock()
        self.topics = Topics(settings.topic_prefix)
        self.broker = make_broker(settings, self.name)
        self.mongo: AsyncMongoClient[dict[str, Any]] = make_client(settings)
        self.db: AsyncDatabase[dict[str, Any]] = service_db(self.mongo, settings, self.name)
        self.router = APIRouter()
        self.group_id = f"{settings.topic_prefix}zaiban-{self.name}"
        self.store_writes = WriteHealth()
        """Whether the consumers' writes go through (/readyz): a store can answer a ping and
        refuse every write (its disk full)."""
        self._tasks: list[asyncio.Task[Any]] = []
        self._followers: list[RowFollower] = []
        self._revocations: RevocationFeed | None = None
        # The city's configuration: deploy/config/ (version 0), then every change on the
        # configuration topic, which every instance reads (services/common/cityconfig.py).
        self.city = LiveCity(load_city(settings.config_dir))
        self._city_feed = CityFeed(self.broker, self.topics, self.name, self.city)
        self.started = False

    # What a service writes is declared on its broker (and so in its AsyncAPI document)
    # when the service first takes it: only intake and routing record case events, only
    # a service that shows staff personal data records reads of it.

    @cached_property
    def events(self) -> EventLog:
        """The case event log, for a service that records events."""
        return EventLog(self.broker, self.topics, self.name)

    @cached_property
    def audit(self) -> AuditTrail:
        """The audit trail of staff reads of personal data."""
        return AuditTrail(self.broker, self.topics, self.name)

    @cached_property
    def dead_letters(self) -> DeadLetters:
        """This service's dead-letter topic."""
        return DeadLetters(self.broker, self.topics, self.name)

    @cached_property
    def revocation_log(self) -> RevocationLog:
        """Where this service records that staff access was taken back (admins' route)."""
        return RevocationLog(self.broker, self.topics, self.name)

    @cached_property
    def city_log(self) -> CityLog:
        """Where this service records changes of the city's configuration (admins' routes)."""
        return CityLog(self.broker, self.topics, self.name)

    def read_case_events(self, handle: BatchHandler, *, title: str, max_records: int = 500,
                         data_of: DataOf | None = None) -> None:
        """Feed the case event log to `handle` in batches, as this service's consumer group,
        dead-lettering what cannot be read (`subscribe_envelopes`)."""
        subscribe_envelopes(self.broker, topic=self.topics.case_events, group_id=self.group_id,
                            dead_letters=self.dead_letters, handle=handle,
                            max_records=max_records, title=title, data_of=data_of,
                            health=self.store_writes)

    # A service that checks tokens takes `tokens` when it builds its routes; so it reads
    # every revocation of staff access, on every instance, and answers nothing before.

    @cached_property
    def tokens(self) -> TokenCheck:
        """How this service checks staff tokens and Open311 api keys: signature, life, kind,
        and the revocations this instance reads from the bus (`RevocationFeed`)."""
        self._revocations = RevocationFeed(self.broker, self.topics, self.name)
        return TokenCheck(self.settings.secret, self._revocations.revocations)

    # -- lifecycle --------------------------------------------------------------

    async def on_start(self) -> None:
        """Indexes, recovery, background tasks: override in a service."""

    async def start(self) -> None:
        await self.on_start()
        await self.broker.start()
        if self._revocations is not None:  # it checks tokens: not one revoked may pass
            await self._revocations.caught_up()
        await self._city_feed.caught_up()  # decides with the city as it is now, not as it was
        self.started = True
        log.info("service_started", service=self.name, group=self.group_id)

    async def follow_rows(self, index: RowIndex,
                          collection: AsyncCollection[dict[str, Any]]) -> RowFollower:
        """Fill `index` with the rows of `collection` and keep it current from the case log,
        as this service's principal after its group's offsets (`rowfollower.py`); stopped
        with the service. Call it in `on_start`: the service is ready only once it is full."""
        follower = RowFollower(index, collection, topic=self.topics.case_events,
                               group_id=self.group_id,
                               bootstrap_servers=self.settings.kafka_bootstrap,
                               kafka=kafka_options(self.settings, principal_of(self.name)))
        await follower.start()
        self._followers.append(follower)
        return follower

    async def stop(self) -> None:
        self.started = False
        for follower in self._followers:
            await follower.stop()
        self._followers.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.broker.stop()
        await self.mongo.close()
        log.info("service_stopped", service=self.name)

    def background(self, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._tasks.append(asyncio.create_task(make(), name=f"{self.name}-background"))

    def every(self, seconds: float, work: Callable[[], Awaitable[Any]]) -> None:
        """Run `work` now and every `seconds` in the background, surviving its failures."""

        async def forever() -> None:
            while True:
                try:
                    await work()
                except Exception as error:
                    report_failure(log, "background_work_failed", error,
                                   work=getattr(work, "__name__", "?"))
                await asyncio.sleep(seconds)

        self.background(forever)

    # -- readiness --------------------------------------------------------------

    async def readiness(self) -> dict[str, bool]:
        """Each dependency and whether it answers now."""
        checks: dict[str, Callable[[], Awaitable[Any]]] = {
            "broker": lambda: self.broker.ping(timeout=2.0),
            "store": lambda: ping(self.mongo),
        }
        results: dict[str, bool] = {"started": self.started}
        for name, check in checks.items():
            try:
                answer = await asyncio.wait_for(check(), timeout=3.0)
                results[name] = answer is not False
            except Exception:
                results[name] = False
        results["store_writes"] = self.store_writes.ok
        return results


@contextlib.asynccontextmanager
async def running(*runtimes: ServiceRuntime) -> AsyncIterator[None]:
    """Start runtimes in order (their consumers join their groups); however the block ends,
    stop those started, in reverse — each stop runs even if one before it failed."""
    async with contextlib.AsyncExitStack() as started:
        for runtime in runtimes:
            await runtime.start()
            started.push_async_callback(runtime.stop)
        yield
