"""One writer per case at each moment, on the real broker and store.

Intake and routing both record case events, each through a compare-and-set of its own
(`services/common/casestreams.py`). Were both allowed to decide on the same version of a
case, both would publish the next seq; every consumer keeps the first event of a seq and
skips the other as a repeat, so a command its client was told had been recorded would be
lost (an acceptance lost: the case never routed). Here an officer accepts cases whose
triage deadline has just passed while the deadline sweeps run, on every case at once:
the log must hold one event per (case, seq), and every acceptance answered 200 in it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from helpers import (
    WANGFUFEN_REQUEST,
    case_once,
    client_for,
    eventually,
    read_events,
    running,
    unique,
)
from servicefixtures import token

from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.facts import Actor, Role
from services.common.clock import ManualClock
from services.common.http import build_app
from services.common.settings import CommonSettings
from services.intake.service import IntakeService
from services.intake.settings import IntakeSettings
from services.lifecycle.ownership import NotTheWriter
from services.routing.service import RoutingService
from services.routing.settings import RoutingSettings

OFFICER = token(Role.OFFICER)
SUPERVISOR = token(Role.SUPERVISOR)
NOW = datetime(2026, 10, 12, 9, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
LATER = NOW + timedelta(days=10)  # past every category's triage deadline
CASES = 16
SWEEP_EVERY_S = 0.05
STAGGER_S = 0.1


@dataclass
class Writers:
    intake: IntakeService
    routing: RoutingService
    clock: ManualClock
    http: httpx.AsyncClient


@pytest_asyncio.fixture
async def writers(settings: CommonSettings) -> AsyncIterator[Writers]:
    """Intake and routing on one clock, their deadline sweeps running all the time."""
    clock = ManualClock(NOW)
    intake = IntakeService(IntakeSettings.from_common(settings, sweep_every_s=SWEEP_EVERY_S),
                           clock)
    routing = RoutingService(RoutingSettings.from_common(
        settings, sweep_every_s=SWEEP_EVERY_S, relay_every_s=1.0), clock)
    async with running(intake, routing), client_for(
            build_app([intake, routing], title="zaiban")) as http:
        yield Writers(intake, routing, clock, http)


def events_by_seq(log: list[Envelope]) -> dict[tuple[str, int], set[str]]:
    found: dict[tuple[str, int], set[str]] = defaultdict(set)
    for envelope in log:
        found[(envelope.case_id, envelope.seq)].add(str(envelope.event_id))
    return found


def kept(log: list[Envelope]) -> dict[str, list[Envelope]]:
    """Each case's events as a consumer keeps them: the first of each seq, in log order."""
    cases: dict[str, list[Envelope]] = defaultdict(list)
    for envelope in log:  # one case's events are on one partition: in log order here
        events = cases[envelope.case_id]
        if not events or envelope.seq > events[-1].seq:
            events.append(envelope)
    return cases


async def test_an_acceptance_racing_the_deadline_sweeps_is_never_lost(writers: Writers,
                                                                       settings: CommonSettings
                                                                       ) -> None:
    # given cases awaiting triage, known to both services
    case_ids = []
    for _ in range(CASES):
        answer = await writers.http.post("/api/cases", json=WANGFUFEN_REQUEST,
                                       headers={"Idempotency-Key": unique("one-writer-")})
        assert answer.status_code == 201, answer.text
        case_ids.append(answer.json()["case_id"])

    async def routing_knows_them() -> bool:
        return all([await writers.routing.streams.get(case_id) is not None
                    for case_id in case_ids])

    await eventually(routing_knows_them, timeout=30, every=0.1, what="routing to fold them")

    # when their triage deadlines pass as officers accept them — half of them at once, the
    # others one after the other — while the sweeps go through them (each in its own order,
    # beside the background sweeps): the sweeps get to some first, the officers to others,
    # and they meet on some
    writers.clock.set(LATER)

    async def accept(number: int, case_id: str) -> httpx.Response:
        await asyncio.sleep(number // 2 * STAGGER_S if number % 2 else 0)
        return await writers.http.post(f"/api/cases/{case_id}/accept", json={"note": "已核实"},
                                     headers=OFFICER)

    answers = await asyncio.gather(
        writers.intake.sweep_deadlines(), writers.routing.sweep(),
        *(accept(number, case_id) for number, case_id in enumerate(case_ids)))
    accepts = [answer for answer in answers if isinstance(answer, httpx.Response)]
    assert all(answer.status_code == 200 for answer in accepts), \
        [answer.text for answer in accepts if answer.status_code != 200]
    told = {event["event_id"] for answer in accepts for event in answer.json()["recorded"]}

    # then each case is routed, and the log has one event per (case, seq), the acceptances
    # among the events its consumers keep
    async def all_routed() -> list[Envelope]:
        log = await read_events(settings)
        routed = {e.case_id for e in log if e.type == "CaseRouted"}
        doubled = {key for key, ids in events_by_seq(log).items() if len(ids) > 1}
        assert not doubled, f"two different events at one seq: {sorted(doubled)}"
        return log if routed >= set(case_ids) else []

    log = await eventually(all_routed, timeout=60, every=0.5, what="every case routed")
    kept_ids = {str(e.event_id) for events in kept(log).values() for e in events}
    assert told <= kept_ids
    for case_id in case_ids:
        types = [e.type for e in kept(log)[case_id]]
        assert types[0] == "CaseSubmitted" and "CaseAccepted" in types, types
        # the triage deadline passed before the acceptance, or was met by it: never after
        if "CaseOverdue" in types:
            assert types.index("CaseOverdue") < types.index("CaseAccepted"), types


async def test_a_service_records_nothing_on_a_case_the_other_writes(
        writers: Writers, settings: CommonSettings) -> None:
    """Whatever a service decides, its write model records it only on a case it writes now."""
    answer = await writers.http.post("/api/cases", json=WANGFUFEN_REQUEST,
                                   headers={"Idempotency-Key": unique("one-writer-")})
    case_id = answer.json()["case_id"]

    waiting = await case_once(writers.routing.streams, case_id,
                              lambda case: case.status == "submitted", what="routing to fold it")
    early = await writers.http.post(f"/api/cases/{case_id}/escalate", json={},
                                  headers=SUPERVISOR)
    assert early.status_code == 409 and "intake holds it until its triage" in early.text
    escalation = [ev.CaseEscalated(reason="manual", by=Actor(role=Role.SUPERVISOR))]
    with pytest.raises(NotTheWriter, match="awaits triage: intake records its events"):
        await writers.routing.streams.execute(case_id, lambda case: escalation,
                                            cause="by-hand", correlation_id="by-hand")
    accepted = await writers.http.post(f"/api/cases/{case_id}/accept", json={}, headers=OFFICER)
    assert accepted.status_code == 200, accepted.text
    routed = await case_once(writers.routing.streams, case_id,
                             lambda case: case.status == "routed", what="routing to route it")
    with pytest.raises(NotTheWriter, match="routing records its events since its triage"):
        await writers.intake.streams.execute(case_id, lambda case: escalation,
                                           cause="by-hand", correlation_id="by-hand")
    # and over HTTP: each service's commands on the other's case answer 409, naming the writer
    triaged = await writers.http.post(f"/api/cases/{case_id}/reject", json={"reason": "重复"},
                                    headers=OFFICER)
    assert triaged.status_code == 409 and "routing holds it" in triaged.text
    seqs = [e.seq for e in await read_events(settings, case_id=case_id)]
    assert seqs == sorted(set(seqs)) == list(range(1, routed.version + 1))
    assert waiting.version == 1


async def test_a_case_that_awaited_triage_before_intake_swept_it_is_swept_after_a_restart(
        settings: CommonSettings) -> None:
    """Routing swept triage deadlines once: a snapshot intake saved then lacks the triage
    clock's fields, and intake, started again, completes its row before it sweeps."""
    clock = ManualClock(NOW)
    first = IntakeService(IntakeSettings.from_common(settings), clock)
    async with running(first), client_for(build_app([first], title="intake")) as http:
        answer = await http.post("/api/cases", json=WANGFUFEN_REQUEST)
        assert answer.status_code == 201, answer.text
        case_id = answer.json()["case_id"]
        await first.streams.drain()  # the new case's snapshot, written after the answer
        await first.streams.collection.update_one({"_id": case_id}, {"$unset": {
            "triage_due_at": "", "triage_overdue": "", "from_history": ""}})
    clock.set(LATER)
    again = IntakeService(IntakeSettings.from_common(settings, sweep_every_s=3600), clock)
    async with running(again):
        assert again.rows.row(case_id)["triage_overdue"] is False  # type: ignore[index]
        # the sweep also runs at start, in the background: this one or that one records it
        # (the other finds it done), and the log holds it once
        await again.sweep_deadlines()
    logged = [e.type for e in await read_events(settings, case_id=case_id, min_count=3)]
    assert logged == ["CaseSubmitted", "CaseOverdue", "CaseEscalated"]
