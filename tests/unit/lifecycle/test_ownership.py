"""One writer per case at each moment: intake until triage decides the case, routing from then
on. Given a case at each stage, when each service's commands and sweeps meet it, then only its
writer's record anything; the other's are refused (or, for a sweep, find nothing)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from unit.lifecycle.casebook import (
    ADMIN,
    CITY,
    OFFICER,
    POLICY,
    RESIDENT,
    T0,
    TRACKING_CODE,
    a_submission,
    history,
    refusal,
    resolved_case,
    routed_case,
    submitted_case,
    submitted_story,
)

from contracts import case_events as ev
from contracts.facts import CaseStatus
from services.common.commands import Row
from services.common.rowindex import RowIndex, Selector
from services.intake import deadlines
from services.intake.commands import TRIAGE
from services.intake.service import index_fields as intake_fields
from services.lifecycle import dispatching, feedback, privacy, submitting, supervision
from services.lifecycle.case import Case
from services.lifecycle.errors import NotNow
from services.lifecycle.history import History
from services.lifecycle.ownership import NotTheWriter, Writer, check_writer, writer_of
from services.lifecycle.privacy import recorded_by_intake
from services.routing import sweeps
from services.routing.commands import COMMANDS

LATE = T0 + timedelta(days=30)  # past every deadline of these cases


def waiting_story() -> History:
    """A case awaiting triage, due for it by the city's time limit."""
    return history("ZB261006-WAIT-0001").given(
        T0, submitting.submitted(a_submission(), CITY, tracking_code_hash="h" * 64, at=T0),
        producer="intake")


def triaged() -> dict[str, Case]:
    """A case at each stage after triage: the decision hands it from intake to routing."""
    story = submitted_story
    return {
        "accepted": story().given(T0, ev.CaseAccepted(
            officer=OFFICER, category="traffic-signals", district="zhongyuan",
            priority=submitted_case().require_facts().priority)).case,
        "rejected": story().given(T0, ev.CaseRejected(officer=OFFICER, reason="不属于受理范围")).case,
        "merged": story().given(T0, ev.CaseMerged(officer=OFFICER,
                                                  into_case_id="ZB261001-ROOT-0000")).case,
        "routed": routed_case().case,
        "resolved": resolved_case().case,
        "closed": resolved_case().given(T0, ev.CaseClosed(reason="confirmed")).case,
    }


def test_intake_writes_a_case_until_triage_decides_it_then_routing() -> None:
    assert writer_of(Case(case_id="ZB261006-NEW0-0001")) is Writer.INTAKE  # to be submitted
    assert writer_of(submitted_case()) is Writer.INTAKE
    overdue = waiting_story().given(LATE, *supervision.overdue(waiting_story().case, LATE)).case
    assert overdue.require_facts().triage_overdue and writer_of(overdue) is Writer.INTAKE
    for stage, case in triaged().items():
        assert writer_of(case) is Writer.ROUTING, stage
    # every status has its writer: intake's only while awaiting triage
    seen = {case.status for case in (submitted_case(), *triaged().values())}
    assert seen | {CaseStatus.AWAITING_DISPATCH, CaseStatus.ACKNOWLEDGED} == set(CaseStatus)
    # the erasure follows the same rule
    assert recorded_by_intake(submitted_case())
    assert not any(recorded_by_intake(case) for case in triaged().values())


def test_a_service_that_is_not_the_writer_is_told_who_is() -> None:
    check_writer(submitted_case(), Writer.INTAKE)
    reason = refusal(lambda: check_writer(submitted_case(), Writer.ROUTING), NotTheWriter)
    assert "awaits triage: intake records its events" in reason and "not routing" in reason
    check_writer(routed_case().case, Writer.ROUTING)
    reason = refusal(lambda: check_writer(routed_case().case, Writer.INTAKE), NotTheWriter)
    assert "is routed: routing records its events since its triage, not intake" in reason
    assert issubclass(NotTheWriter, NotNow)  # answered 409, as every "not now"


def found(fields: dict[str, Any], query: Selector) -> bool:
    """Whether a sweep's `query` finds a snapshot with these top-level `fields` (as the rows
    in memory and the store read it)."""
    rows = RowIndex(fields=fields)
    rows.put({"_id": "the case", **fields})
    return bool(rows.find(query, sort=(("_id", 1),), count=False).ids)


def give(row: Row[Any], case: Case) -> object:
    """`row`'s command, as one who may give it, on `case` (fields unchecked: the stage is
    refused before a field is read)."""
    given: dict[str, Any] = {}
    actor = ADMIN
    if row.resident:
        actor, given = RESIDENT, {"tracking_code": TRACKING_CODE}
    if row.coordinating:
        given = {"coordinator": True}
    if row.load is not None:  # a merge: into an open case
        given = {"into": routed_case().case}
    return row.decide(case, row.command.model_construct(), actor, T0, POLICY, **given)


@pytest.mark.parametrize("row", COMMANDS, ids=lambda row: row.path)
def test_no_command_of_routing_records_on_a_case_awaiting_triage(row: Row[Any]) -> None:
    reason = refusal(lambda: give(row, submitted_case()), NotNow)
    assert "has not been accepted by an officer yet: intake holds it" in reason


@pytest.mark.parametrize("row", TRIAGE, ids=lambda row: row.path)
def test_no_command_of_intake_records_on_a_triaged_case(row: Row[Any]) -> None:
    for stage, case in triaged().items():
        reason = refusal(lambda case=case: give(row, case), NotNow)
        assert f"is {stage}; only a submitted case" in reason
        assert "routing holds it since its triage" in reason


def test_the_triage_deadline_is_swept_by_intake_and_the_departments_by_routing() -> None:
    waiting = waiting_story().case
    assert waiting.require_facts().triage_due_at is not None
    assert supervision.overdue(waiting, LATE)  # its triage deadline passed
    # intake's sweep finds it in intake's rows; routing's sweep never looks at it
    assert found(intake_fields(waiting), deadlines.past_due(LATE))
    assert not found(sweeps.index_fields(waiting), sweeps.past_due_query(LATE))
    # a routed case past its department's deadlines: routing's, never intake's
    late = routed_case(due_in=timedelta(days=1)).case
    assert supervision.overdue(late, LATE)
    assert found(sweeps.index_fields(late), sweeps.past_due_query(LATE))
    assert not found(intake_fields(late), deadlines.past_due(LATE))


def test_intake_sweeps_a_triage_deadline_once_and_leaves_the_past_alone() -> None:
    marked = waiting_story().given(LATE, *supervision.overdue(waiting_story().case, LATE)).case
    assert not found(intake_fields(marked), deadlines.past_due(LATE))
    past = history("ZB251006-PAST-0001").given(
        T0, submitting.submitted(a_submission(), CITY, tracking_code_hash="h" * 64, at=T0),
        producer="history:demo").case
    assert past.from_history and writer_of(past) is Writer.INTAKE
    assert not found(intake_fields(past), deadlines.past_due(LATE))


def test_routing_s_reactions_find_nothing_to_record_on_a_case_awaiting_triage() -> None:
    waiting = waiting_story()
    case = waiting.case
    # its sweeps of the resident's answer, its erasure, its dispatch on acceptance
    assert feedback.unanswered(case, LATE) == feedback.ask_again(case, LATE, POLICY) == []
    assert privacy.erase(case, ADMIN, "request") and recorded_by_intake(case)  # intake's
    assert dispatching.on_accepted(case, waiting.envelopes[0], LATE, POLICY) == []
    # the one deadline running is triage's, which intake sweeps
    assert [event.clock for event in supervision.overdue(case, LATE)
            if isinstance(event, ev.CaseOverdue)] == ["triage"]
