"""`zaiban bench lifecycle`: the article's volume through the services that decide.

心通橋's figures: 30,148 requests received, 25,807 resolved, 85.6% (辦結率). Here
each case goes its whole way through the real services, each a `zaiban serve`
process (`zaiban.chaos.fleet.Fleet`: intake, routing, tracking, metrics), driven
by `zaiban.chaos.traffic` as clients do it:

- a resident submits: 70% over HTTP (`POST /api/cases`), 15% through Open311
  (`POST /open311/v2/requests.json`), 15% on the bus (a frontend's sealed
  submission on the submissions topic; the case number from its receipt);
- an information officer accepts it over HTTP; routing dispatches it by its
  rules (to the signal company) by itself;
- the department acknowledges and, for exactly the article's share of the
  cases (25,807 of 30,148, spread evenly), resolves: 80% over HTTP, 20% by its
  own system on the bus (its cases topic in, its replies topic out); the
  other cases stay in its hands. The desk that answers over HTTP acts once its
  system has seen the case assigned on the bus (as a desk told by its inbox),
  not by asking routing again and again before it has routed the case: such
  asking cost routing a load of the case per try (12 tries a case at 1,500
  cases, more than the commands that did something);
- residents answer 60% of the resolved cases with their tracking code, once told
  the case is resolved (by routing's answer over HTTP; for a resolution on the
  bus, by the case log, as notify tells a resident): 90% of those fixed and
  satisfied (the case closes), 10% fixed but not satisfied (a dispute for
  supervision). Nobody says "not fixed": a reopen would take a
  resolution back from the article's figures.

The scenario ends when metrics' public summary (`/api/stats/summary`) counts
every case; it checks that it says exactly the article's proportion at the run's
size (at 30,148 cases: 30,148 received, 25,807 resolved, 85.6%).

Reported: the rate of each stage (from the case log: when each event was
recorded), each command's latency (the answer that did it; a bus submission from
publish to receipt), every consumer group's lag (log end minus committed
offset, sampled every `lag_every_s`), the CPU time each service spent per case
over the run (where a faster machine would not go further: the services share
its cores) and the commands it sent its store per case (round trips, which a busy
machine does not change: `zaiban_store_commands_total` on each service's /metrics),
the wall time from the first submission to the figures, and a PNG of rates and
lag over time beside the JSON. Target: the
full volume in under 10 minutes; a smaller run is projected to 30,148 cases at
the cases per second it reached.

It runs in the bench's own corner of the local stack (`env.opened`: prefixed
topics and databases, dropped afterwards) rather than on a private broker and
store like `zaiban chaos`: no faults are injected, so a second Kafka and FerretDB
would only cost a minute to start and memory on a small machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from contracts.topics import Topics
from zaiban.bench.env import Bench, BenchError, Positions, profiled, store_commands, usage
from zaiban.bench.report import Result, latency_summary, rate
from zaiban.chaos.fleet import Fleet
from zaiban.chaos.traffic import ARTICLE, Bus, Clients, Load, Mix, drive
from zaiban.dlq import read_topic

PIPELINE = ("intake", "routing", "tracking", "metrics")
LOAD_GENERATOR = "load generator"
"""This process: the residents', officers' and departments' clients, the frontends on the bus."""
TARGET_S = 600.0
"""The article's whole volume in under 10 minutes."""

MIX = Mix(open311=15, bus=15, department_on_bus=20, answered=60, disputed=10)
"""The shares of the module's docstring."""

STAGES = {"CaseSubmitted": "submitted", "CaseAccepted": "accepted", "CaseRouted": "routed",
          "CaseAcknowledged": "acknowledged", "CaseResolved": "resolved",
          "FeedbackGiven": "answered"}
"""The events that mark each stage of a case, and the stage's name."""


@dataclass(frozen=True)
class Sizes:
    cases: int = ARTICLE[0]
    workers: int = 64
    """Clients at once, each amid one case (most of a case's time is waiting for routing
    to read the acceptance: enough clients keep the services busy meanwhile)."""
    within_s: float = 600.0
    """How long a client keeps trying one step of a case before the case is stuck."""
    lag_every_s: float = 2.0
    figures_within_s: float = 600.0
    """After the last client is done, how long the read models may take to count all."""
    mix: Mix = MIX

    @property
    def resolved(self) -> int:
        return round(self.cases * ARTICLE[1] / ARTICLE[0])


@dataclass
class Lag:
    """Each consumer group's lag over time: seconds into the run, then records behind."""

    at: list[float] = field(default_factory=list)
    behind: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))


def groups(bench: Bench) -> dict[str, tuple[str, str]]:
    """Each service group this scenario runs: its name, then (group id, topic)."""
    prefix = bench.settings.topic_prefix
    topics = Topics(prefix)
    found = {service: (f"{prefix}zaiban-{service}", topics.case_events) for service in PIPELINE}
    found["intake submissions"] = (f"{prefix}zaiban-intake", topics.submissions)
    found["routing replies"] = (f"{prefix}zaiban-routing-replies",
                                topics.department_replies("signal-co"))
    return found


async def sample_lag(bench: Bench, lag: Lag, started: float, every_s: float) -> None:
    """Every `every_s`: log end minus committed offset, per group (until cancelled)."""
    watched = groups(bench)
    async with Positions(bench.settings) as positions:
        while True:
            at = time.monotonic() - started
            # committed first, ends after: a group cannot be ahead of the end it is read against
            committed = {name: await positions.committed(group, topic)
                         for name, (group, topic) in watched.items()}
            ends = {topic: sum((await positions.ends(topic)).values())
                    for topic in {topic for _, topic in watched.values()}}
            for name, (_, topic) in watched.items():
                lag.behind[name].append(ends[topic] - committed[name])
            lag.at.append(round(at, 1))
            await asyncio.sleep(every_s)


async def figures(metrics: str, cases: int, resolved: int, answered: int,
                  within_s: float) -> dict[str, Any]:
    """Metrics' public summary once it counts `cases` received, `resolved` resolved and the
    residents' `answered` answers (or what it says after `within_s`)."""
    deadline = time.monotonic() + within_s
    summary: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=metrics, timeout=10) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                answer = await http.get("/api/stats/summary")
                if answer.status_code == 200:
                    summary = answer.json()
                    if (summary.get("received"), summary.get("resolved"),
                            summary.get("feedback")) == (cases, resolved, answered):
                        return summary
            await asyncio.sleep(0.5)
    return summary


async def stage_times(bench: Bench, since: datetime) -> dict[str, list[float]]:
    """Seconds after `since` at which each stage's events were recorded, from the log."""
    records = await read_topic(bench.settings, Topics(bench.settings.topic_prefix).case_events)
    times: dict[str, list[float]] = defaultdict(list)
    seen: set[tuple[str, int]] = set()
    for record in records:
        event = json.loads(record.value)
        stage = STAGES.get(event["type"])
        once = (event["case_id"], event["seq"])
        if stage is None or once in seen:  # a republished copy is the same event
            continue
        seen.add(once)
        recorded = datetime.fromisoformat(event["recorded_at"])
        times[stage].append((recorded - since).total_seconds())
    return times


def per_second(times: list[float], bucket_s: float, until_s: float) -> list[float]:
    """Events per second in each bucket of `bucket_s` from 0 to `until_s`."""
    counts = Counter(int(t // bucket_s) for t in times if t >= 0)
    return [counts[i] / bucket_s for i in range(math.ceil(until_s / bucket_s))]


def plot(path: Path, times: dict[str, list[float]], lag: Lag, until_s: float,
         title: str) -> Path | None:
    """Stage rates and consumer lag over time, one above the other (None without
    matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    bucket = 10.0
    figure, (rates, behind) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for stage in STAGES.values():
        series = per_second(times.get(stage, []), bucket, until_s)
        rates.plot([bucket * (i + 0.5) for i in range(len(series))], series, label=stage)
    rates.set_ylabel(f"events per second ({bucket:g} s buckets)")
    rates.legend(loc="upper right", fontsize="small")
    rates.set_title(title)
    for name, values in lag.behind.items():
        behind.plot(lag.at, values, label=name)
    behind.set_ylabel("consumer lag (records)")
    behind.set_xlabel("seconds since the first submission")
    behind.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


async def _progress(bench: Bench, load: Load, total: int) -> None:
    step = bench.steps.start(f"lifecycle: {total:,} cases (submitted)", total)
    try:
        while True:
            step.to(len(load.submitted))
            await asyncio.sleep(0.5)
    finally:
        step.done()


async def run(bench: Bench, sizes: Sizes = Sizes()) -> Result:
    params: dict[str, Any] = {**vars(sizes), "mix": vars(sizes.mix)}
    result = Result("lifecycle", params=params)
    load, lag, profiles = Load(), Lag(), dict[str, Any]()
    secret = bench.settings.auth_secret
    if secret is None:
        raise BenchError("the bench's settings have no signing secret")
    logs = bench.folder / "logs" / f"{bench.token}-lifecycle"
    async with contextlib.AsyncExitStack() as stack:
        fleet = await stack.enter_async_context(Fleet(bench.settings, logs, PIPELINE))
        clients = Clients(fleet["intake"].url, fleet["routing"].url, secret, bus=Bus(bench.settings),
                          lanes=sizes.workers)
        stack.push_async_callback(clients.aclose)
        assert clients.bus is not None
        await clients.bus.start(clients.intake)
        stack.push_async_callback(clients.bus.aclose)
        pids: dict[str, int] = {}
        for name in PIPELINE:
            process = fleet[name].process
            assert process is not None
            pids[name] = process.pid
            await stack.enter_async_context(profiled(bench, process.pid, f"lifecycle-{name}",
                                                     profiles))
        # beside the services: the store and the broker (when the run has the local stack's)
        # and this process, the load generator: together what the machine spent on the run
        others = {**bench.stack_pids, LOAD_GENERATOR: os.getpid()}
        cpu_before = {name: usage(pid).cpu_s for name, pid in {**pids, **others}.items()}
        commands_before = {name: await store_commands(fleet[name].url) for name in PIPELINE}
        since, started = datetime.now(UTC), time.monotonic()
        background = [asyncio.create_task(sample_lag(bench, lag, started, sizes.lag_every_s)),
                      asyncio.create_task(_progress(bench, load, sizes.cases))]
        try:
            driven = await drive(load, clients, sizes.cases, workers=sizes.workers,
                                 key_prefix=f"life-{bench.token}", within_s=sizes.within_s,
                                 article=True, mix=sizes.mix)
            driven_s = time.monotonic() - started
            answered = (load.ways.get("answered satisfied", 0)
                        + load.ways.get("answered disputed", 0))
            summary = await figures(fleet["metrics"].url, sizes.cases, sizes.resolved,
                                    answered, sizes.figures_within_s)
            wall_s = time.monotonic() - started
            cpu_s = {name: usage(pid).cpu_s - cpu_before[name]
                     for name, pid in {**pids, **others}.items()}
            commands = {name: await store_commands(fleet[name].url) - commands_before[name]
                        for name in PIPELINE}
            await asyncio.sleep(sizes.lag_every_s)  # one more sample: the lag at the end
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        errors = fleet.logged_errors()
    times = await stage_times(bench, since)
    report(result, sizes, load, lag, times, summary, driven, driven_s, wall_s, errors)
    report_cpu(result, cpu_s, sizes.cases, wall_s)
    result.add("store commands per case", **{name: count / sizes.cases
                                             for name, count in commands.items()},
               all=sum(commands.values()) / sizes.cases)
    if profiles:
        result.params["profiles"] = profiles
    drawn = plot(bench.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-lifecycle.png", times, lag,
                 wall_s, f"zaiban bench lifecycle: {sizes.cases:,} cases")
    result.params["plot"] = str(drawn) if drawn else None
    if drawn is None:
        result.note("no plot: matplotlib is not installed (make install)")
    return result


def report_cpu(result: Result, cpu_s: dict[str, float], cases: int, wall_s: float) -> None:
    """CPU ms per case of each process: the services, `all` of them, then the store, the broker
    and the load generator when measured, and `machine`, their sum; `cores busy`: that sum
    over the run's wall time (2 on a machine of 2 cores: nothing left for a faster rate)."""
    services = {name: seconds for name, seconds in cpu_s.items() if name in PIPELINE}
    others = {name: seconds for name, seconds in cpu_s.items() if name not in PIPELINE}
    per_case = {name: 1000 * seconds / cases for name, seconds in services.items()}
    per_case["all"] = 1000 * sum(services.values()) / cases
    per_case.update({name: 1000 * seconds / cases for name, seconds in others.items()})
    if others:
        per_case["machine"] = 1000 * sum(cpu_s.values()) / cases
        per_case["cores busy"] = sum(cpu_s.values()) / wall_s if wall_s else math.nan
    result.add("CPU ms per case", **per_case)


def report(result: Result, sizes: Sizes, load: Load, lag: Lag, times: dict[str, list[float]],
           summary: dict[str, Any], driven: int, driven_s: float, wall_s: float,
           errors: list[str]) -> None:
    cases_per_s = rate(sizes.cases, wall_s)
    result.add("cases", driven=driven, told_accepted=len(load.submitted),
               told_resolved=len(load.resolved), left_open=len(load.open),
               stuck=len(load.stuck), unexpected=len(load.unexpected),
               clients_s=driven_s, wall_s=wall_s, cases_per_s=cases_per_s,
               projected_30148_s=ARTICLE[0] / cases_per_s if cases_per_s else math.nan)
    result.add("figures (metrics)", received=summary.get("received", math.nan),
               resolved=summary.get("resolved", math.nan),
               resolution_rate_pct=summary.get("resolution_rate_pct") or math.nan,
               feedback=summary.get("feedback", math.nan),
               satisfied=summary.get("satisfied", math.nan))
    result.add("ways", **dict(sorted(load.ways.items())))
    # stages, commands and groups as rows of one table: figures as columns
    for stage in STAGES.values():
        found = times.get(stage, [])
        result.rows.append({"what": f"stage {stage}", "n": len(found),
                            "per_s": rate(len(found), wall_s),
                            "peak/s": max(per_second(found, 10.0, wall_s), default=0.0)})
    for command, seconds in sorted(load.latencies.items()):
        summary_ms = latency_summary(seconds)
        result.rows.append({"what": f"command {command}", "n": len(seconds),
                            **{name.removesuffix("_ms"): summary_ms[name]
                               for name in ("p50_ms", "p95_ms", "p99_ms")}})
    for name, values in lag.behind.items():
        result.rows.append({"what": f"lag {name}", "lag max": max(values, default=0),
                            "mean": sum(values) / len(values) if values else 0.0,
                            "end": values[-1] if values else 0})
    result.add("client", retries=load.tally.retries, waits=load.tally.waits,
               unreachable=load.tally.unreachable, slowest_s=load.tally.slowest_s)
    result.params["lag"] = {"every_s": sizes.lag_every_s, "at_s": lag.at,
                            "behind": dict(lag.behind)}
    expected_rate = round(100 * sizes.resolved / sizes.cases, 1)
    off = (abs(summary.get("received", 0) - sizes.cases)
           + abs(summary.get("resolved", 0) - sizes.resolved)
           + (summary.get("resolution_rate_pct") != expected_rate))
    result.check(f"figures off the article's share ({sizes.cases:,} received, "
                 f"{sizes.resolved:,} resolved, {expected_rate}%)", off, 1, "", "below")
    result.check("cases stuck or refused", len(load.stuck) + len(load.unexpected), 1, "",
                 "below")
    projected = wall_s * ARTICLE[0] / sizes.cases
    name = ("30,148 cases, wall time" if sizes.cases >= ARTICLE[0] else
            f"30,148 cases, projected from {sizes.cases:,} at {cases_per_s:.1f} cases/s")
    result.check(name, projected, TARGET_S, " s", "below")
    if load.stuck:
        case_id, why = next(iter(load.stuck.items()))
        result.note(f"{len(load.stuck)} cases stuck, e.g. {case_id}: {why}")
    if load.unexpected:
        result.note(f"{len(load.unexpected)} unexpected answers, e.g. {load.unexpected[0]}")
    if errors:
        result.note(f"{len(errors)} lines logged at ERROR by the services, e.g. {errors[0][:300]}")
    result.note("stage: events recorded per second of wall time (first submission to the "
                "figures), peak over 10 s; command: latency in ms of the answer that did it "
                "(retries and waits for routing excluded; a bus submission from publish to "
                "its receipt); lag: records behind the log's end, sampled every "
                f"{sizes.lag_every_s:g} s")
