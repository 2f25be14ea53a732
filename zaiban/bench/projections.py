"""`zaiban bench projections`: events per second through tracking and through metrics.

A history of `cases` cases (through the real deciders, `workload.history`) is
published to the case event log first; then each read model starts with an
empty store and consumes it all as its consumer group, in this process, the
way `zaiban serve` runs it. The time runs from the service's start (joining
the group included) until its group has committed every record: the records
are then in the read model (offsets are committed only after the write).

Baseline: a raw aiokafka consumer in a group of its own, reading the same
events and bulk-writing equivalent documents to the same store
(`baseline.RawProjector`). Target: each read model at least 80% of its baseline.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.common.runtime import ServiceRuntime
from services.composition import build
from zaiban.bench.baseline import RawProjector, raw_collection
from zaiban.bench.env import Bench, Positions, profiled, running
from zaiban.bench.report import Result, rate, ratio
from zaiban.bench.workload import History, history, publish

TARGET_RATIO = 0.80
SHAPES = {"tracking": "tracking", "metrics": "metrics"}


@dataclass(frozen=True)
class Sizes:
    cases: int = 3000
    resolved_share: float = 0.856
    timeout_s: float = 600.0


def read_models() -> list[str]:
    """Tracking, and metrics once it exists in this checkout."""
    try:
        import services.metrics.service  # noqa: F401
    except ImportError:
        return ["tracking"]
    return ["tracking", "metrics"]


async def load(bench: Bench, cases: int, resolved: int, result: Result) -> History:
    """Generate (or take from the cache) and publish a history; note how long each took."""
    step = bench.steps.start(f"histories of {cases:,} cases (deciders)", cases)
    started = time.monotonic()
    made = history(bench.settings, cases, resolved, progress=lambda done, _: step.to(done))
    step.done()
    result.add("load generator", history_s=time.monotonic() - started, events=made.events)
    step = bench.steps.start(f"publishing {made.events:,} events", made.events)
    started = time.monotonic()
    await publish(bench.settings, made.records, progress=step.to)
    step.done()
    took = time.monotonic() - started
    result.add("load generator", publish_per_s=rate(made.events, took))
    return made


async def through_service(bench: Bench, name: str, events: int, limit_s: float,
                          profiles: dict[str, Any],
                          make: Callable[[], ServiceRuntime] | None = None) -> float:
    """Seconds from the service's start until its group committed `events` records."""
    service = make() if make is not None else build(name, bench.settings)
    step = bench.steps.start(f"{name}: projecting", events)
    async with Positions(bench.settings) as positions:
        started = time.monotonic()
        async with profiled(bench, os.getpid(), f"projections-{name}", profiles), \
                running(service):
            finished = await positions.wait_committed(service.group_id, bench.topics.case_events,
                                                      events, step=step, within_s=limit_s)
    step.done()
    return finished - started


async def through_baseline(bench: Bench, shape: str, events: int) -> float:
    client, collection = raw_collection(bench.settings, f"raw_{shape}")
    try:
        projector = RawProjector(bench.settings, collection, shape,
                                 group=f"{bench.settings.topic_prefix}bench-raw-{shape}")
        step = bench.steps.start(f"baseline ({shape} documents)", events)
        started = time.monotonic()
        task = asyncio.create_task(projector.run(until=events))
        while not task.done():
            step.to(projector.applied)
            await asyncio.sleep(0.1)
        await task
        step.done()
        return time.monotonic() - started
    finally:
        await client.close()


async def run(bench: Bench, sizes: Sizes = Sizes()) -> Result:
    result = Result("projections", params=vars(sizes).copy())
    resolved = round(sizes.cases * sizes.resolved_share)
    made = await load(bench, sizes.cases, resolved, result)
    profiles: dict[str, Any] = {}
    for name in read_models():
        base_s = await through_baseline(bench, SHAPES[name], made.events)
        mine_s = await through_service(bench, name, made.events, sizes.timeout_s, profiles)
        base_rate, mine_rate = rate(made.events, base_s), rate(made.events, mine_s)
        result.add(f"baseline ({name} documents)", events=made.events, seconds=base_s,
                   events_per_s=base_rate)
        result.add(f"zaiban {name}", events=made.events, seconds=mine_s, events_per_s=mine_rate)
        result.check(f"{name} / baseline events per second", ratio(mine_rate, base_rate),
                     TARGET_RATIO)
    if "metrics" not in read_models():
        result.note("metrics: not measured (services/metrics is not in this checkout yet)")
    if profiles:
        result.params["profiles"] = profiles
    return result
