"""The chaos traffic gives each step of a case its own time (`Size.within_s`: how long a
client keeps trying one step), not one deadline for the whole drive: a slow machine that
needs longer than that for all the cases must not leave the cases amid their lifecycle
"stuck" (a full `zaiban chaos network` run reported 12 cases stuck, one per client, when
its 600 s ran out)."""

from __future__ import annotations

import asyncio
import itertools

import httpx
from pydantic import SecretStr

from zaiban.chaos.traffic import Clients, Load, drive

STEP_S = 0.05


def slow_services() -> httpx.MockTransport:
    """Intake and routing answering every request after STEP_S, as a busy machine does."""
    numbers = itertools.count()

    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(STEP_S)
        if request.url.path == "/api/cases":
            return httpx.Response(201, json={"case_id": f"ZB-{next(numbers)}"})
        return httpx.Response(200, json={})

    return httpx.MockTransport(answer)


async def test_every_step_has_its_own_time_however_long_the_whole_drive_takes() -> None:
    clients = Clients("http://intake", "http://routing", SecretStr("s" * 32))
    transport = slow_services()
    clients.intake = httpx.AsyncClient(base_url="http://intake", transport=transport)
    clients.routing = httpx.AsyncClient(base_url="http://routing", transport=transport)
    load = Load()
    # a case takes 4 steps (0.2 s); 6 cases one after another take 1.2 s, far past 0.5 s
    try:
        driven = await drive(load, clients, 6, workers=1, within_s=0.5)
    finally:
        await clients.aclose()
    assert driven == 6
    assert load.stuck == {} and load.unexpected == []
    assert len(load.submitted) == len(load.resolved) == 6
