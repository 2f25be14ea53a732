"""The composition root: every service, built the same way, and the entries that serve them.

A service is one line of `SERVICES`: its settings class (pydantic-settings, read
from the environment with the prefix `ZAIBAN_`) and its runtime class, built as
`Runtime(settings, clock)`. Nothing else builds a service:

- `build(name)`: one service's runtime (tests, benchmarks, replays build it so too);
- `create_app(name)`: one service alone on its own port, as production runs it
  (`zaiban serve <service>`);
- `create_public_app()`: the public entry — every service's routes behind one
  address, with the web pages. Locally all of them run in this one process (the
  default of `make up`); in production each runs alone and an ingress routes the
  same paths to the owning service (see deploy/);
- `bus_access()`: what each service reads, writes and joins on Kafka, as its
  broker declares it — what its principal is granted (zaiban/topics.py).

Given a shared `CommonSettings` (the CLI's, a test's), each service reads its own
class from it (`CommonSettings.from_common`: the shared values, the service's own
read from the environment). This module is the one place that imports every
service; no service imports another (`tests/unit/test_architecture.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic

from fastapi import FastAPI
from pydantic import SecretStr

from services.common.clock import Clock
from services.common.http import build_app
from services.common.kafka import BusAccess, access_of
from services.common.runtime import S, ServiceRuntime
from services.common.settings import CommonSettings
from services.intake.service import IntakeService
from services.intake.settings import IntakeSettings
from services.metrics.service import MetricsService
from services.metrics.settings import MetricsSettings
from services.notify.service import NotifyService
from services.notify.settings import NotifySettings
from services.opendata.service import OpenDataService
from services.opendata.settings import OpenDataSettings
from services.routing.service import RoutingService
from services.routing.settings import RoutingSettings
from services.tracking.service import TrackingService
from services.tracking.settings import TrackingSettings
from services.web import web_routes


@dataclass(frozen=True)
class Service(Generic[S]):
    """One service: the settings it reads and the runtime they build."""

    settings: type[S]
    runtime: type[ServiceRuntime[S]]

    @property
    def name(self) -> str:
        return self.runtime.name

    def build(self, settings: CommonSettings | None = None,
              clock: Clock | None = None) -> ServiceRuntime[S]:
        own = self.settings.from_common(settings) if settings is not None else self.settings()
        return self.runtime(own, clock)


SPECS: tuple[Service[Any], ...] = (
    Service(IntakeSettings, IntakeService),
    Service(RoutingSettings, RoutingService),
    Service(TrackingSettings, TrackingService),
    Service(MetricsSettings, MetricsService),
    Service(NotifySettings, NotifyService),
    Service(OpenDataSettings, OpenDataService),
)
SERVICES = tuple(spec.name for spec in SPECS)
"""The services' names, in the order the public entry starts them."""


def spec_of(name: str) -> Service[Any]:
    for spec in SPECS:
        if spec.name == name:
            return spec
    raise ValueError(f"no service named {name!r}; one of: {', '.join(SERVICES)}")


def build(name: str, settings: CommonSettings | None = None,
          clock: Clock | None = None) -> ServiceRuntime[Any]:
    """Service `name`'s runtime, from `settings` (or the environment) and `clock`."""
    return spec_of(name).build(settings, clock)


def app_of(runtime: ServiceRuntime[Any]) -> FastAPI:
    """The app serving `runtime` alone; its lifespan starts and stops it."""
    return build_app([runtime], title=f"zaiban {runtime.name}")


def create_app(name: str, settings: CommonSettings | None = None,
               clock: Clock | None = None) -> FastAPI:
    """Service `name` alone, as production runs it."""
    return app_of(build(name, settings, clock))


def create_public_app(settings: CommonSettings | None = None, clock: Clock | None = None,
                      services: Sequence[str] = SERVICES) -> FastAPI:
    """The public entry: `services` (all, by default) behind one app, and the web pages."""
    runtimes = [build(name, settings, clock) for name in services]
    # The pages show the city as the first service runs it: changes reach them too.
    return build_app(runtimes, title="zaiban — public entry",
                     extra_routers=[web_routes(settings, runtimes[0].city if runtimes else None)])


# Stand-ins for building a service that is never started: nothing is signed or opened with them.
_DECLARATIONS_ONLY = {"kafka_security_protocol": "PLAINTEXT",
                      "auth_secret": SecretStr("declarations only"),
                      "master_key": SecretStr("A" * 43 + "=")}


async def bus_access(settings: CommonSettings,
                     services: Sequence[str] = SERVICES) -> dict[str, BusAccess]:
    """What each service reads, writes and joins on the bus, as its broker declares it (the
    declarations its AsyncAPI document is made of), for the topic prefix and the city of
    `settings`. The services are built, never started: this needs no secret, and no broker."""
    offline = settings.model_copy(update=_DECLARATIONS_ONLY)
    found: dict[str, BusAccess] = {}
    for name in services:
        runtime = build(name, offline)
        try:
            found[name] = access_of(runtime.broker)
        finally:
            await runtime.mongo.close()
    return found
