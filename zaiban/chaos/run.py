"""One chaos run: the services as processes, clients driving cases through their lifecycle
over HTTP, a scenario injecting faults beside them; then quiet, and the checks.

What a run checks, once the faults are over and the services have caught up:
- every case a client was told exists (201/200 on submission) is in the log, once; and no
  case is in the log that no client was told of;
- no two different events share a seq of one case (every consumer would keep only one);
- every command a client was told succeeded is in the log: each case told resolved is
  resolved there, once;
- tracking holds every case at the log's last seq, and the public figures (received,
  resolved) equal both the log and what the clients were told;
- both read models equal a clean replay of the log from offset 0;
- no dead letter, except those the scenario expects;
- every service is ready again by itself (no restart by the run, beyond a killed
  process's own supervisor restart, which the scenario does as systemd would).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from services.common.settings import CommonSettings
from zaiban.chaos.fleet import Fleet
from zaiban.chaos.traffic import Clients, Load, drive
from zaiban.chaos.verify import (
    clean_replay,
    dead_letters,
    eventually,
    metrics_caught_up,
    metrics_counters,
    the_log,
    tracking_caught_up,
)
from zaiban.infra import StackSettings
from zaiban.infra import start as start_component
from zaiban.infra import stop as stop_component

PIPELINE = ("intake", "routing", "tracking", "metrics")
"""The services a case passes through and is counted by (notify and opendata have fault
tests of their own; here they would only add restarts)."""

READY_AGAIN_S = 180.0
SLOWEST_ANSWER_S = 20.0
"""However away the broker or the store, a client hears something (a 503 saying when to
come back) within this."""


@dataclass(frozen=True)
class Size:
    """How much of a scenario: cases at least (more are driven while faults go on), clients
    at once, and the scenario's own figures (kills, seconds away, ...)."""

    cases: int
    workers: int = 12
    within_s: float = 400.0
    """How long a client keeps trying one step of a case (a submission, an acceptance, ...)
    before it gives up, and the run fails: past the longest outage and its recovery."""
    knobs: Mapping[str, float] = field(default_factory=dict)

    def knob(self, name: str) -> float:
        return self.knobs[name]


@dataclass
class Injected:
    """One fault: what, when (seconds into the run), how long it lasted, and how long until
    every service answered ready again after it."""

    fault: str
    at_s: float
    lasted_s: float = 0.0
    recovered_s: float | None = None


@dataclass
class Stack:
    """The broker and the store of the run, to stop and start (a stack of the run's own)."""

    settings: StackSettings | None

    async def stop(self, component: str) -> None:
        await asyncio.to_thread(stop_component, component, self.own())

    async def start(self, component: str) -> None:
        await asyncio.to_thread(start_component, component, self.own())

    def own(self) -> StackSettings:
        if self.settings is None:
            raise RuntimeError("this scenario stops the broker or the store: it needs a stack "
                               "of its own")
        return self.settings


@dataclass
class Run:
    """What a scenario acts on while the clients drive cases."""

    settings: CommonSettings
    fleet: Fleet
    stack: Stack
    rng: random.Random
    size: Size
    load: Load
    prepared: Any = None
    """What the scenario's `around` made ready for it to act on (a network of proxies)."""
    started: float = field(default_factory=time.monotonic)
    injected: list[Injected] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What the scenario saw go wrong while it injected (a service that did not say it was
    not ready, say)."""

    def now(self) -> float:
        return time.monotonic() - self.started

    def begin(self, fault: str) -> Injected:
        injected = Injected(fault, at_s=round(self.now(), 1))
        self.injected.append(injected)
        return injected

    def end(self, injected: Injected) -> None:
        injected.lasted_s = round(self.now() - injected.at_s, 1)

    async def recovered(self, injected: Injected, timeout: float = READY_AGAIN_S) -> None:
        """Wait until every service answers ready; note how long it took after the fault."""
        if not injected.lasted_s:
            self.end(injected)
        ended = time.monotonic()
        await eventually(lambda: self.fleet.all_say(200), timeout=timeout, every=0.2,
                         what=f"every service ready again after {injected.fault}")
        injected.recovered_s = round(time.monotonic() - ended, 1)

    async def all_say(self, status: int, within_s: float, why: str) -> None:
        """Expect every service to answer `status` on /readyz within `within_s`; a problem
        of the run otherwise."""
        try:
            await eventually(lambda: self.fleet.all_say(status), timeout=within_s, every=0.2,
                             what=f"every service to answer {status} on /readyz {why}")
        except AssertionError as error:
            self.problems.append(str(error)[:300])

    async def says_not_ready(self, service: str, within_s: float, why: str) -> None:
        """Expect every copy of `service` to stop answering 200 on /readyz within
        `within_s` (503, or no answer in time); a problem of the run otherwise."""
        async def not_ready() -> bool:
            answers = await asyncio.gather(*(c.readiness() for c in self.fleet.copies(service)))
            return all(answer != 200 for answer in answers)

        try:
            await eventually(not_ready, timeout=within_s, every=0.2,
                             what=f"{service} to say it is not ready {why}")
        except AssertionError as error:
            self.problems.append(str(error)[:300])

    async def under_way(self, cases: int) -> None:
        """Wait until clients have been told of `cases` cases: the services are busy."""
        async def enough() -> bool:
            return len(self.load.submitted) >= cases

        await eventually(enough, timeout=self.size.within_s, every=0.2,
                         what=f"{cases} cases to be accepted before the fault")


Inject = Callable[[Run], Coroutine[object, object, None]]


@dataclass(frozen=True)
class Prepared:
    """What a scenario's `around` made ready before the fleet starts: the fleet's options
    (as `fleet_options` gives them) and what `inject` acts on (`Run.prepared`)."""

    fleet_options: Mapping[str, Any] = field(default_factory=dict)
    tools: Any = None


Around = Callable[[CommonSettings, Stack], contextlib.AbstractAsyncContextManager[Prepared]]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    inject: Inject
    full: Size
    short: Size
    own_stack: bool = False
    """Stops the broker or the store: runs on a stack of its own."""
    services: tuple[str, ...] = PIPELINE
    expected_dead_letters: tuple[str, ...] = ()
    fleet_options: Callable[[CommonSettings], Mapping[str, Any]] | None = None
    """Environment or a command prefix of a service's own (`Fleet(own=..., prefixes=...)`)."""
    around: Around | None = None
    """Prepares what the fleet runs through (Toxiproxy and its proxies, say) before the
    fleet starts, and takes it away once the fleet and the checks are done."""


@dataclass
class Findings:
    scenario: str
    cases: int = 0
    resolved: int = 0
    lost: int = 0
    unconfirmed: int = 0
    """In the log, though no client was told of them (a client that gave up)."""
    seq_collisions: str = ""
    stuck: dict[str, str] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    figures_equal_told: bool = False
    equals_replay: bool = False
    dead_letters: dict[str, list[str]] = field(default_factory=dict)
    ready_at_end: bool = False
    injected: list[Injected] = field(default_factory=list)
    client: dict[str, Any] = field(default_factory=dict)
    errors_logged: int = 0
    starts: dict[str, int] = field(default_factory=dict)
    """How many times each copy was started (1: never restarted)."""
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def figures(self) -> dict[str, Any]:
        recoveries = [i.recovered_s for i in self.injected if i.recovered_s is not None]
        return {
            "scenario": self.scenario, "ok": self.ok, "problems": self.problems,
            "faults": len(self.injected), "cases": self.cases, "resolved": self.resolved,
            "lost": self.lost, "unconfirmed": self.unconfirmed,
            "seq_collisions": self.seq_collisions, "stuck": len(self.stuck),
            "figures_equal_told": self.figures_equal_told, "equals_replay": self.equals_replay,
            "dead_letters": {k: len(v) for k, v in self.dead_letters.items()},
            "slowest_recovery_s": max(recoveries, default=None),
            "ready_at_end": self.ready_at_end, "errors_logged": self.errors_logged,
            "seconds": self.seconds, "client": self.client, "starts": self.starts,
            "injected": [vars(i) for i in self.injected],
        }


async def _progress(chaos: Run, say: Callable[[str], None], every_s: float = 15.0) -> None:
    while True:
        await asyncio.sleep(every_s)
        load = chaos.load
        say(f"  {chaos.now():.0f} s: {len(load.submitted)} cases accepted, "
            f"{len(load.resolved)} resolved, {len(load.open)} left with the department, "
            f"{len(chaos.injected)} faults, {load.tally.retries} retries")


async def run(scenario: Scenario, size: Size, settings: CommonSettings, stack: Stack,
              logs: Path, *, secret: SecretStr, fleet_type: type[Fleet] = Fleet,
              seed: int = 20, say: Callable[[str], None] | None = None) -> Findings:
    """Drive, inject, wait for quiet, check. Never raises for what it finds: the findings
    say it (`problems`); it raises only when the run itself could not be had. `say` hears
    how far the traffic got, every few seconds."""
    options = dict(scenario.fleet_options(settings)) if scenario.fleet_options else {}
    found = Findings(scenario.name)
    started = time.monotonic()
    async with contextlib.AsyncExitStack() as around:
        prepared = (await around.enter_async_context(scenario.around(settings, stack))
                    if scenario.around else Prepared())
        fleet = await around.enter_async_context(fleet_type(
            settings, logs, scenario.services, **{**options, **prepared.fleet_options}))
        load = Load()
        chaos = Run(settings, fleet, stack, random.Random(seed), size, load, prepared.tools)
        clients = Clients(fleet["intake"].url, fleet["routing"].url, secret)
        telling = asyncio.create_task(_progress(chaos, say)) if say else None
        try:
            injecting = asyncio.create_task(scenario.inject(chaos))
            driven = await drive(load, clients, size.cases, workers=size.workers,
                                 key_prefix=f"chaos-{scenario.name}", within_s=size.within_s,
                                 until=injecting, article=True)
            await injecting
        finally:
            await clients.aclose()
            if telling:
                telling.cancel()
        if say:
            say(f"  {chaos.now():.0f} s: traffic over ({driven} cases); waiting for quiet")
        found.injected = chaos.injected
        found.problems.extend(chaos.problems)
        found.starts = {p.name: p.starts for p in fleet.every()}
        found.client = {**load.tally.figures(), "503s": load.refused_503,
                        "503s_without_retry_after": load.retry_after_missing, "driven": driven}
        found.stuck, found.unexpected = load.stuck, load.unexpected
        await _check(found, settings, fleet, load, scenario)
    found.errors_logged = len(fleet.logged_errors())
    found.seconds = round(time.monotonic() - started, 1)
    return found


async def _check(found: Findings, settings: CommonSettings, fleet: Fleet, load: Load,
                 scenario: Scenario) -> None:
    problems = found.problems
    if load.unexpected:
        problems.append(f"{len(load.unexpected)} unexpected answers, e.g. {load.unexpected[0]}")
    if load.stuck:
        case_id, why = next(iter(load.stuck.items()))
        problems.append(f"{len(load.stuck)} cases stuck, e.g. {case_id}: {why}")
    if load.tally.slowest_s > SLOWEST_ANSWER_S:
        problems.append(f"an answer took {load.tally.slowest_s:.1f} s (over "
                        f"{SLOWEST_ANSWER_S:g} s)")
    if load.retry_after_missing:
        problems.append(f"{load.retry_after_missing} answers 503 without Retry-After")
    try:
        await eventually(lambda: fleet.all_say(200), timeout=READY_AGAIN_S, every=0.5,
                         what="every service to be ready at the end")
        found.ready_at_end = True
    except AssertionError as error:
        problems.append(str(error)[:300])
    try:
        log = await the_log(settings)
    except AssertionError as collision:
        found.seq_collisions = str(collision)
        problems.append(str(collision))
        return
    found.cases, found.resolved = len(log.cases), len(log.resolved)
    found.lost = len(load.submitted - log.cases)
    found.unconfirmed = len(log.cases - load.submitted)
    if found.lost:
        problems.append(f"{found.lost} cases told accepted are not in the log")
    if found.unconfirmed:
        problems.append(f"{found.unconfirmed} cases in the log no client was told of")
    if not load.resolved <= log.resolved or log.resolutions != len(log.resolved):
        problems.append(f"resolutions: told {len(load.resolved)}, logged {log.resolutions} "
                        f"for {len(log.resolved)} cases")
    try:
        live = await tracking_caught_up(settings, log, timeout=READY_AGAIN_S)
        async with httpx.AsyncClient(base_url=fleet["metrics"].url, timeout=10) as http:
            summary = await metrics_caught_up(http, log, timeout=READY_AGAIN_S)
        counters = await metrics_counters(settings)
    except AssertionError as error:
        problems.append(str(error)[:300])
        return
    found.figures_equal_told = (summary["received"], summary["resolved"]) == (
        len(load.submitted), len(load.resolved))
    if not found.figures_equal_told:
        problems.append(f"figures {summary['received']} received, {summary['resolved']} "
                        f"resolved; clients were told {len(load.submitted)} and "
                        f"{len(load.resolved)}")
    replayed = await clean_replay(settings)
    found.equals_replay = replayed.tracking == live and replayed.counters == counters
    if not found.equals_replay:
        which = [name for name, same in (("tracking", replayed.tracking == live),
                                         ("metrics", replayed.counters == counters)) if not same]
        problems.append(f"{' and '.join(which)} differ from a clean replay")
    found.dead_letters = await dead_letters(settings, scenario.services)
    unexpected = set(found.dead_letters) - set(scenario.expected_dead_letters)
    if unexpected:
        problems.append(f"dead letters from {sorted(unexpected)}: "
                        f"{found.dead_letters[min(unexpected)][:2]}")
