"""`zaiban bench seed`: the article's volume, through the whole pipeline.

心通橋's figures: 30,148 requests received, 25,807 resolved, 85.6% (辦結率).
The histories of that many cases are written through the real deciders
(`workload.history`: the resolved ones through the whole lifecycle, up to
the resident's confirmation), published to the case event log, and consumed
by the read models running as they do in production (each a process of its
own, in its consumer group): tracking (every timeline) and metrics (the
figures).

Timed: writing the histories (the load generator; cached for the next run),
and the seed itself — from the first event published until both read models
have every event (their groups committed the end of the log), publishing and
consuming overlapping as they would. Then the figures are read back: received,
resolved and the rate must be the article's. Baseline: publishing alone (the
log's floor for the same events). Target: the seed under 30 s.
`--cases` scales it down (the resolved share stays 25,807/30,148).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from services.common.runtime import ServiceRuntime
from services.composition import build
from zaiban.bench.env import Bench, Positions, Server, profiled
from zaiban.bench.projections import read_models
from zaiban.bench.report import Result, rate
from zaiban.bench.workload import history, publish

ARTICLE_CASES = 30_148
ARTICLE_RESOLVED = 25_807
TARGET_S = 30.0


@dataclass(frozen=True)
class Sizes:
    cases: int = ARTICLE_CASES
    resolved: int = ARTICLE_RESOLVED
    timeout_s: float = 1800.0

    @classmethod
    def scaled(cls, cases: int) -> Sizes:
        """`cases` cases with the article's resolved share."""
        return cls(cases=cases, resolved=round(cases * ARTICLE_RESOLVED / ARTICLE_CASES))


async def figures_of(service: ServiceRuntime) -> dict[str, float]:
    """What metrics says now: received, resolved, the rate (in percent, one decimal)."""
    from services.metrics.report import Figures

    store: Any = getattr(service, "store")  # noqa: B009 - MetricsService.store
    row = Figures.of(await store.counters()).overall()
    return {"received": row.received, "resolved": row.resolved,
            "resolution_rate_pct": row.resolution_rate_pct or 0.0}


async def run(bench: Bench, sizes: Sizes = Sizes()) -> Result:
    result = Result("seed", params=vars(sizes).copy())
    step = bench.steps.start(f"histories of {sizes.cases:,} cases (deciders)", sizes.cases)
    started = time.monotonic()
    made = history(bench.settings, sizes.cases, sizes.resolved,
                   progress=lambda done, _: step.to(done))
    step.done()
    result.add("load generator", cases=made.cases, events=made.events,
               history_s=time.monotonic() - started)

    # the floor: the same events into a log of their own, nobody consuming
    floor = bench.child(topic_prefix=f"{bench.settings.topic_prefix}floor.")
    await bench.ensure_topics(floor)
    step = bench.steps.start("baseline: publishing alone", made.events)
    started = time.monotonic()
    await publish(floor, made.records, progress=step.to)
    step.done()
    floor_s = time.monotonic() - started
    result.add("baseline (publish only)", events=made.events, seconds=floor_s,
               events_per_s=rate(made.events, floor_s))

    models = read_models()
    # built here only to read their stores afterwards (their clients closed at the end); they
    # run in the processes below
    services = {name: build(name, bench.settings) for name in models}
    profiles: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        for service in services.values():
            stack.push_async_callback(service.mongo.close)
        positions = await stack.enter_async_context(Positions(bench.settings))
        servers = {name: await stack.enter_async_context(Server(bench, name)) for name in models}
        topic = bench.topics.case_events
        steps = {name: bench.steps.start(f"{name}: consuming", made.events) for name in models}
        started = time.monotonic()
        async with contextlib.AsyncExitStack() as sampling:
            for name, server in servers.items():
                await sampling.enter_async_context(
                    profiled(bench, server.pid, f"seed-{name}", profiles))
            publishing = asyncio.create_task(publish(bench.settings, made.records))
            done = await asyncio.gather(*(
                positions.wait_committed(service.group_id, topic, made.events,
                                         step=steps[name], within_s=sizes.timeout_s, every=0.25)
                for name, service in services.items()))
            await publishing
        for name, finished in zip(models, done, strict=True):
            steps[name].done()
            result.add(f"zaiban {name}", events=made.events, seconds=finished - started,
                       events_per_s=rate(made.events, finished - started))
        wall = max(done) - started
        result.add("zaiban seed (publish + consume)", events=made.events, seconds=wall,
                   events_per_s=rate(made.events, wall))
        if "tracking" in services:
            store: Any = getattr(services["tracking"], "store")  # noqa: B009
            result.add("zaiban tracking", cases=await store.count())
        if "metrics" in services:
            figures = await figures_of(services["metrics"])
            result.add("zaiban metrics", **figures)
            expected = round(100 * sizes.resolved / sizes.cases, 1)
            right = (figures["received"] == sizes.cases and figures["resolved"] == sizes.resolved
                     and abs(figures["resolution_rate_pct"] - expected) < 0.05)
            result.note(f"figures: {figures['received']:,.0f} received, {figures['resolved']:,.0f} "
                        f"resolved, {figures['resolution_rate_pct']}% — expected "
                        f"{sizes.cases:,} / {sizes.resolved:,} / {expected}%: "
                        f"{'right' if right else 'WRONG'}")
    result.check("seed wall time (publish + consume)", wall, TARGET_S, " s", "below")
    if profiles:
        result.params["profiles"] = profiles
    return result
