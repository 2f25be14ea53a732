"""The public entry on one port: every service's routes behind one address.

Locally all four services run in this one process (the default of `make up`);
in production each service runs alone (`zaiban serve <service>`) and an
ingress routes the same paths to the owning service (see deploy/).
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import FastAPI

from services.common.clock import Clock
from services.common.http import build_app
from services.common.runtime import ServiceRuntime
from services.common.settings import CommonSettings
from services.web import web_routes

SERVICES = ("intake", "routing", "tracking", "metrics")


def make_service(name: str, settings: CommonSettings | None = None,
                 clock: Clock | None = None) -> ServiceRuntime:
    """One service's runtime, with its own settings object read from the environment."""
    if name == "intake":
        from services.intake.service import IntakeService
        from services.intake.settings import IntakeSettings

        return IntakeService(_as(IntakeSettings, settings), clock)
    if name == "routing":
        from services.routing.service import RoutingService
        from services.routing.settings import RoutingSettings

        return RoutingService(_as(RoutingSettings, settings), clock)
    if name == "tracking":
        from services.tracking.service import TrackingService
        from services.tracking.settings import TrackingSettings

        return TrackingService(_as(TrackingSettings, settings), clock)
    if name == "metrics":
        from services.metrics.service import MetricsService
        from services.metrics.settings import MetricsSettings

        return MetricsService(_as(MetricsSettings, settings), clock)
    raise ValueError(f"no service named {name!r}; one of: {', '.join(SERVICES)}")


S = TypeVar("S", bound=CommonSettings)


def _as(kind: type[S], settings: CommonSettings | None) -> S:
    if settings is None:
        return kind()
    return kind.model_validate(settings.model_dump())


def create_public_app(settings: CommonSettings | None = None, clock: Clock | None = None,
                      services: tuple[str, ...] = SERVICES) -> FastAPI:
    runtimes = [make_service(name, settings, clock) for name in services]
    return build_app(runtimes, title="zaiban — public entry", extra_routers=[web_routes(settings)])
