"""`zaiban bench scale`: the same projection load with one and with two instances.

A service runs as N processes in one consumer group; the case event log has
several partitions, so the group spreads them over its members: 6 here, so that
one and two instances (and three) each get an equal share. With 3, two instances
split them 2:1, and the one with two does two thirds of the work: 1.5x at best. Each
instance is a real process (`zaiban.bench.serve <service>` under uvicorn, as
`zaiban serve` runs it): two instances in one interpreter would share its lock
and show nothing. For each N, the same history goes into a log of its own
(its own topics and databases), the N instances are started and have joined,
then the history is published and timed until the group has committed all.

The baseline of this scenario is one instance; the ratio is the speed-up of
two (at most 2; on two cores shared with the broker, the store and the load
generator, less). Targets: two instances at least 1.6x one, and the CPU
seconds per 1,000 events (user + system of every instance, read from
/proc/<pid>/stat before the history is published and after the group's last
commit, summed over the instances) within 10% between one and two instances:
a second instance must add throughput, not coordination.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any

from zaiban.bench.env import Bench, Positions, Server, profiled
from zaiban.bench.report import Result, rate, ratio
from zaiban.bench.workload import history, publish

PARTITIONS = 6
SETTLE_S = 3.0  # after the last instance is ready: the group's rebalance ends
TARGET_SPEEDUP = 1.6
TARGET_CPU_DIFFERENCE_PCT = 10.0


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_s: float
    """CPU seconds of all the instances together, while the history went through."""


@dataclass(frozen=True)
class Sizes:
    cases: int = 3000
    resolved_share: float = 0.856
    service: str = "tracking"
    timeout_s: float = 900.0


async def with_instances(bench: Bench, n: int, sizes: Sizes, records: list[tuple[bytes, bytes]],
                         group_suffix: str, profiles: dict[str, Any]) -> Run:
    settings = bench.child(topic_prefix=f"{bench.settings.topic_prefix}{group_suffix}.",
                           db_prefix=f"{bench.settings.db_prefix}_{group_suffix}")
    await bench.ensure_topics(settings)
    group = f"{settings.topic_prefix}zaiban-{sizes.service}"
    topic = f"{settings.topic_prefix}zaiban.case-events"
    async with contextlib.AsyncExitStack() as stack:
        servers = [await stack.enter_async_context(Server(bench, sizes.service,
                                                          settings=settings))
                   for _ in range(n)]
        await asyncio.sleep(SETTLE_S)
        step = bench.steps.start(f"{sizes.service} x{n}", len(records))
        async with Positions(settings) as positions, contextlib.AsyncExitStack() as sampling:
            for number, server in enumerate(servers, start=1):
                await sampling.enter_async_context(
                    profiled(bench, server.pid, f"scale-x{n}-{number}", profiles))
            cpu_before = sum(server.usage().cpu_s for server in servers)
            started = time.monotonic()
            await publish(settings, records)
            finished = await positions.wait_committed(group, topic, len(records), step=step,
                                                      within_s=sizes.timeout_s)
            cpu_after = sum(server.usage().cpu_s for server in servers)
        step.done()
    return Run(seconds=finished - started, cpu_s=cpu_after - cpu_before)


def cpu_per_thousand(run: Run, events: int) -> float:
    return 1000 * run.cpu_s / events if events else math.nan


async def run(bench: Bench, sizes: Sizes = Sizes()) -> Result:
    result = Result("scale", params=vars(sizes).copy())
    step = bench.steps.start(f"histories of {sizes.cases:,} cases (deciders)", sizes.cases)
    made = history(bench.settings, sizes.cases, round(sizes.cases * sizes.resolved_share),
                   progress=lambda done, _: step.to(done))
    step.done()
    profiles: dict[str, Any] = {}
    runs = {n: await with_instances(bench, n, sizes, made.records, f"x{n}", profiles)
            for n in (1, 2)}
    rates = {n: rate(made.events, run.seconds) for n, run in runs.items()}
    cpu = {n: cpu_per_thousand(run, made.events) for n, run in runs.items()}
    result.add(f"{sizes.service} x1 (baseline)", events=made.events, seconds=runs[1].seconds,
               events_per_s=rates[1], cpu_s=runs[1].cpu_s, cpu_s_per_1000_events=cpu[1])
    result.add(f"{sizes.service} x2", events=made.events, seconds=runs[2].seconds,
               events_per_s=rates[2], cpu_s=runs[2].cpu_s, cpu_s_per_1000_events=cpu[2],
               speedup=ratio(rates[2], rates[1]))
    result.check("two instances / one, events per second", ratio(rates[2], rates[1]),
                 TARGET_SPEEDUP)
    result.check("CPU s per 1,000 events, two instances vs one (difference)",
                 cpu_difference_pct(cpu[2], cpu[1]), TARGET_CPU_DIFFERENCE_PCT, " %", "below")
    result.note("publishing and consuming overlap; the time runs from the first event "
                "published to the group's last commit; CPU is the instances' user + system "
                "time over that span, summed")
    if profiles:
        result.params["profiles"] = profiles
    return result


def cpu_difference_pct(two: float, one: float) -> float:
    """How far two instances' CPU per event is from one's, in percent of one's."""
    return 100 * abs(ratio(two, one) - 1)
