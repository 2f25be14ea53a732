"""kill -9 under load: four services as separate processes on the real stack, cases driven
through their lifecycle over HTTP (ZAIBAN_FAULT_CASES, at least 40 by default, and more
until the last kill: on FerretDB 1.24 and two cores routing folds a few cases a second, and
the suite has a budget), and every service killed with SIGKILL at a random moment while
cases are being driven, once each (ZAIBAN_FAULT_KILLS), and started again.

Then: every case a resident was told "accepted" (201) is in the log and in tracking's read
model; the metrics count each case and each resolution once; and both read models equal a
clean replay of the log.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from pathlib import Path

import httpx
from faults.lifecycle import Clients, Load, drive
from faults.processes import Fleet
from faults.verify import (
    clean_replay,
    metrics_caught_up,
    metrics_counters,
    the_log,
    tracking_caught_up,
)

from services.common.settings import CommonSettings
from services.composition import SERVICES

CASES = int(os.environ.get("ZAIBAN_FAULT_CASES", "40"))
KILLS_PER_SERVICE = int(os.environ.get("ZAIBAN_FAULT_KILLS", "1"))
PIPELINE = tuple(name for name in SERVICES if name not in ("notify", "opendata"))
"""The services a case passes through and is counted by. Notify tells residents and has its
own kill -9 test (test_notify_under_kills.py); opendata publishes the log and is checked
against it on the stack (tests/integration/opendata); here they would only add restarts."""


async def kill_at_random(fleet: Fleet, rng: random.Random, kills: list[str]) -> None:
    """Each service killed KILLS_PER_SERVICE times, in random order, at random moments."""
    order = [name for name in fleet.services for _ in range(KILLS_PER_SERVICE)]
    rng.shuffle(order)
    for name in order:
        await asyncio.sleep(rng.uniform(0.5, 3.0))
        service = fleet[name]
        service.kill()
        kills.append(name)
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        service.start()
        await service.ready()


async def test_killing_each_service_under_load_loses_nothing_and_counts_nothing_twice(
        settings: CommonSettings, tmp_path: Path) -> None:
    started = time.monotonic()
    rng = random.Random(7)
    load, kills = Load(), list[str]()
    async with Fleet(settings, tmp_path / "logs", names=PIPELINE) as fleet:
        clients = Clients(fleet["intake"].url, fleet["routing"].url)
        try:
            chaos = asyncio.create_task(kill_at_random(fleet, rng, kills))
            # cases are driven until the last kill is over: each kill falls under load
            driven = await drive(load, clients, CASES, workers=12, within_s=240, until=chaos)
            await chaos
        finally:
            await clients.aclose()
        assert not load.unexpected, load.unexpected[:5]
        assert not load.stuck, f"{len(load.stuck)} cases stuck: {list(load.stuck.items())[:5]}"
        assert len(load.resolved) == driven >= CASES
        assert sorted(kills) == sorted(PIPELINE * KILLS_PER_SERVICE)

        # the services catch up; then the log, tracking and the metrics agree
        log = await the_log(settings)
        lost = load.submitted - log.cases
        assert not lost, f"{len(lost)} accepted cases are not in the log: {sorted(lost)[:5]}"
        assert log.cases == load.submitted  # no case the client was not told about
        assert log.resolved == load.resolved and log.resolutions == len(load.resolved)
        live = await tracking_caught_up(settings, log)
        assert set(live) == load.submitted
        async with httpx.AsyncClient(base_url=fleet["metrics"].url, timeout=10) as http:
            summary = await metrics_caught_up(http, log)
        assert summary["received"] == len(log.cases) == driven  # nothing counted twice
        assert summary["resolved"] == len(log.resolved) == driven
        live_counters = await metrics_counters(settings)

    replayed = await clean_replay(settings)
    assert replayed.tracking == live, "tracking differs from a clean replay"
    assert replayed.counters == live_counters, "the figures differ from a clean replay"

    figures = {"test": "kill -9 under load", "cases": driven, "kills": len(kills),
               "kills_by_service": {n: kills.count(n) for n in fleet.services},
               "restarts": sum(s.starts - 1 for s in fleet.services.values()),
               "events": log.events, "log_records": log.records,
               "republished_copies": log.records - log.events,
               "lost": len(lost), "double_counted": summary["received"] - len(log.cases),
               "client": load.tally.figures(), "503s": load.refused_503,
               "seconds": round(time.monotonic() - started, 1)}
    print("\nFAULT FIGURES", json.dumps(figures))
