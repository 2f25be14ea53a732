"""Services whose clocks are off by five minutes (their hosts have no NTP): the services
run as processes, routing and intake under libfaketime (`zaiban.chaos.clocks`), one 300 s
ahead and the other 300 s behind (ten minutes apart), while the broker, the store, the
metrics and this test keep the true time. Cases go through submit / accept / acknowledge
/ resolve over HTTP, as clients do, in a city whose limits run out in minutes (triage and
first response 3, resolution 4); one case is left untriaged and one unacknowledged, for
the deadline sweep to look at.

Then, by the true clock (this test's):
(a) no case's timeline goes backwards: each event is dated no earlier than the one before;
(b) each event is dated within the request that made it (a routing at its acceptance), so
    every deadline promised is the one a true clock gives; and nothing is marked overdue,
    no case being due yet;
(c) the public figures are those of the true times: every case on time, the median first
    response and resolution times within what the clients saw, and equal to a clean replay.
Each service said how far off its clock was: /readyz gives the offset it measured.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from faults.lifecycle import REQUEST, Clients, Load, drive
from faults.processes import Fleet
from faults.verify import clean_replay, metrics_counters
from helpers import as_admin, eventually, read_events
from servicefixtures import token

from contracts.envelope import Envelope
from contracts.facts import Role
from contracts.topics import Topics
from services.common.settings import REPO_ROOT, CommonSettings
from zaiban.chaos.clocks import clock_off_by

PIPELINE = ("intake", "routing", "metrics")
"""What dates events (intake, routing) and what counts them; tracking's timelines show the
log's dates as they are, checked here in the log itself."""
CASES = 6
OFF_S = 300.0
LIMITS = {"triage": "3 minutes", "response": "3 minutes", "resolution": "4 minutes"}
"""The general class's limits (the traffic lights' category is general): a clock five
minutes off moves each across the true time while the test runs."""
OFFICER = token(Role.OFFICER, subject="officer-clock")
SLACK_S = 0.25
"""How far an event's date may lie outside the request that made it: the clock's measured
offset is good to a millisecond or two here; this leaves room for a loaded machine."""


@pytest.fixture
def city_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "city"
    folder.mkdir()
    for source in (REPO_ROOT / "deploy" / "config").glob("*.yaml"):
        shutil.copy(source, folder / source.name)
    limits = yaml.safe_load((folder / "deadlines.yaml").read_text(encoding="utf-8"))
    limits["general"] = LIMITS
    (folder / "deadlines.yaml").write_text(yaml.safe_dump(limits), encoding="utf-8")
    return folder


@dataclass
class Windows:
    """By the true clock, when each command was first sent and when it was answered 2xx:
    (case id, action) -> (sent, answered); a submission is keyed by its Idempotency-Key
    until its answer names the case."""

    sent: dict[str, float] = field(default_factory=dict)
    done: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def watch(self, http: httpx.AsyncClient) -> None:
        http.event_hooks = {"request": [self._sending], "response": [self._answered]}

    @staticmethod
    def _key(request: httpx.Request) -> str:
        return request.headers.get("idempotency-key") or request.url.path

    async def _sending(self, request: httpx.Request) -> None:
        self.sent.setdefault(self._key(request), time.time())

    async def _answered(self, response: httpx.Response) -> None:
        answered, request = time.time(), response.request
        if request.method != "POST" or not response.is_success:
            return
        sent = self.sent[self._key(request)]
        if request.url.path == "/api/cases":
            await response.aread()
            case_id, action = response.json()["case_id"], "submit"
        else:
            _, _, case_id, action = request.url.path.strip("/").split("/")
        self.done.setdefault((case_id, action), (sent, answered))

    def of(self, case_id: str, action: str) -> tuple[datetime, datetime]:
        sent, answered = self.done[(case_id, action)]
        slack = timedelta(seconds=SLACK_S)
        return (datetime.fromtimestamp(sent, UTC) - slack,
                datetime.fromtimestamp(answered, UTC) + slack)


def within(moment: datetime, window: tuple[datetime, datetime], what: str) -> None:
    low, high = window
    assert low <= moment <= high, (
        f"{what} at {moment.isoformat()}, outside [{low.isoformat()}, {high.isoformat()}] "
        "(when it happened, by the true clock) "
        f"({(moment - low if moment < low else moment - high).total_seconds():+.3f} s)")


async def leave_waiting(clients: Clients) -> tuple[str, str]:
    """One case submitted and left untriaged, one accepted (routing routes it) and left
    unacknowledged: their deadlines are for the sweep."""
    ids = []
    for number in (1, 2):
        answer = await clients.intake.post("/api/cases", json=REQUEST,
                                           headers={"Idempotency-Key": f"waiting-{number}"})
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["case_id"])
    untriaged, unacknowledged = ids
    answer = await clients.intake.post(f"/api/cases/{unacknowledged}/accept",
                                       json={"note": "已核实"}, headers=OFFICER)
    assert answer.status_code == 200, answer.text
    return untriaged, unacknowledged


async def record_times(settings: CommonSettings) -> dict[tuple[str, int], datetime]:
    """The Kafka timestamp of each record of the case event log, by (case, seq)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, **as_admin())
    await consumer.start()
    try:
        topic = Topics(settings.topic_prefix).case_events
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions, f"no partitions of {topic}"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends, times = await consumer.end_offsets(partitions), {}
        while [p for p in partitions if await consumer.position(p) < ends[p]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    envelope = Envelope.from_bytes(record.value)
                    times[(envelope.case_id, envelope.seq)] = datetime.fromtimestamp(
                        record.timestamp / 1000, UTC)
        return times
    finally:
        await consumer.stop()


async def summary_of(http: httpx.AsyncClient, received: int, resolved: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        answer = await http.get("/api/stats/summary")
        found: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        return found if (found.get("received"), found.get("resolved")) == (
            received, resolved) else None

    return await eventually(probe, timeout=30, every=0.3, what="the metrics to count the cases")


def nearest_rank_median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[(len(ordered) + 1) // 2 - 1]


def near(estimate: float, low: float, high: float) -> bool:
    """A median read from the histogram's buckets (9% wide; [0, 1) s is one bucket) lies in
    the bucket of the true median, which lies between the medians of the lower and upper
    bounds of the true durations."""
    return low * 0.9 - 1.0 <= estimate <= high * 1.1 + 1.0


# One direction here (the suite has a budget): routing ahead is the one that could mark a
# case overdue early. A timeline going backwards, the other direction's symptom, is also
# refused by `Case.record` (tests/unit/lifecycle/test_case.py); both directions passed here
# when this test was written.
@pytest.mark.parametrize("off", [{"routing": OFF_S, "intake": -OFF_S}],
                         ids=["routing-ahead-intake-behind"])
async def test_services_minutes_off_date_every_event_by_the_true_clock(
        settings: CommonSettings, tmp_path: Path, city_dir: Path,
        off: dict[str, float]) -> None:
    started = time.time()
    windows, load = Windows(), Load()
    async with Fleet(settings, tmp_path / "logs", names=PIPELINE,
                     own={name: clock_off_by(off_s) for name, off_s in off.items()},
                     ZAIBAN_CONFIG_DIR=str(city_dir), ZAIBAN_SWEEP_EVERY_S="0.5") as fleet:
        readiness = {}
        for name in off:
            async with httpx.AsyncClient(base_url=fleet[name].url, timeout=10) as http:
                readiness[name] = (await http.get("/readyz")).json()
        clients = Clients(fleet["intake"].url, fleet["routing"].url)
        windows.watch(clients.intake)
        windows.watch(clients.routing)
        try:
            waiting = await leave_waiting(clients)
            driven = await drive(load, clients, CASES, workers=CASES, within_s=40)
        finally:
            await clients.aclose()
        assert not load.unexpected and not load.stuck, (load.unexpected, load.stuck)
        assert len(load.resolved) == driven == CASES

        # the unacknowledged case reached its department, and the sweep has looked at both
        async def routed() -> list[Envelope] | None:
            events = await read_events(settings, case_id=waiting[1])
            return events if any(e.type == "CaseRouted" for e in events) else None

        await eventually(routed, timeout=20, what="routing to route the waiting case")
        await asyncio.sleep(2.0)  # four sweeps
        events = await read_events(settings)
        kafka_times = await record_times(settings)
        async with httpx.AsyncClient(base_url=fleet["metrics"].url, timeout=10) as http:
            summary = await summary_of(http, CASES + 2, CASES)
        live = await metrics_counters(settings)
    elapsed = time.time() - started
    assert elapsed < 170, "past the first deadline by the true clock: (b) would mean nothing"

    cases: dict[str, list[Envelope]] = defaultdict(list)
    for envelope in events:
        cases[envelope.case_id].append(envelope)
    assert set(cases) == load.resolved | set(waiting)

    # (a) no timeline goes backwards
    for case_id, history in cases.items():
        dates = [e.occurred_at for e in history]
        assert dates == sorted(dates), (
            f"{case_id}'s timeline goes backwards: {[(e.type, e.occurred_at) for e in history]}")

    # (b) every event dated within its request; the deadlines are the true clock's
    limit = {clock_: timedelta(minutes=int(text.split()[0])) for clock_, text in LIMITS.items()}
    for case_id, history in cases.items():
        of = {e.type: e for e in history}
        submitted = of["CaseSubmitted"]
        within(submitted.occurred_at, windows.of(case_id, "submit"), f"{case_id} submitted")
        assert submitted.facts.triage_due_at == submitted.occurred_at + limit["triage"]
        if case_id == waiting[0]:
            continue
        accepted, routed = of["CaseAccepted"], of["CaseRouted"]
        within(accepted.occurred_at, windows.of(case_id, "accept"), f"{case_id} accepted")
        assert routed.occurred_at == accepted.occurred_at  # dispatch is dated at acceptance
        assert routed.facts.response_due_at == routed.occurred_at + limit["response"]
        assert routed.facts.due_at == routed.occurred_at + limit["resolution"]
        if case_id == waiting[1]:
            continue
        for action, kind in (("acknowledge", "CaseAcknowledged"), ("resolve", "CaseResolved")):
            within(of[kind].occurred_at, windows.of(case_id, action), f"{case_id} {action}d")
    # and Kafka holds each record at the moment it was recorded, by the true clock too
    for envelope in events:
        stamped = kafka_times[(envelope.case_id, envelope.seq)]
        assert abs(stamped - envelope.recorded_at) < timedelta(milliseconds=1), (
            f"{envelope.case_id} {envelope.type} stamped {stamped}, recorded {envelope.recorded_at}")
        within(envelope.recorded_at, (datetime.fromtimestamp(started, UTC),
                                      datetime.fromtimestamp(started + elapsed, UTC)),
               f"{envelope.case_id} {envelope.type} recorded")
    overdue = [(e.case_id, e.data) for e in events if e.type == "CaseOverdue"]
    assert not overdue, f"marked overdue before any case was due by the true clock: {overdue}"

    # (c) the figures are the true clock's, and a clean replay's
    assert summary["on_time"] == CASES, summary
    for figure, action in (("first_response", "acknowledge"), ("resolution_time", "resolve")):
        lows = [windows.done[(c, action)][0] - windows.done[(c, "submit")][1]
                for c in load.resolved]
        highs = [windows.done[(c, action)][1] - windows.done[(c, "submit")][0]
                 for c in load.resolved]
        low, high = nearest_rank_median(lows), nearest_rank_median(highs)
        median = summary[figure]["median_s"]
        assert near(median, low, high), f"{figure}: median {median} s, true [{low:.2f}, {high:.2f}]"
    assert (await clean_replay(settings)).counters == live

    # each service measured how far off its clock was, against the store's
    measured = {name: readiness[name].get("clock", {}).get(name) for name in off}
    for name, off_s in off.items():
        clock = measured[name]
        assert clock is not None and abs(clock["offset_s"] + off_s) < 0.05, readiness[name]
        assert clock["uncertainty_s"] < 0.05, clock
        logged = [json.loads(line) for line in
                  (tmp_path / "logs" / f"{name}-1.log").read_text().splitlines()
                  if line.startswith("{")]
        warned = [line for line in logged if line.get("event") == "clock_skew"]
        assert warned and abs(warned[0]["offset_s"] + off_s) < 0.05, f"{name} did not warn"
    print("\nFAULT FIGURES", json.dumps({
        "test": "clocks off", "off_s": off, "measured": measured,
        "cases": CASES + 2, "first_response_median_s": summary["first_response"]["median_s"],
        "resolution_median_s": summary["resolution_time"]["median_s"],
        "seconds": round(time.time() - started, 1)}))
