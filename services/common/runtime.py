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
from typing import Any, Generic, TypeVar, overload

from fastapi import APIRouter
from prometheus_client import Gauge
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from contracts.envelope import Envelope
from contracts.topics import Topics
from services.common.auth import TokenCheck
from services.common.bus import (
    AuditTrail,
    BatchHandler,
    DeadLetters,
    E,
    EventLog,
    Reading,
    RevocationFeed,
    RevocationLog,
    every_one,
    held_until,
    make_broker,
    parse_envelope,
    subscribe_envelopes,
)
from services.common.catalogue import load_city
from services.common.cityconfig import CityFeed, CityLog, LiveCity
from services.common.clock import Clock, MeasuredClock, SystemClock, estimate, measure
from services.common.commits import Progress
from services.common.held import Held
from services.common.kafka import kafka_options, principal_of
from services.common.logging import configure_logging, get_logger
from services.common.rowfollower import RowFollower
from services.common.rowindex import RowIndex
from services.common.settings import CommonSettings, GatheringSettings
from services.common.stopping import within
from services.common.store import (
    WriteHealth,
    make_client,
    ping,
    report_failure,
    service_db,
    store_time,
)

log = get_logger("zaiban.runtime")

CLOCK_OFFSET = Gauge("zaiban_clock_offset_seconds",
                     "The store's clock minus this host's, as last measured (services/common/clock.py)",
                     ["service"])
CLOCK_RETRY_S = 5.0
"""How soon a measurement that failed (the store away) is tried again."""

S = TypeVar("S", bound=CommonSettings)


STOP_S = 20.0
"""How long a service's stop waits for its consumers and producer to close."""

READINESS_S = 2.0
"""How long /readyz waits for each dependency (all are asked at once)."""


class ServiceRuntime(Generic[S]):
    name: str = "service"

    def __init__(self, settings: S, clock: Clock | None = None) -> None:
        configure_logging(settings)
        self.settings: S = settings
        # The host's clock corrected against the store's, unless a test brings its own clock.
        self.clock: Clock = clock or (MeasuredClock() if settings.clock_from_store
                                      else SystemClock())
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
        self._progress: list[Progress] = []
        """What each case-log subscriber has handled, committed a moment at a time."""
        self._held = Held(self.topics.case_events)
        """The partitions of the case log this instance's handler holds (`read_case_events`:
        a service reads the case log as one handler)."""
        self._revocations: RevocationFeed | None = None
        # The city's configuration: deploy/config/ (version 0), then every change on the
        # configuration topic, which every instance reads (services/common/cityconfig.py).
        self.city = LiveCity(load_city(settings.config_dir))
        self._city_feed = CityFeed(self.broker, self.topics, self.name, self.city)
        self._feeds_read = asyncio.Event()
        self.broker.add_middleware(held_until(self._feeds_read, but=self._feed_topics))
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

    @overload
    def read_case_events(self, handle: BatchHandler[Envelope], *, title: str,
                         max_records: int = 500) -> None: ...

    @overload
    def read_case_events(self, handle: BatchHandler[E], *, title: str, max_records: int = 500,
                         read: Reading[E]) -> None: ...

    def read_case_events(self, handle: BatchHandler[Any], *, title: str, max_records: int = 500,
                         read: Reading[Any] = parse_envelope) -> None:
        """Feed the case event log to `handle` in batches, as this service's consumer group,
        each record read whole or as `read` reads it, dead-lettering what cannot be read
        (`subscribe_envelopes`); gathering live records into fewer batches when the service's
        settings say so (`GatheringSettings`)."""
        gathering = self.settings if isinstance(self.settings, GatheringSettings) else None
        self._progress.append(subscribe_envelopes(
            self.broker, topic=self.topics.case_events, group_id=self.group_id,
            dead_letters=self.dead_letters, handle=handle, read=read, max_records=max_records,
            title=title, health=self.store_writes, gathering=gathering, held=self._held))

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
        if isinstance(self.clock, MeasuredClock):  # before anything is dated
            await self.check_clock()
            self.background(self._keep_clock_honest)
        await self.on_start()
        await self.broker.start()
        # read side by side (each on its own consumer): the city as it is now, not as it
        # was; and, for a service that checks tokens, every revocation (none may pass)
        feeds = [self._city_feed.caught_up()]
        if self._revocations is not None:
            feeds.append(self._revocations.caught_up())
        await every_one(*feeds)
        self._feeds_read.set()  # what the other consumers received meanwhile goes on
        self.started = True
        log.info("service_started", service=self.name, group=self.group_id)

    def _feed_topics(self) -> set[str]:
        """The topics every instance reads whole before it handles anything else."""
        feeds = [self._city_feed, self._revocations]
        return {feed.topic for feed in feeds if feed is not None}

    async def follow_rows(self, index: RowIndex, collection: AsyncCollection[dict[str, Any]],
                          *, written_by_projection: bool = False) -> RowFollower:
        """Fill `index` with the rows of `collection` and keep it current from the case log,
        as this service's principal after its group's offsets (`rowfollower.py`); stopped
        with the service. Call it in `on_start`: the service is ready only once it is full.
        `written_by_projection`: this service's case log handler (`read_case_events`) is the
        only writer of `collection` and puts what it writes into the follower, so the
        follower leaves it the partitions it holds."""
        follower = RowFollower(index, collection, topic=self.topics.case_events,
                               group_id=self.group_id,
                               bootstrap_servers=self.settings.kafka_bootstrap,
                               kafka=kafka_options(self.settings, principal_of(self.name)),
                               held=self._held if written_by_projection else None)
        await follower.start()
        self._followers.append(follower)
        return follower

    async def stop(self) -> None:
        self.started = False
        self._feeds_read.clear()
        for follower in self._followers:
            await follower.stop()
        self._followers.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                if not await within(task, STOP_S):
                    log.warning("task_stop_cut_short", service=self.name, task=task.get_name(),
                                after_s=STOP_S)
        self._tasks.clear()
        # what the consumers handled, committed while they run; from now on each batch at once
        # (the broker away: what is not committed is read again, and skipped)
        for progress in self._progress:
            try:
                if not await within(progress.close(), STOP_S):
                    log.warning("commit_at_stop_cut_short", service=self.name, after_s=STOP_S)
            except Exception as error:
                log.warning("commit_at_stop_failed", service=self.name,
                            error=f"{type(error).__name__}: {error}"[:200])
        # A consumer leaving its group can wait for a rebalance that waits in turn on a
        # member gone quiet (up to the poll interval, minutes): a stop has a grace period,
        # as under any supervisor. What is left uncommitted is read again (at least once).
        if not await within(self.broker.stop(), STOP_S):
            log.warning("broker_stop_cut_short", service=self.name, after_s=STOP_S)
        await self.mongo.close()
        log.info("service_stopped", service=self.name)

    # -- the clock --------------------------------------------------------------

    async def check_clock(self) -> None:
        """Measure this host's clock against the store's and correct the service's time by
        the offset (`services/common/clock.py`); warn `clock_skew` when it is large. The store
        away: the last correction holds (the host's clock, before a first one)."""
        assert isinstance(self.clock, MeasuredClock)
        try:
            readings = await asyncio.wait_for(measure(lambda: store_time(self.mongo)), 10.0)
        except Exception as error:  # the store away: not a reason to stop the service
            log.warning("clock_unmeasured", service=self.name, error=str(error)[:200])
            return
        offset = estimate(readings)
        self.clock.correct(offset)
        CLOCK_OFFSET.labels(self.name).set(offset.offset_s)
        if abs(offset.offset_s) > self.settings.clock_skew_warn_s:
            log.warning("clock_skew", service=self.name, **offset.figures())

    async def _keep_clock_honest(self) -> None:
        assert isinstance(self.clock, MeasuredClock)
        while True:
            await asyncio.sleep(self.settings.clock_check_every_s if self.clock.measured
                                else CLOCK_RETRY_S)
            await self.check_clock()

    def clock_figures(self) -> dict[str, object]:
        """How this service's clock is kept, for /readyz."""
        if not isinstance(self.clock, MeasuredClock):
            return {"authority": type(self.clock).__name__}
        if self.clock.offset is None:
            return {"authority": "store", "measured": False}
        return {**self.clock.offset.figures(), "measured": True}

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
        """Each dependency and whether it answers now: asked side by side, each within
        READINESS_S, so /readyz answers within that however many are away (a probe that
        waits on a store that is gone would itself time out)."""
        checks: dict[str, Callable[[], Awaitable[Any]]] = {
            "broker": lambda: self.broker.ping(timeout=READINESS_S),
            "store": lambda: ping(self.mongo),
        }

        async def answers(check: Callable[[], Awaitable[Any]]) -> bool:
            try:
                return await asyncio.wait_for(check(), timeout=READINESS_S) is not False
            except Exception:
                return False

        # dating events by a clock not yet measured would be dating them by the host's
        measured = not isinstance(self.clock, MeasuredClock) or self.clock.measured
        found = await asyncio.gather(*(answers(check) for check in checks.values()))
        return {"started": self.started, "clock": measured,
                **dict(zip(checks, found, strict=True)), "store_writes": self.store_writes.ok}


@contextlib.asynccontextmanager
async def running(*runtimes: ServiceRuntime) -> AsyncIterator[None]:
    """Start runtimes in order (their consumers join their groups); however the block ends,
    stop those started, in reverse — each stop runs even if one before it failed."""
    async with contextlib.AsyncExitStack() as started:
        for runtime in runtimes:
            await runtime.start()
            started.push_async_callback(runtime.stop)
        yield
