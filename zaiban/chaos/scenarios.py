"""The faults, one scenario each: what it injects beside the clients' traffic, at its full
size (`zaiban chaos <name>`) and its short one (`make test`, tests/faults/)."""

from __future__ import annotations

import asyncio
import dataclasses

from zaiban.chaos.disk import disk_full, on_a_small_disk
from zaiban.chaos.network import Network, through_proxies
from zaiban.chaos.run import PIPELINE, Run, Scenario, Size
from zaiban.infra import KAFKA_COMPONENT, STORE_COMPONENT


async def kills(run: Run) -> None:
    """SIGKILLs at random moments, each of a random service (intake and routing among
    them: every service at least once), each started again at once, as its supervisor
    would."""
    count = int(run.size.knob("kills"))
    order = list(PIPELINE) + [run.rng.choice(PIPELINE) for _ in range(count - len(PIPELINE))]
    run.rng.shuffle(order)
    for name in order:
        await asyncio.sleep(run.rng.uniform(0.5, run.size.knob("between_s")))
        copy = run.rng.choice(run.fleet.copies(name))
        injected = run.begin(f"SIGKILL {copy.name}")
        copy.kill()
        await asyncio.sleep(run.rng.uniform(0.0, 1.0))
        copy.start()
        run.end(injected)
        await run.recovered(injected)


async def broker_restart(run: Run) -> None:
    """The broker stopped while routing routes and tracking projects, and started again on
    the same data."""
    for _ in range(int(run.size.knob("restarts"))):
        await run.under_way(len(run.load.submitted) + int(run.size.knob("cases_before")))
        injected = run.begin(f"broker away {run.size.knob('away_s'):g} s")
        await run.stack.stop(KAFKA_COMPONENT)
        await asyncio.sleep(run.size.knob("away_s"))
        await run.stack.start(KAFKA_COMPONENT)
        run.end(injected)
        await run.recovered(injected)


async def store_away(run: Run) -> None:
    """The store stopped for a while under load, then started again on the same data: no
    service is restarted."""
    await run.under_way(int(run.size.knob("cases_before")))
    injected = run.begin(f"store away {run.size.knob('away_s'):g} s")
    await run.stack.stop(STORE_COMPONENT)
    away = asyncio.create_task(asyncio.sleep(run.size.knob("away_s")))
    await run.all_say(503, within_s=20.0, why="while the store is away")
    await away
    await run.stack.start(STORE_COMPONENT)
    run.end(injected)
    await run.recovered(injected)


SCALED = ("routing", "tracking", "metrics")


async def scale(run: Run) -> None:
    """Routing, tracking and metrics from one copy to three and back, under load: each step
    moves partitions between copies (a rebalance)."""
    for _ in range(int(run.size.knob("rounds"))):
        await run.under_way(len(run.load.submitted) + int(run.size.knob("cases_before")))
        for copies in (3, 1):
            injected = run.begin(f"{'/'.join(SCALED)} to {copies} cop{'ies' if copies > 1 else 'y'}")
            for name in SCALED:
                await run.fleet.scale(name, copies)
            run.end(injected)
            await run.recovered(injected)
            await asyncio.sleep(run.size.knob("hold_s"))


OFF_S = {"routing": 300.0, "intake": -300.0}
"""Whose clock is off, by how much: routing five minutes ahead, intake five behind."""


async def clock_off(run: Run) -> None:
    """Routing's and intake's hosts' clocks off by minutes (libfaketime) from their start:
    each service dates events by its clock measured against the store's, so deadlines,
    timelines and figures are those of the true time. The fault is there all along; this
    notes it and lets the traffic run."""
    injected = run.begin(", ".join(f"{name} clock {off:+g} s" for name, off in OFF_S.items()))
    await run.under_way(int(run.size.knob("cases_before")))
    run.end(injected)
    await run.recovered(injected)


def _clocks_off(settings: object) -> dict[str, object]:
    from zaiban.chaos.clocks import clock_off_by

    return {"own": {name: clock_off_by(off) for name, off in OFF_S.items()}}


PARTITIONED = ("routing", "intake")
"""The services cut off, one after the other (the short version cuts only the first):
routing has the most state of its own (the write model of every case, its outbox, its
clocks); intake is where residents' submissions and their retries arrive."""


async def network(run: Run) -> None:
    """Every service reaches its broker and store through a proxy of its own: the links made
    slow for a while, then connections dropped here and there (reset, or closed and refused
    for a moment), then routing (and intake) cut off from both for a while and healed: each
    says it is not ready meanwhile, and is ready again by itself."""
    net: Network = run.prepared
    await run.under_way(int(run.size.knob("cases_before")))
    ms, jitter = int(run.size.knob("latency_ms")), int(run.size.knob("jitter_ms"))
    injected = run.begin(f"latency {ms} ± {jitter} ms on every broker and store link")
    await net.slow(ms, jitter)
    await asyncio.sleep(run.size.knob("latency_s"))
    await net.fast()
    await run.recovered(injected)
    for number in range(int(run.size.knob("drops"))):
        await asyncio.sleep(run.rng.uniform(0.5, run.size.knob("between_s")))
        link = run.rng.choice(net.links())
        if number % 2:
            injected = run.begin(f"{link}: connections closed, refused 1 s")
            await net.refuse(link, 1.0)
        else:
            injected = run.begin(f"{link}: connections reset for 1 s")
            await net.reset(link, 1.0)
        await run.recovered(injected)
    away = run.size.knob("partition_s")
    for service in PARTITIONED[:int(run.size.knob("partitions"))]:
        await run.under_way(len(run.load.submitted) + int(run.size.knob("cases_before")))
        injected = run.begin(f"{service} cut off from broker and store {away:g} s")
        await net.partition(service)
        cut_off = asyncio.create_task(asyncio.sleep(away))
        await run.says_not_ready(service, within_s=away, why="while it is cut off")
        await cut_off
        await net.heal(service)
        await run.recovered(injected)


def _size(cases: int, workers: int = 12, within_s: float = 120.0, **knobs: float) -> Size:
    return Size(cases=cases, workers=workers, within_s=within_s, knobs=knobs)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("kills", "SIGKILLs at random across the services, each restarted", kills,
             full=_size(2000, workers=32, within_s=400, kills=24, between_s=8.0),
             short=_size(40, kills=4, between_s=3.0)),
    Scenario("broker", "the broker restarted amid routing and tracking work", broker_restart,
             full=_size(1000, workers=32, within_s=400, restarts=2, away_s=30.0, cases_before=300),
             short=_size(30, restarts=1, away_s=8.0, cases_before=10), own_stack=True),
    Scenario("store-30s", "the store stopped for 30 seconds", store_away,
             full=_size(600, workers=32, within_s=400, away_s=30.0, cases_before=200),
             short=_size(20, away_s=6.0, cases_before=8), own_stack=True),
    Scenario("store-3min", "the store stopped for 3 minutes", store_away,
             full=_size(1000, workers=32, within_s=400, away_s=180.0, cases_before=200),
             short=_size(20, away_s=6.0, cases_before=8), own_stack=True),
    Scenario("clock", "routing's clock 5 minutes ahead, intake's 5 behind", clock_off,
             full=_size(1000, workers=32, within_s=400, cases_before=1000),
             short=_size(20, cases_before=20), fleet_options=_clocks_off),
    Scenario("disk", "the store's disk full, then grown in place", disk_full,
             full=_size(600, workers=32, within_s=400, full_s=60.0, cases_before=200),
             short=_size(20, full_s=5.0, cases_before=8), own_stack=True,
             around=on_a_small_disk),
    Scenario("scale", "routing, tracking and metrics scaled 1 → 3 → 1 under load", scale,
             full=_size(1000, workers=32, within_s=400, rounds=3, hold_s=20.0, cases_before=200),
             short=_size(30, rounds=1, hold_s=3.0, cases_before=8)),
    Scenario("network", f"latency, dropped connections, {' then '.join(PARTITIONED)} cut off "
             "from broker and store", network,
             full=_size(800, cases_before=150, latency_ms=200, jitter_ms=50, latency_s=45.0,
                        drops=8, between_s=6.0, partition_s=60.0, partitions=2),
             short=_size(24, cases_before=6, latency_ms=200, jitter_ms=50, latency_s=4.0,
                         drops=2, between_s=1.5, partition_s=10.0, partitions=1),
             own_stack=True,
             around=lambda settings, stack: through_proxies(settings, stack, PIPELINE)),
)}


def one_after_another(*names: str, short: bool = True) -> tuple[Scenario, Size]:
    """The named scenarios' faults one after another beside one traffic (each with its own
    knobs): one fleet and one check for several faults, as the short tests run them."""
    parts = [SCENARIOS[name] for name in names]
    sizes = [part.short if short else part.full for part in parts]

    async def inject(run: Run) -> None:
        for part, size in zip(parts, sizes, strict=True):
            run.size = size
            await part.inject(run)

    whole = dataclasses.replace(
        parts[0], name="+".join(names), summary="; ".join(p.summary for p in parts),
        inject=inject, own_stack=any(p.own_stack for p in parts))
    return whole, dataclasses.replace(sizes[0], cases=max(s.cases for s in sizes))
