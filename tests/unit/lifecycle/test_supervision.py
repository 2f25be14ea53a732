"""Supervision (督辦): escalated by hand, or because the deadline passed."""

from __future__ import annotations

from datetime import timedelta

from unit.lifecycle.casebook import (
    POLICY,
    REPORTER,
    SIGNAL_CO,
    SUPERVISOR,
    T0,
    T1,
    accepted_case,
    refusal,
    resolved_case,
    routed_case,
)

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import SYSTEM
from services.lifecycle import supervision
from services.lifecycle.errors import NotAllowed, NotNow

WEEK = timedelta(days=7)


def test_a_supervisor_escalates_once() -> None:
    story = routed_case()
    events = supervision.escalate(story.case, cmd.EscalateCase(note="督办"), SUPERVISOR, T1, POLICY)
    assert events == [ev.CaseEscalated(reason="manual", by=SUPERVISOR, note="督办")]
    escalated = story.given(T1, *events).case
    assert "already under supervision" in refusal(lambda: supervision.escalate(
        escalated, cmd.EscalateCase(), SUPERVISOR, T1, POLICY), NotNow)
    refusal(lambda: supervision.escalate(routed_case().case, cmd.EscalateCase(), REPORTER, T1,
                                         POLICY), NotAllowed)


# --- deadlines ----------------------------------------------------------------


def test_a_case_past_its_deadline_is_overdue_and_escalated() -> None:
    case = routed_case(due_in=WEEK).case
    due = T0 + WEEK
    assert supervision.overdue(case, due) == []
    assert supervision.overdue(case, due + timedelta(seconds=1)) == [
        ev.CaseOverdue(due_at=due, department="signal-co"),
        ev.CaseEscalated(reason="overdue", by=SYSTEM),
    ]


def test_an_overdue_case_is_escalated_once_and_a_resolved_one_never() -> None:
    late = T0 + WEEK + timedelta(hours=1)
    story = routed_case(due_in=WEEK)
    story.given(late, *supervision.overdue(story.case, late))
    assert story.case.facts and story.case.facts.overdue
    assert supervision.overdue(story.case, late + WEEK) == []
    assert supervision.overdue(resolved_case().case, late + WEEK) == []
    assert supervision.overdue(accepted_case().case, late + WEEK) == []


def test_the_same_deadline_passing_is_one_cause() -> None:
    case = routed_case().case
    assert supervision.overdue_cause(case) == supervision.overdue_cause(case)
    later = routed_case(due_in=WEEK * 2).case
    assert supervision.overdue_cause(case) != supervision.overdue_cause(later)


def test_a_history_is_a_past_to_keep_not_deadlines_to_act_on() -> None:
    story = routed_case().given(T0, ev.ProgressNoted(by=SIGNAL_CO, note="旧数据"),
                                producer="history:demo")
    assert story.case.from_history
    assert supervision.overdue(story.case, T0 + WEEK * 4) == []
    story.given(T0, ev.CaseEscalated(reason="manual", by=SUPERVISOR))
    assert not story.case.from_history
