"""The tracking service on the real stack, for the stories of this folder."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from helpers import client_for, running

from services.common.settings import CommonSettings
from services.composition import app_of, build
from services.tracking.service import TrackingService


@pytest_asyncio.fixture(loop_scope="session")
async def tracking(settings: CommonSettings) -> AsyncIterator[TrackingService]:
    service = build("tracking", settings)
    async with running(service):
        yield service


@pytest_asyncio.fixture(loop_scope="session")
async def http(tracking: TrackingService) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app_of(tracking)) as client:
        yield client
