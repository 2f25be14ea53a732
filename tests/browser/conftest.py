"""Fixtures for the browser tests: the whole platform behind one real HTTP server, and a
headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright.

`web` starts the public entry (`create_public_app`: every service and the web pages, on the
module's topics and databases) under uvicorn on a free loopback port; its lifespan starts the
services' runtimes. It is one platform per test module (starting one costs ~15 s): the
module's tests share its city, so each makes its own cases and finds them by their ids, never
by counting the city's. `browser` is one Chromium for the session; each test opens its own
contexts (a resident's phone, an officer's desk), so nothing leaks between them.
`map_web` is the same entry with its maps on `tiles`, a tile server on loopback (GCJ-02), one
per module too; `empty_map_web` is one of a test's own, for a test that counts the cases on
the city's maps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import uvicorn
from browser.webpages import Web
from helpers import eventually
from playwright.async_api import Browser, async_playwright
from servicefixtures import settings_in
from stackfixtures import a_namespace

from services.common.settings import CommonSettings
from services.composition import create_public_app
from services.web.settings import WebSettings
from zaiban.infra import StackInfo
from zaiban.tiles import TileServer

CHROMIUM = Path(os.environ.get("ZAIBAN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium: Playwright's own browser download cannot work on these machines."""
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make install` (it installs Debian's "
                    "chromium package), or set ZAIBAN_CHROMIUM", pytrace=False)
    return CHROMIUM


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(chromium_path),
                                                    args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def module_settings(stack: StackInfo) -> AsyncIterator[CommonSettings]:
    """`settings` for a module's tests together: its own topics and databases."""
    async with a_namespace(stack) as namespace, settings_in(namespace) as settings:
        yield settings


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def web(module_settings: CommonSettings) -> AsyncIterator[Web]:
    """Every service and the web pages behind one uvicorn server on a free port, for the
    module's tests (a fixture that sets the platform's environment must be module-scoped
    too, and come first)."""
    async with serving(module_settings) as served:
        yield served


@pytest.fixture(scope="module")
def tile_server() -> Iterator[TileServer]:
    """A tile server of plain tiles on loopback, counting what it serves (`zaiban/tiles.py`)."""
    with TileServer() as server:
        yield server


@pytest.fixture
def tiles(tile_server: TileServer) -> TileServer:
    """The module's tile server, its count of what it served started afresh for this test."""
    with tile_server.served.lock:
        tile_server.served.paths.clear()
    return tile_server


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def map_web(module_settings: CommonSettings, tile_server: TileServer
                  ) -> AsyncIterator[Web]:
    """The public entry whose maps draw on the tile server, GCJ-02 tiles as most Chinese
    cities' are: every point is converted on its way to the map and back."""
    async with serving(drawn_on(module_settings, tile_server)) as served:
        yield served


@pytest_asyncio.fixture(loop_scope="session")
async def empty_map_web(settings: CommonSettings, tile_server: TileServer
                        ) -> AsyncIterator[Web]:
    """`map_web` for one test alone: its city has no case but the test's."""
    async with serving(drawn_on(settings, tile_server)) as served:
        yield served


def drawn_on(settings: CommonSettings, tiles: TileServer) -> WebSettings:
    return WebSettings.from_common(settings, map_tiles=tiles.template, map_datum="gcj02",
                                   map_attribution="loopback tiles")


@contextlib.asynccontextmanager
async def serving(settings: CommonSettings) -> AsyncIterator[Web]:
    """The public entry for `settings` under uvicorn on a free loopback port, while inside."""
    app = create_public_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="web-under-test")

    async def started() -> bool:
        if task.done():
            task.result()  # the server failed to start: say why
        return server.started

    await eventually(started, timeout=60, what="the public entry to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Web(base_url=f"http://127.0.0.1:{port}", settings=settings)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=15)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
