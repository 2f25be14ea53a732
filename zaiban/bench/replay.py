"""`zaiban bench replay`: events per second rebuilding each read model from the log.

A history of `cases` cases is published; then each read model is rebuilt from
offset 0 exactly as `zaiban replay <model>` does it (a fresh collection, the
swap, the catch-up), and timed. Baseline: the raw consumer reading the same
range outside any group and bulk-writing equivalent documents
(`baseline.RawProjector`). Target: at least 25,000 events/s for each read model.
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass
from typing import Any

from zaiban.bench.baseline import RawProjector, raw_collection
from zaiban.bench.env import Bench, Positions, profiled
from zaiban.bench.projections import SHAPES, load, read_models
from zaiban.bench.report import Result, rate, ratio

TARGET_PER_S = 25_000.0


@dataclass(frozen=True)
class Sizes:
    cases: int = 4000
    resolved_share: float = 0.856


async def rebuild(bench: Bench, model: str, events: int,
                  profiles: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """Seconds to rebuild `model`, and the seconds of each of its phases."""
    module = importlib.import_module(f"services.{model}.replay")
    step = bench.steps.start(f"replay {model}", events)
    started = time.monotonic()
    async with profiled(bench, os.getpid(), f"replay-{model}", profiles):
        report = await module.rebuild(bench.settings, progress=lambda done, _total: step.to(done))
    step.done()
    return time.monotonic() - started, report.phases


async def baseline(bench: Bench, shape: str, events: int) -> float:
    client, collection = raw_collection(bench.settings, f"replay_{shape}")
    try:
        async with Positions(bench.settings) as positions:
            ends = await positions.ends(bench.topics.case_events)
        step = bench.steps.start(f"baseline replay ({shape} documents)", events)
        started = time.monotonic()
        await RawProjector(bench.settings, collection, shape).run(ends=ends)
        step.done()
        return time.monotonic() - started
    finally:
        await client.close()


async def run(bench: Bench, sizes: Sizes = Sizes()) -> Result:
    result = Result("replay", params=vars(sizes).copy())
    made = await load(bench, sizes.cases, round(sizes.cases * sizes.resolved_share), result)
    profiles: dict[str, Any] = {}
    for model in read_models():
        base_s = await baseline(bench, SHAPES[model], made.events)
        mine_s, phases = await rebuild(bench, model, made.events, profiles)
        mine, base = rate(made.events, mine_s), rate(made.events, base_s)
        result.add(f"baseline ({model} documents)", events=made.events, seconds=base_s,
                   events_per_s=base)
        result.add(f"zaiban replay {model}", events=made.events, seconds=mine_s,
                   events_per_s=mine, of_baseline=ratio(mine, base), **phases)
        result.check(f"replay {model} events per second", mine, TARGET_PER_S)
    if profiles:
        result.params["profiles"] = profiles
    return result
