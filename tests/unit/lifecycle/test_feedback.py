"""The resident's answer to a resolution: fixed, not fixed, or none at all."""

from __future__ import annotations

from datetime import timedelta

from unit.lifecycle.casebook import (
    OFFICER,
    POLICY,
    RESIDENT,
    SIGNAL_CO,
    T0,
    T1,
    TRACKING_CODE,
    refusal,
    resolved_case,
    routed_case,
)

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import CaseStatus, Priority
from services.lifecycle import feedback
from services.lifecycle.errors import NotAllowed, NotNow

WEEK = timedelta(days=7)


def test_fixed_closes_the_case() -> None:
    case = resolved_case().case
    command = cmd.GiveFeedback(fixed=True, satisfied=True, rating=5, comment="谢谢")
    events = feedback.give_feedback(case, command, RESIDENT, T1, POLICY,
                                    tracking_code=TRACKING_CODE.lower())
    assert events == [ev.FeedbackGiven(fixed=True, satisfied=True, rating=5, comment="谢谢"),
                      ev.CaseClosed(reason="confirmed")]


def test_not_fixed_reopens_to_the_same_department_more_urgent() -> None:
    story = resolved_case()
    later = T0 + timedelta(days=3)
    command = cmd.GiveFeedback(fixed=False, satisfied=False, rating=1, comment="又灭了")
    events = feedback.give_feedback(story.case, command, RESIDENT, later, POLICY,
                                    tracking_code=TRACKING_CODE)
    assert events == [
        ev.FeedbackGiven(fixed=False, satisfied=False, rating=1, comment="又灭了"),
        ev.CaseReopened(department="signal-co", priority=Priority.UTILITIES,
                        due_at=later + timedelta(hours=24), comment="又灭了", was_on_time=True),
    ]
    reopened = story.given(later, *events).case
    assert reopened.facts is not None
    assert (reopened.facts.status, reopened.facts.department, reopened.facts.reopened) == (
        CaseStatus.ROUTED, "signal-co", 1)
    assert reopened.disputed


def test_an_emergency_stays_an_emergency_when_reopened() -> None:
    assert Priority.EMERGENCY.raised() is Priority.EMERGENCY
    story = routed_case("gas-co", category="gas", priority=Priority.EMERGENCY,
                        due_in=timedelta(hours=2)).given(
        T0, ev.CaseResolved(by=SIGNAL_CO, resolution="已关阀", on_time=True))
    [_, reopened] = feedback.give_feedback(
        story.case, cmd.GiveFeedback(fixed=False, rating=1), RESIDENT, T1, POLICY,
        tracking_code=TRACKING_CODE)
    assert isinstance(reopened, ev.CaseReopened)
    assert (reopened.priority, reopened.due_at) == (Priority.EMERGENCY, T1 + timedelta(hours=2))


def test_feedback_needs_the_tracking_code_and_a_resolution() -> None:
    command = cmd.GiveFeedback(fixed=True, rating=4)
    assert "tracking code" in refusal(lambda: feedback.give_feedback(
        resolved_case().case, command, RESIDENT, T1, POLICY, tracking_code="0000-0000-0000-0000"),
        NotAllowed)
    refusal(lambda: feedback.give_feedback(resolved_case().case, command, RESIDENT, T1, POLICY,
                                           tracking_code=None), NotAllowed)
    assert "routed" in refusal(lambda: feedback.give_feedback(
        routed_case().case, command, RESIDENT, T1, POLICY, tracking_code=TRACKING_CODE), NotNow)
    refusal(lambda: feedback.give_feedback(resolved_case().case, command, OFFICER, T1, POLICY,
                                           tracking_code=TRACKING_CODE), NotAllowed)


# --- no answer ----------------------------------------------------------------


def test_a_resolution_with_no_answer_closes_after_the_window() -> None:
    resolved_at = T0 + timedelta(days=2)
    case = resolved_case(at=resolved_at).case
    assert feedback.unanswered(case, resolved_at + WEEK - timedelta(seconds=1), WEEK) == []
    assert feedback.unanswered(case, resolved_at + WEEK, WEEK) == [
        ev.CaseClosed(reason="no_answer")]
    assert feedback.unanswered(routed_case().case, resolved_at + WEEK * 3, WEEK) == []
