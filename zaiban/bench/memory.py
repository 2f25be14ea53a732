"""`zaiban bench memory`: each service's peak memory, and the sizes, at the article's volume.

The history of `cases` cases (by default the article's 30,148, 25,807 of them
resolved) goes into the run's case event log; every service that consumes it
runs as production runs it (a process of its own, `zaiban.bench.serve <app>`)
and works through the whole history. Once every group has committed the end
of the log, each process's peak resident memory (VmHWM from /proc/<pid>/status)
is read; then each service is started once more over the full store (a restart
at volume: its in-memory indexes bootstrap from the store) and read again. The
figure per service is the higher of the two. Target: under 300 MB each.

The same run measures what the capacity plan needs: bytes per event in the log
(key + value, as the producer sends them, before compression) and, per
service's database, bytes per case in the store (dbStats `dataSize` and
`storageSize`, as the store reports them).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient

from services.composition import SERVICES
from zaiban.bench.env import Bench, Positions, Server
from zaiban.bench.report import Result
from zaiban.bench.seed import ARTICLE_CASES, ARTICLE_RESOLVED
from zaiban.bench.workload import history, publish

TARGET_MB = 300.0
CONSUMERS = SERVICES
"""Every service; each consumes the case event log in its own group."""


@dataclass(frozen=True)
class Sizes:
    cases: int = ARTICLE_CASES
    resolved: int = ARTICLE_RESOLVED
    services: tuple[str, ...] = CONSUMERS
    timeout_s: float = 1800.0
    settle_s: float = 5.0
    """After a restart is ready: how long it runs (its followers catch up) before reading."""

    @classmethod
    def scaled(cls, cases: int, **others: Any) -> Sizes:
        return cls(cases=cases, resolved=round(cases * ARTICLE_RESOLVED / ARTICLE_CASES),
                   **others)


@dataclass
class Progress:
    """How far each group got through the case log: the log's end, each group's committed
    offsets (summed over partitions) and, for each that reached the end, when."""

    end: int = 0
    committed: dict[str, int] = field(default_factory=dict)
    took: dict[str, float] = field(default_factory=dict)


async def caught_up(bench: Bench, groups: dict[str, str], *, within_s: float,
                    every: float = 1.0) -> Progress:
    """Wait until every group has committed the end of the case log (which services may still
    lengthen: routing's sweeps write), or `within_s`: a service that did not get there is
    reported with how far it got, not waited for."""
    topic = bench.topics.case_events
    started = time.monotonic()
    deadline = started + within_s
    progress = Progress()
    step = bench.steps.start(f"{len(groups)} services consuming")
    async with Positions(bench.settings) as positions:
        while time.monotonic() < deadline and len(progress.took) < len(groups):
            progress.end = sum((await positions.ends(topic)).values())
            for name, group in groups.items():
                progress.committed[name] = await positions.committed(group, topic)
                if progress.committed[name] < progress.end:
                    progress.took.pop(name, None)
                elif name not in progress.took:
                    progress.took[name] = time.monotonic() - started
            step.to(min(progress.committed.values()), progress.end)
            if len(progress.took) < len(groups):
                await asyncio.sleep(every)
    step.done()
    return progress


async def store_sizes(bench: Bench) -> dict[str, dict[str, float]]:
    """dbStats of each of the run's databases (own corner only), by database name."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(bench.settings.mongo_url)
    sizes: dict[str, dict[str, float]] = {}
    try:
        for name in await client.list_database_names():
            if name.startswith(f"{bench.settings.db_prefix}_") or name == bench.settings.db_prefix:
                stats = await client[name].command("dbStats")
                sizes[name.removeprefix(bench.settings.db_prefix).strip("_") or name] = {
                    "data_bytes": float(stats.get("dataSize", math.nan)),
                    "storage_bytes": float(stats.get("storageSize", math.nan)),
                    "objects": float(stats.get("objects", math.nan))}
    finally:
        await client.close()
    return sizes


async def run(bench: Bench, sizes: Sizes = Sizes()) -> Result:
    result = Result("memory", params=vars(sizes).copy())
    step = bench.steps.start(f"histories of {sizes.cases:,} cases (deciders)", sizes.cases)
    made = history(bench.settings, sizes.cases, sizes.resolved,
                   progress=lambda done, _: step.to(done))
    step.done()
    log_bytes = sum(len(key) + len(value) for key, value in made.records)
    result.add("case event log", cases=made.cases, events=made.events,
               events_per_case=made.events / made.cases,
               bytes_per_event=log_bytes / made.events)

    groups = {name: f"{bench.settings.topic_prefix}zaiban-{name}" for name in sizes.services}
    consuming: dict[str, float] = {}
    restarted: dict[str, float] = {}
    async with contextlib.AsyncExitStack() as stack:
        servers = {name: await stack.enter_async_context(Server(bench, name))
                   for name in sizes.services}
        step = bench.steps.start(f"publishing {made.events:,} events", made.events)
        await publish(bench.settings, made.records, progress=step.to)
        step.done()
        progress = await caught_up(bench, groups, within_s=sizes.timeout_s)
        for name, server in servers.items():
            consuming[name] = server.usage().peak_rss_mb
    for name in sizes.services:
        async with Server(bench, name) as server:
            await asyncio.sleep(sizes.settle_s)
            restarted[name] = server.usage().peak_rss_mb
    stored = await store_sizes(bench)
    for name in dict.fromkeys([*sizes.services, *stored]):
        row: dict[str, Any] = {"service": name}
        if name in consuming:
            peak = max(consuming[name], restarted[name])
            row.update({"caught up s": progress.took.get(name, math.nan),
                        "events done": progress.committed.get(name, 0),
                        "peak MB consuming": consuming[name],
                        "peak MB restarted": restarted[name], "peak MB": peak})
            result.check(f"{name} peak memory at {sizes.cases:,} cases", peak, TARGET_MB,
                         " MB", "below")
        if name in stored:
            row.update({"store MB": stored[name]["storage_bytes"] / 2**20,
                        "store bytes per case": stored[name]["storage_bytes"] / made.cases,
                        "documents": stored[name]["objects"]})
        result.rows.append(row)
    behind = [name for name in sizes.services if name not in progress.took]
    if behind:
        result.note(f"NOT CAUGHT UP in {sizes.timeout_s:.0f} s: {', '.join(behind)} (of "
                    f"{progress.end:,} events: see 'events done'); their peaks are not yet "
                    "the whole history's, and the store holds less than the whole history")
    total_storage = sum(figures["storage_bytes"] for figures in stored.values())
    result.add("store (every database)", storage_mb=total_storage / 2**20,
               storage_bytes_per_case=total_storage / made.cases)
    result.note("peak memory = the higher of: after consuming the whole history, and after a "
                "restart over the full store (VmHWM of the process); store = dbStats storageSize")
    return result
