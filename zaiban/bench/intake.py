"""`zaiban bench intake`: accepted submissions per second over HTTP, and their latency.

Intake runs alone under uvicorn in a child process (as `zaiban serve intake`
would), on a loopback port; `concurrency` clients post valid submissions as
fast as the answers come, until `requests` were answered or `seconds` passed.
Every 201 means the `CaseSubmitted` event was durable in Kafka (acks=all)
before the answer; afterwards the log is counted to show it holds one event
per accepted submission.

Baseline: the bare endpoint (`baseline.submit_app`) in the same server setup,
driven the same way: validate the same body, send it with the same producer
settings, answer. Target: intake at least 80% of the baseline's rate (issue 17).
Each side's CPU milliseconds per submission are reported too: on a shared machine
the rates follow the load, the CPU a submission costs much less.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.common.catalogue import load_city
from services.common.settings import CommonSettings
from zaiban.bench.baseline import bare_topic
from zaiban.bench.env import Bench, Positions, Server, Step, profiled, total
from zaiban.bench.report import Result, latency_summary, rate, ratio
from zaiban.bench.workload import submissions

TARGET_RATIO = 0.80


@dataclass(frozen=True)
class Sizes:
    requests: int = 3000
    concurrency: int = 32
    seconds: float = 60.0
    warmup: int = 100


@dataclass
class Drive:
    """What the clients saw."""

    latencies: list[float] = field(default_factory=list)
    refused: Counter[int] = field(default_factory=Counter)
    failed: int = 0
    elapsed: float = 0.0
    cpu_s: float | None = None
    """CPU seconds the server spent while driven (user + system; None where unknown)."""

    @property
    def accepted(self) -> int:
        return len(self.latencies)


async def drive(base_url: str, bodies: list[dict[str, Any]], *, count: int, concurrency: int,
                seconds: float, step: Step | None = None, path: str = "/api/cases") -> Drive:
    """Post `count` bodies with `concurrency` clients (at most `seconds`).

    Each client has its own connection (an `httpx.AsyncClient` of one): a shared pool
    of many connections costs the load generator more than the server (httpcore scans
    its pool on every request), and the load generator must not be what is measured.
    """
    seen = Drive()
    issued = 0
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    tls = ssl.create_default_context()  # one for all: each costs ~20 ms to make (http needs none)
    clients = [httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits, verify=tls)
               for _ in range(concurrency)]
    deadline = time.monotonic() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal issued
        async with http:
            while issued < count and time.monotonic() < deadline:
                body = bodies[issued % len(bodies)]
                issued += 1
                started = time.perf_counter()
                try:
                    answer = await http.post(path, json=body)
                except httpx.HTTPError:
                    seen.failed += 1
                    continue
                took = time.perf_counter() - started
                if answer.status_code in (200, 201):
                    seen.latencies.append(took)
                else:
                    seen.refused[answer.status_code] += 1
                if step is not None:
                    step.advance()

    started = time.perf_counter()
    await asyncio.gather(*(client(http) for http in clients))
    seen.elapsed = time.perf_counter() - started
    return seen


async def measure(bench: Bench, app: str, bodies: list[dict[str, Any]], sizes: Sizes,
                  profiles: dict[str, Any], *, settings: CommonSettings | None = None,
                  label: str = "") -> Drive:
    """Serve `app` (on the run's broker, or as `settings` say) and drive it."""
    async with Server(bench, app, settings=settings) as server:
        await drive(server.base_url, bodies, count=sizes.warmup, concurrency=sizes.concurrency,
                    seconds=sizes.seconds)
        step = bench.steps.start(f"intake: {app}{label}, {sizes.concurrency} clients",
                                 sizes.requests)
        async with profiled(bench, server.pid, f"intake-{app}{label.replace(' ', '-')}",
                            profiles):
            before = server.usage().cpu_s
            seen = await drive(server.base_url, bodies, count=sizes.requests,
                               concurrency=sizes.concurrency, seconds=sizes.seconds, step=step)
            seen.cpu_s = server.usage().cpu_s - before
        step.done()
    return seen


async def run(bench: Bench, sizes: Sizes = Sizes()) -> Result:
    result = Result("intake", params=vars(sizes).copy())
    city = load_city(bench.settings.config_dir)
    bodies = submissions(city, min(sizes.requests, 5000))
    profiles: dict[str, Any] = {}
    runs = {"baseline (validate + send)": await measure(bench, "bare", bodies, sizes, profiles),
            "zaiban intake": await measure(bench, "intake", bodies, sizes, profiles)}
    for subject, seen in runs.items():
        cpu = {} if seen.cpu_s is None or not seen.accepted else \
            {"cpu_ms_per_submission": round(1000 * seen.cpu_s / seen.accepted, 2)}
        result.add(subject, accepted=seen.accepted, per_s=rate(seen.accepted, seen.elapsed),
                   **latency_summary(seen.latencies), refused=sum(seen.refused.values()),
                   failed=seen.failed, **cpu)
        if seen.refused:
            result.note(f"{subject}: answers other than 200/201: {dict(seen.refused)}")
    base, mine = runs["baseline (validate + send)"], runs["zaiban intake"]
    found = ratio(rate(mine.accepted, mine.elapsed), rate(base.accepted, base.elapsed))
    result.check("intake / baseline submissions per second", found, TARGET_RATIO)
    # every 201 was durable before the answer: the log holds an event per accepted submission
    async with Positions(bench.settings) as positions:
        logged = total(await positions.ends(bench.topics.case_events))
        bare_logged = total(await positions.ends(bare_topic(bench.settings)))
    answered = mine.accepted + sizes.warmup
    result.note(f"durability: the case log holds {logged} events for {answered} accepted "
                f"submissions (warm-up included); the bare topic {bare_logged} for "
                f"{base.accepted + sizes.warmup}")
    if logged < answered:
        result.note("NOT DURABLE: fewer events in the log than accepted submissions")
    if profiles:
        result.params["profiles"] = profiles
    return result
