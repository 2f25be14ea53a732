"""`zaiban bench scale`: the same projection load with one and with two instances.

A service runs as N processes in one consumer group; the case event log has
several partitions (3 here), so the group spreads them over its members. Each
instance is a real process (`zaiban.bench.serve <service>` under uvicorn, as
`zaiban serve` runs it): two instances in one interpreter would share its lock
and show nothing. For each N, the same history goes into a log of its own
(its own topics and databases), the N instances are started and have joined,
then the history is published and timed until the group has committed all.

The baseline of this scenario is one instance; the ratio is the speed-up of
two (at most 2; on two cores shared with the broker, the store and the load
generator, less).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from zaiban.bench.env import Bench, Positions, Server
from zaiban.bench.report import Result, rate, ratio
from zaiban.bench.workload import history, publish

SETTLE_S = 3.0  # after the last instance is ready: the group's rebalance ends


@dataclass(frozen=True)
class Sizes:
    cases: int = 3000
    resolved_share: float = 0.856
    service: str = "tracking"
    timeout_s: float = 900.0


async def with_instances(bench: Bench, n: int, sizes: Sizes, records: list[tuple[bytes, bytes]],
                         group_suffix: str) -> float:
    settings = bench.child(topic_prefix=f"{bench.settings.topic_prefix}{group_suffix}.",
                           db_prefix=f"{bench.settings.db_prefix}_{group_suffix}")
    await bench.ensure_topics(settings)
    group = f"{settings.topic_prefix}zaiban-{sizes.service}"
    topic = f"{settings.topic_prefix}zaiban.case-events"
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(n):
            await stack.enter_async_context(Server(bench, sizes.service, settings=settings))
        await asyncio.sleep(SETTLE_S)
        step = bench.steps.start(f"{sizes.service} x{n}", len(records))
        async with Positions(settings) as positions:
            started = time.monotonic()
            await publish(settings, records)
            finished = await positions.wait_committed(group, topic, len(records), step=step,
                                                      within_s=sizes.timeout_s)
        step.done()
    return finished - started


async def run(bench: Bench, sizes: Sizes = Sizes()) -> Result:
    result = Result("scale", params=vars(sizes).copy())
    step = bench.steps.start(f"histories of {sizes.cases:,} cases (deciders)", sizes.cases)
    made = history(bench.settings, sizes.cases, round(sizes.cases * sizes.resolved_share),
                   progress=lambda done, _: step.to(done))
    step.done()
    seconds = {n: await with_instances(bench, n, sizes, made.records, f"x{n}") for n in (1, 2)}
    rates = {n: rate(made.events, s) for n, s in seconds.items()}
    result.add(f"{sizes.service} x1 (baseline)", events=made.events, seconds=seconds[1],
               events_per_s=rates[1])
    result.add(f"{sizes.service} x2", events=made.events, seconds=seconds[2],
               events_per_s=rates[2], speedup=ratio(rates[2], rates[1]))
    result.note("publishing and consuming overlap; the time runs from the first event "
                "published to the group's last commit")
    return result
