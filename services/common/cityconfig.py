"""The city's configuration as it runs: read from the configuration topic, changed by admins.

`LiveCity` is what every instance of every service decides with: `.current` is the last
configuration it read. It starts from `deploy/config/` (version 0) and follows the
configuration topic (`Topics.city_config`), read by `CityFeed` from its beginning, outside
any consumer group, on every instance: a change reaches every one within moments, without
a restart. A service reads `.current` at the moment it decides, never once at start.

`CityLog` records a change (`CityChanged`, decided by `services/common/citychanges.py`;
the admins' HTTP door to it is `services/common/cityroutes.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import TypeAdapter

from contracts.cityconfig import CityChanged
from contracts.topics import Topics
from services.common.bus import (
    APPEND_TIMEOUT_S,
    CATCH_UP_TIMEOUT_S,
    Outlet,
    WholeTopic,
    described,
    records_of,
    typed,
)
from services.common.catalogue import CityConfig, as_files
from services.common.citychanges import Applied
from services.common.logging import get_logger

log = get_logger("zaiban.cityconfig")

READ_CHANGE: TypeAdapter[CityChanged] = TypeAdapter(CityChanged)


class LiveCity:
    """The configuration this instance runs with, and how it got there."""

    def __init__(self, initial: CityConfig) -> None:
        self.applied = Applied(initial)
        self.made: dict[int, str] = {}
        """Per version, the change id that made it: whose change won a version."""
        self.history: list[CityChanged] = []
        """The changes applied, in order."""
        self.applied_at: dict[int, float] = {}
        """Per version, when this instance applied it (`time.time()`)."""
        self._moved = asyncio.Event()
        self._listeners: list[Callable[[Applied], None]] = []

    @property
    def current(self) -> CityConfig:
        return self.applied.city

    @property
    def version(self) -> int:
        return self.applied.version

    def apply(self, event: CityChanged) -> bool:
        """Take `event` in; whether it made the next version."""
        after = self.applied.then(event)
        if after is self.applied:
            return False
        self.applied = after
        self.made[after.version] = str(event.change_id)
        self.history.append(event)
        self.applied_at[after.version] = time.time()
        self._moved.set()
        for listener in self._listeners:
            listener(after)
        return True

    def on_change(self, listener: Callable[[Applied], None]) -> None:
        """Call `listener` with each configuration this instance applies from now on."""
        self._listeners.append(listener)

    async def reaches(self, version: int, timeout_s: float) -> bool:
        """Wait until this instance runs `version` (or a later one); whether it did in time."""
        try:
            async with asyncio.timeout(timeout_s):
                while self.version < version:
                    self._moved.clear()
                    await self._moved.wait()
        except TimeoutError:
            return False
        return True


class CityLog:
    """Where a service records a change of the configuration. `record` returns once Kafka
    holds it (acks=all); Kafka away, it raises, which the HTTP edge answers 503."""

    def __init__(self, broker: KafkaBroker, topics: Topics, service: str) -> None:
        self.outlet = Outlet(broker, topics.city_config, schema=CityChanged,
                             title=f"{service}: the city's configuration changed",
                             description=described(Topics.city_config))

    async def record(self, event: CityChanged) -> None:
        async with asyncio.timeout(APPEND_TIMEOUT_S):
            await self.outlet.send(event.model_dump_json().encode(), key=event.key())
        log.info("city_changed", version=event.version, kind=event.change.kind,
                 code=event.change.code, action=event.change.action)


class CityFeed(WholeTopic[CityChanged]):
    """The configuration topic, read by this instance into `live`, whole (`WholeTopic`). An
    unreadable change is passed over: the configuration stays as it was."""

    unreadable = "city_change_unreadable"

    def __init__(self, broker: KafkaBroker, topics: Topics, service: str,
                 live: LiveCity) -> None:
        super().__init__(broker, topics.city_config, kind=READ_CHANGE, service=service,
                         title=f"{service}: the city's configuration, read by every instance",
                         description=described(Topics.city_config))
        self.live = live
        self.subscriber(typed(self._on_changed))

    async def _on_changed(self, event: CityChanged, message: KafkaMessage) -> None:
        if self.live.apply(event):
            log.info("city_applied", service=self.service, version=event.version)
        self._passed(records_of(message)[0])

    async def caught_up(self, timeout_s: float = CATCH_UP_TIMEOUT_S) -> None:
        """Wait until every change on the topic now has been read (the broker started)."""
        if await self._behind_after(timeout_s):
            raise RuntimeError(f"{self.service} could not read the city's configuration within "
                               f"{timeout_s:g}s: it does not start with an old one")
        log.info("city_read", service=self.service, version=self.live.version)


def described_city(live: LiveCity) -> dict[str, Any]:
    """The configuration as the admin API shows it: its version, the change that made it,
    and the configuration itself (as its files describe it)."""
    event = live.applied.event
    return {"version": live.version,
            "by": event.by if event else None,
            "at": event.at.isoformat() if event else None,
            "change": event.change.model_dump() if event else None,
            "city": live.current.model_dump(mode="json", by_alias=True),
            "files": sorted(as_files(live.current))}
