"""The document store restarts during a load of cases through their lifecycle (on a
private stack of the test's own): every service says so on /readyz (503), recovers by
itself (200 again, no restart of the service), and nothing is lost — the log, tracking and
the metrics agree with each other and with a clean replay.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx
from faults.lifecycle import Clients, Load, drive
from faults.processes import Fleet, all_say
from faults.verify import (
    clean_replay,
    metrics_caught_up,
    metrics_counters,
    the_log,
    tracking_caught_up,
)
from helpers import eventually, settings_for
from stackfixtures import PrivateStack

from services.common.settings import CommonSettings

CASES = 20
"""At least: more are driven until every service is ready again, so the whole restart is
under load however fast the machine."""
AWAY_S = 6.0


async def test_a_store_restart_is_survived_without_a_service_restart_or_a_lost_case(
        private_stack: PrivateStack, tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:8]
    settings: CommonSettings = settings_for(private_stack.info.bootstrap_servers,
                                            private_stack.info.mongo_url, f"s{token}.",
                                            f"zs_{token}")
    started = time.monotonic()
    load = Load()
    async with Fleet(settings, tmp_path / "logs") as fleet:
        clients = Clients(fleet["intake"].url, fleet["routing"].url)
        async def restart_the_store() -> tuple[dict[str, int | None], dict[str, int | None]]:
            await asyncio.sleep(4.0)
            await asyncio.to_thread(private_stack.stop, "store")
            down = await eventually(lambda: all_say(fleet, 503), timeout=20,
                                    what="every service to say it is not ready")
            await asyncio.sleep(AWAY_S)
            await asyncio.to_thread(private_stack.start, "store")
            up = await eventually(lambda: all_say(fleet, 200), timeout=60,
                                  what="every service to be ready again")
            return down, up

        try:
            restarting = asyncio.create_task(restart_the_store())
            driven = await drive(load, clients, CASES, workers=12, key_prefix="store",
                                 within_s=150, until=restarting)
            down, up = await restarting
        finally:
            await clients.aclose()
        assert all(s.starts == 1 for s in fleet.services.values())  # none was restarted
        assert not load.unexpected, load.unexpected[:5]
        assert not load.stuck, f"{len(load.stuck)} cases stuck: {list(load.stuck.items())[:5]}"
        assert len(load.resolved) == driven >= CASES

        log = await the_log(settings)
        lost = load.submitted - log.cases
        assert not lost, f"{len(lost)} accepted cases are not in the log"
        assert log.resolved == load.resolved and log.resolutions == driven
        live = await tracking_caught_up(settings, log)
        assert set(live) == log.cases
        async with httpx.AsyncClient(base_url=fleet["metrics"].url, timeout=10) as http:
            summary = await metrics_caught_up(http, log)
        live_counters = await metrics_counters(settings)

    replayed = await clean_replay(settings)
    assert replayed.tracking == live
    assert replayed.counters == live_counters
    print("\nFAULT FIGURES", json.dumps({
        "test": "store restart", "cases": driven, "events": log.events, "lost": len(lost),
        "double_counted": summary["received"] - len(log.cases), "readiness_down": down,
        "readiness_up": up, "client": load.tally.figures(), "503s": load.refused_503,
        "seconds": round(time.monotonic() - started, 1)}))

