"""Running scenarios: each in a fresh corner of the stack, shown as a table, kept as JSON.

`zaiban bench <scenario>` runs one; `zaiban bench all` (what `make bench`
runs) runs every one with sizes that fit a few minutes on two cores and ends
with one table of every target.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from zaiban.bench import (
    bus_security,
    e2e,
    intake,
    lifecycle,
    memory,
    opendata,
    projections,
    reads,
    replay,
    scale,
    seed,
)
from zaiban.bench.env import RESULTS, Bench, opened, usage
from zaiban.bench.report import Result, show, summary_table, write

Scenario = Callable[[Bench, Any], Awaitable[Result]]


@dataclass(frozen=True)
class Entry:
    run: Scenario
    sizes: Any
    """The sizes `make bench` uses (each scenario's own defaults are its standalone ones)."""
    partitions: int = 3


SCENARIOS: dict[str, Entry] = {
    "intake": Entry(intake.run, intake.Sizes(requests=1500, concurrency=32, seconds=40)),
    "projections": Entry(projections.run, projections.Sizes(cases=1500)),
    "e2e": Entry(e2e.run, e2e.Sizes(rate=200, seconds=15)),
    "replay": Entry(replay.run, replay.Sizes(cases=2000)),
    "seed": Entry(seed.run, seed.Sizes.scaled(1500)),
    "scale": Entry(scale.run, scale.Sizes(cases=1000), partitions=scale.PARTITIONS),
    "bus-security": Entry(bus_security.run, bus_security.Sizes(requests=600, concurrency=16,
                                                              seconds=30)),
    "opendata": Entry(opendata.run, opendata.Sizes(cases=1500)),
    "reads": Entry(reads.run, reads.Sizes(cases=(3000, 30_148), seconds=10.0)),
    "memory": Entry(memory.run, memory.Sizes.scaled(600, timeout_s=300)),
    "lifecycle": Entry(lifecycle.run, lifecycle.Sizes(cases=1500)),
}


async def run_one(name: str, sizes: Any, *, console: Console | None, profile: bool = False,
                  store_url: str | None = None, folder: Path = RESULTS) -> Result:
    entry = SCENARIOS[name]
    started = time.monotonic()
    async with opened(console=console, mongo_url=store_url, partitions=entry.partitions,
                      folder=folder, profile=profile) as bench:
        result = await entry.run(bench, sizes)
        result.params["stack"] = bench.stack_versions
        result.peak_rss_mb = {**bench.peaks, "bench process": own_peak_rss_mb()}
    result.wall_s = time.monotonic() - started
    return result


def own_peak_rss_mb() -> float:
    """The bench's own process: the load generator and the services a scenario runs in it."""
    return usage(os.getpid()).peak_rss_mb


def run(names: list[str], sizes: dict[str, Any] | None = None, *, console: Console,
        profile: bool = False, store_url: str | None = None, folder: Path = RESULTS
        ) -> list[Result]:
    """Run scenarios one after the other; show and keep each as it finishes."""
    results: list[Result] = []
    for name in names:
        chosen = (sizes or {}).get(name, SCENARIOS[name].sizes)
        console.rule(f"zaiban bench {name}")
        result = asyncio.run(run_one(name, chosen, console=console, profile=profile,
                                     store_url=store_url, folder=folder))
        show(result, console)
        path = write(result, folder)
        console.print(f"  [dim]figures: {path}[/dim]")
        results.append(result)
    if len(results) > 1:
        console.print(summary_table(results))
    return results
