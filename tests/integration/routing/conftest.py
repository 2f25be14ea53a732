"""The routing service on the real stack, for the stories of this folder: each module sets
the time (`clock`), and may run routing for a city of its own (`city_dir`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio
from helpers import client_for, running

from services.common.clock import ManualClock
from services.common.http import build_app
from services.common.settings import CommonSettings
from services.routing.service import RoutingService
from services.routing.settings import RoutingSettings


@pytest_asyncio.fixture(loop_scope="session")
async def city_dir(settings: CommonSettings) -> Path:
    """The city routing runs: the deployment's."""
    return settings.config_dir


@pytest_asyncio.fixture(loop_scope="session")
async def routing(settings: CommonSettings, clock: ManualClock,
                  city_dir: Path) -> AsyncIterator[RoutingService]:
    service = RoutingService(RoutingSettings.from_common(
        settings, sweep_every_s=0.2, relay_every_s=1.0, config_dir=city_dir), clock=clock)
    async with running(service):
        yield service


@pytest_asyncio.fixture(loop_scope="session")
async def http(routing: RoutingService) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(build_app([routing], title="routing")) as client:
        yield client
