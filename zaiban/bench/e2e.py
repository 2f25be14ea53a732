"""`zaiban bench e2e`: from a resident's submission to the case on tracking's API.

Intake and tracking run as production runs them: each service in its own
process (uvicorn, a child process each), submissions posted to intake, the
case read from tracking. Submissions are offered at a steady `rate` for
`seconds`, open loop: each is due at its own time whatever the answers before
it did, and its latency counts from when it was due (so a slow server cannot
hide its queue). For every `sample_every`-th case, once intake has answered
with its number, tracking's public API is asked for the case every `poll_ms`
until it answers 200: the time from due to that answer is the case's latency
(to within `poll_ms`, or a fifth of the wait so far when that is longer). Only
a sample is followed, so that the polling does not become the load.

Baseline: the bare pipeline (`baseline.pipeline_app`, one process) driven the
same way: the bare endpoint sends, a raw consumer inserts one document per
case, a bare read by id answers. Target: p99 under 100 ms at 200 cases/s.

Then the knee: the same intake and tracking are offered rising rates (`steps`,
`step_seconds` each) until p99 reaches 250 ms or cases are left unfinished;
the knee is the highest rate offered with p99 under 250 ms and every case
through. A table shows each rate's p50/p99 and what was left unfinished. (The
load generator is one Python process on the same cores: at the highest rates
it takes its share of them, so the knee is a floor.)
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from services.common.catalogue import load_city
from zaiban.bench.env import Bench, BenchError, Server, Step, profiled
from zaiban.bench.report import Result, fmt, latency_summary, rate
from zaiban.bench.workload import submissions

TARGET_P99_MS = 100.0
KNEE_P99_MS = 250.0
CLIENTS = 64


@dataclass(frozen=True)
class Sizes:
    rate: float = 200.0
    seconds: float = 20.0
    sample_every: int = 4
    poll_ms: float = 10.0
    visible_timeout_s: float = 30.0
    drain_s: float = 30.0
    """After the last submission is offered, wait at most this long for the rest: an
    overloaded server's queue is reported (`unfinished`), not waited out for minutes."""
    steps: tuple[float, ...] = (50, 100, 200, 300, 400, 600, 800, 1000)
    """Rates offered one after the other to find the knee (none: no knee)."""
    step_seconds: float = 8.0
    step_drain_s: float = 10.0


@dataclass
class Seen:
    submitted: list[float] = field(default_factory=list)  # due -> answered
    visible: list[float] = field(default_factory=list)  # due -> readable on the API
    refused: int = 0
    failed: int = 0
    never_visible: int = 0
    unfinished: int = 0
    elapsed: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds each server process used while the cases were offered, by app."""


def client_pool(base_url: str) -> tuple[asyncio.Queue[httpx.AsyncClient],
                                       list[httpx.AsyncClient]]:
    """CLIENTS connections to `base_url`, each taken by one request at a time."""
    pool: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
    tls = ssl.create_default_context()
    clients = [httpx.AsyncClient(base_url=base_url, timeout=60.0, verify=tls,
                                 limits=httpx.Limits(max_connections=1))
               for _ in range(CLIENTS)]
    for client in clients:
        pool.put_nowait(client)
    return pool, clients


async def offer(submit_url: str, read_url: str, bodies: list[dict[str, Any]], sizes: Sizes,
                step: Step | None = None) -> Seen:
    seen = Seen()
    count = max(1, int(sizes.rate * sizes.seconds))
    posts, post_clients = client_pool(submit_url)
    reads, read_clients = client_pool(read_url)

    async def one(number: int, due: float) -> None:
        http = await posts.get()
        try:
            answer = await http.post("/api/cases", json=bodies[number % len(bodies)])
        except httpx.HTTPError:
            seen.failed += 1
            return
        finally:
            posts.put_nowait(http)
        if answer.status_code not in (200, 201):
            seen.refused += 1
            return
        seen.submitted.append(time.monotonic() - due)
        if step is not None:
            step.advance()
        if number % sizes.sample_every:
            return
        case_id = answer.json()["case_id"]
        deadline = time.monotonic() + sizes.visible_timeout_s
        while time.monotonic() < deadline:
            http = await reads.get()
            try:
                found = await http.get(f"/api/cases/{case_id}")
            except httpx.HTTPError:
                found = None
            finally:
                reads.put_nowait(http)
            if found is not None and found.status_code == 200:
                seen.visible.append(time.monotonic() - due)
                return
            # every poll_ms, or a fifth of the wait so far if longer: a late case is measured
            # to within 20% instead of being polled so often that the polls become the load
            await asyncio.sleep(max(sizes.poll_ms / 1000, (time.monotonic() - due) / 5))
        seen.never_visible += 1

    started = time.monotonic()
    tasks = []
    for number in range(count):
        due = started + number / sizes.rate
        pause = due - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.create_task(one(number, due)))
    _, late = await asyncio.wait(tasks, timeout=sizes.drain_s)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    seen.unfinished = len(late)
    seen.elapsed = time.monotonic() - started
    for client in post_clients + read_clients:
        await client.aclose()
    return seen


async def warm_up(submit_url: str, read_url: str, bodies: list[dict[str, Any]]) -> None:
    """A few cases through, until one is visible: consumers have joined their groups."""
    warm = Sizes(rate=20, seconds=1, sample_every=1, poll_ms=50, visible_timeout_s=60,
                 drain_s=90)
    for _attempt in range(3):
        seen = await offer(submit_url, read_url, bodies, warm)
        if seen.visible:
            return
    raise BenchError(f"warm-up: no case became visible on {read_url}")


async def drive(bench: Bench, name: str, submit: Server, read: Server,
                bodies: list[dict[str, Any]], sizes: Sizes, profiles: dict[str, Any]) -> Seen:
    await warm_up(submit.base_url, read.base_url, bodies)
    step = bench.steps.start(f"e2e: {name}, {sizes.rate:.0f} cases/s",
                             int(sizes.rate * sizes.seconds))
    servers = {server.app: server for server in (submit, read)}
    before = {app: server.usage().cpu_s for app, server in servers.items()}
    async with profiled(bench, submit.pid, f"e2e-{submit.app}", profiles):
        seen = await offer(submit.base_url, read.base_url, bodies, sizes, step)
    seen.cpu_s = {app: server.usage().cpu_s - before[app] for app, server in servers.items()}
    step.done()
    return seen


async def measure_baseline(bench: Bench, bodies: list[dict[str, Any]], sizes: Sizes,
                           profiles: dict[str, Any]) -> Seen:
    async with Server(bench, "bare-pipeline") as server:
        return await drive(bench, "bare pipeline", server, server, bodies, sizes, profiles)


@dataclass(frozen=True)
class Stepped:
    rate: float
    seen: Seen

    @property
    def p99_ms(self) -> float:
        return latency_summary(self.seen.visible, "")["p99_ms"]

    @property
    def through(self) -> bool:
        """Every case offered was answered, and every followed one became visible, in time."""
        seen = self.seen
        return not (seen.unfinished or seen.never_visible or seen.failed or seen.refused)

    def row(self) -> dict[str, Any]:
        """The step as a row: `unseen` followed cases never visible, `refused` refused or
        failed submissions."""
        figures = latency_summary(self.seen.visible, "")
        return {"rate/s": self.rate,
                "answered/s": rate(len(self.seen.submitted), self.seen.elapsed),
                "followed": len(self.seen.visible), "p50 ms": figures["p50_ms"],
                "p99 ms": figures["p99_ms"], "unfinished": self.seen.unfinished,
                "unseen": self.seen.never_visible,
                "refused": self.seen.refused + self.seen.failed}


def knee(steps: list[Stepped]) -> float:
    """The highest rate offered with p99 under KNEE_P99_MS and every case through (nan: none)."""
    good = [s.rate for s in steps if s.through and s.p99_ms < KNEE_P99_MS]
    return max(good) if good else math.nan


async def find_knee(bench: Bench, intake: Server, tracking: Server,
                    bodies: list[dict[str, Any]], sizes: Sizes) -> list[Stepped]:
    """Offer each of `sizes.steps` in turn; stop at the first one past the knee."""
    found: list[Stepped] = []
    for offered in sizes.steps:
        at = replace(sizes, rate=offered, seconds=sizes.step_seconds,
                     drain_s=sizes.step_drain_s)
        step = bench.steps.start(f"e2e knee: {offered:.0f} cases/s",
                                 int(offered * sizes.step_seconds))
        found.append(Stepped(offered, await offer(intake.base_url, tracking.base_url, bodies,
                                                  at, step)))
        step.done()
        if not found[-1].through or found[-1].p99_ms >= KNEE_P99_MS:
            break
    return found


async def measure_zaiban(bench: Bench, bodies: list[dict[str, Any]], sizes: Sizes,
                         profiles: dict[str, Any]) -> tuple[Seen, list[Stepped]]:
    async with Server(bench, "intake") as intake, Server(bench, "tracking") as tracking:
        async with profiled(bench, tracking.pid, "e2e-tracking", profiles):
            seen = await drive(bench, "intake and tracking", intake, tracking, bodies, sizes,
                               profiles)
        return seen, await find_knee(bench, intake, tracking, bodies, sizes)


async def run(bench: Bench, sizes: Sizes = Sizes()) -> Result:
    result = Result("e2e", params=vars(sizes).copy())
    bodies = submissions(load_city(bench.settings.config_dir), 2000)
    profiles: dict[str, Any] = {}
    baseline = await measure_baseline(bench, bodies, sizes, profiles)
    mine, stepped = await measure_zaiban(bench, bodies, sizes, profiles)
    runs = {"baseline (send, raw consumer, read by id)": baseline,
            "zaiban intake + tracking": mine}
    for subject, seen in runs.items():
        result.add(subject, offered_per_s=sizes.rate,
                   answered_per_s=rate(len(seen.submitted), seen.elapsed),
                   **latency_summary(seen.submitted, "submit_"),
                   followed=len(seen.visible), **latency_summary(seen.visible, "visible_"),
                   refused=seen.refused, failed=seen.failed, never_visible=seen.never_visible,
                   unfinished=seen.unfinished,
                   **{f"{app}_cpu_ms_per_case": 1000 * cpu / len(seen.submitted)
                      for app, cpu in seen.cpu_s.items() if seen.submitted})
    found = latency_summary(mine.visible, "visible_")["visible_p99_ms"]
    result.check(f"e2e p99 at {sizes.rate:.0f} cases/s", found, TARGET_P99_MS, " ms", "below")
    result.rows = [s.row() for s in stepped]
    if stepped:
        result.add("zaiban intake + tracking", knee_per_s=knee(stepped))
        result.note(f"knee: the highest rate offered ({sizes.step_seconds:.0f} s each) with "
                    f"p99 under {KNEE_P99_MS:.0f} ms and every case through: "
                    f"{fmt(knee(stepped))} cases/s"
                    + ("" if not stepped[-1].through or stepped[-1].p99_ms >= KNEE_P99_MS
                       else " (the highest step offered: the knee is above it)"))
    result.note("cpu_ms_per_case: the server process's user + system CPU while the cases were "
                "offered, per case answered (tracking's includes answering the polls)")
    result.note(f"latency counts from when each submission was due (open loop); visibility "
                f"is polled on 1 in {sizes.sample_every} cases every {sizes.poll_ms:.0f} ms "
                "(or a fifth of the wait so far, when longer)")
    if profiles:
        result.params["profiles"] = profiles
    return result
