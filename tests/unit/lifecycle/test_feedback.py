"""The resident's answer to a resolution: fixed, not fixed, or none at all."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError
from unit.lifecycle.casebook import (
    AFTER_NATIONAL_DAY_2025,
    CITY,
    OFFICER,
    POLICY,
    RESIDENT,
    SIGNAL_CO,
    SUPERVISOR,
    T0,
    T1,
    TRACKING_CODE,
    refusal,
    resolved_case,
    routed_case,
)

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import SYSTEM, CaseStatus, Priority
from services.lifecycle import feedback, supervision
from services.lifecycle.errors import NotAllowed, NotNow
from services.lifecycle.history import History
from services.lifecycle.policy import Policy

WEEK = timedelta(days=7)
DAY = timedelta(days=1)


def answer(fixed: bool, satisfied: bool, rating: int = 3) -> cmd.GiveFeedback:
    return cmd.GiveFeedback(fixed=fixed, satisfied=satisfied, rating=rating)


def test_an_answer_must_say_whether_the_resident_is_satisfied() -> None:
    with pytest.raises(ValidationError) as refused:
        cmd.GiveFeedback.model_validate({"fixed": True, "rating": 5})
    [problem] = refused.value.errors()
    assert (problem["loc"], problem["type"]) == (("satisfied",), "missing")


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
                        due_at=later + timedelta(hours=24), comment="又灭了", was_on_time=True,
                        response_due_at=later + timedelta(hours=4)),  # utilities, on Thu 10-09
    ]
    reopened = story.given(later, *events).case
    assert reopened.facts is not None
    assert (reopened.facts.status, reopened.facts.department, reopened.facts.reopened) == (
        CaseStatus.ROUTED, "signal-co", 1)
    assert not reopened.disputed  # not fixed is a reopen, not a dispute


def test_an_emergency_stays_an_emergency_when_reopened() -> None:
    assert Priority.EMERGENCY.raised() is Priority.EMERGENCY
    story = routed_case("gas-co", category="gas", priority=Priority.EMERGENCY,
                        due_in=timedelta(hours=2)).given(
        T0, ev.CaseResolved(by=SIGNAL_CO, resolution="已关阀", on_time=True))
    [_, reopened] = feedback.give_feedback(
        story.case, answer(False, False, 1), RESIDENT, T1, POLICY,
        tracking_code=TRACKING_CODE)
    assert isinstance(reopened, ev.CaseReopened)
    assert (reopened.priority, reopened.due_at) == (Priority.EMERGENCY, T1 + timedelta(hours=2))


def test_feedback_needs_the_tracking_code_and_a_resolution() -> None:
    command = answer(True, True, 4)
    assert "tracking code" in refusal(lambda: feedback.give_feedback(
        resolved_case().case, command, RESIDENT, T1, POLICY, tracking_code="0000-0000-0000-0000"),
        NotAllowed)
    refusal(lambda: feedback.give_feedback(resolved_case().case, command, RESIDENT, T1, POLICY,
                                           tracking_code=None), NotAllowed)
    assert "routed" in refusal(lambda: feedback.give_feedback(
        routed_case().case, command, RESIDENT, T1, POLICY, tracking_code=TRACKING_CODE), NotNow)
    refusal(lambda: feedback.give_feedback(resolved_case().case, command, OFFICER, T1, POLICY,
                                           tracking_code=TRACKING_CODE), NotAllowed)


# --- a dispute: fixed, but not satisfied ----------------------------------------------


def disputed_case(at: datetime = T1) -> History:
    story = resolved_case(at=T0)
    return story.given(at, *feedback.give_feedback(
        story.case, answer(True, False, 2), RESIDENT, at, POLICY, tracking_code=TRACKING_CODE))


def test_fixed_but_not_satisfied_goes_to_supervision_as_a_dispute() -> None:
    case = resolved_case(at=T0).case
    events = feedback.give_feedback(case, answer(True, False, 2), RESIDENT, T1, POLICY,
                                    tracking_code=TRACKING_CODE)
    assert events == [ev.FeedbackGiven(fixed=True, satisfied=False, rating=2),
                      ev.CaseEscalated(reason="disputed", by=SYSTEM)]
    disputed = disputed_case().case
    assert disputed.disputed and disputed.facts is not None
    assert (disputed.facts.status, disputed.facts.escalated) == (CaseStatus.RESOLVED, True)


def test_a_disputed_case_takes_no_second_answer_and_never_closes_unanswered() -> None:
    case = disputed_case().case
    assert "supervisor" in refusal(lambda: feedback.give_feedback(
        case, answer(True, True, 5), RESIDENT, T1, POLICY, tracking_code=TRACKING_CODE), NotNow)
    much_later = T0 + WEEK * 5
    assert feedback.ask_again(case, much_later, POLICY) == []
    assert feedback.unanswered(case, much_later) == []


def test_a_supervisor_settles_a_dispute_by_closing_the_case() -> None:
    case = disputed_case().case
    ruling = cmd.SettleDispute(outcome="closed", note="已修复，电话回访说明了延误原因")
    events = supervision.settle_dispute(case, ruling, SUPERVISOR, T1 + DAY, POLICY)
    assert events == [ev.DisputeSettled(by=SUPERVISOR, outcome="closed",
                                        note="已修复，电话回访说明了延误原因"),
                      ev.CaseClosed(reason="confirmed")]


def test_a_supervisor_settles_a_dispute_by_sending_the_case_back() -> None:
    story = disputed_case()
    later = T1 + DAY
    ruling = cmd.SettleDispute(outcome="reopened", note="请重新处理并回访")
    events = supervision.settle_dispute(story.case, ruling, SUPERVISOR, later, POLICY)
    assert events == [
        ev.DisputeSettled(by=SUPERVISOR, outcome="reopened", note="请重新处理并回访"),
        ev.CaseReopened(department="signal-co", priority=Priority.GENERAL,
                        due_at=later + WEEK, was_on_time=True,
                        response_due_at=AFTER_NATIONAL_DAY_2025)]
    reopened = story.given(later, *events).case
    assert not reopened.disputed and reopened.facts is not None
    assert (reopened.facts.status, reopened.facts.reopened) == (CaseStatus.ROUTED, 1)


def test_only_a_supervisor_settles_and_only_a_dispute() -> None:
    ruling = cmd.SettleDispute(outcome="closed", note="维持")
    refusal(lambda: supervision.settle_dispute(disputed_case().case, ruling, OFFICER, T1,
                                               POLICY), NotAllowed)
    assert "no dispute" in refusal(lambda: supervision.settle_dispute(
        resolved_case().case, ruling, SUPERVISOR, T1, POLICY), NotNow)
    assert "routed" in refusal(lambda: supervision.settle_dispute(
        routed_case().case, ruling, SUPERVISOR, T1, POLICY), NotNow)


# --- no answer: asked again once, then closed ---------------------------------------------


def test_a_resolution_unanswered_a_week_asks_the_resident_again_once() -> None:
    resolved_at = T0 + timedelta(days=2)
    story = resolved_case(at=resolved_at)
    assert feedback.ask_again(story.case, resolved_at + WEEK - timedelta(seconds=1),
                              POLICY) == []
    asked = feedback.ask_again(story.case, resolved_at + WEEK, POLICY)
    assert asked == [ev.ResidentAskedAgain(resolved_at=resolved_at,
                                           closes_at=resolved_at + timedelta(days=10))]
    story.given(resolved_at + WEEK, *asked)
    assert feedback.ask_again(story.case, resolved_at + WEEK * 2, POLICY) == []  # once
    assert feedback.ask_again(routed_case().case, resolved_at + WEEK * 3, POLICY) == []


def test_after_the_asking_the_case_closes_when_the_asking_said() -> None:
    resolved_at = T0 + timedelta(days=2)
    story = resolved_case(at=resolved_at)
    closes = resolved_at + timedelta(days=10)
    assert feedback.unanswered(story.case, closes + WEEK) == []  # never closed unasked
    story.given(resolved_at + WEEK, *feedback.ask_again(story.case, resolved_at + WEEK, POLICY))
    assert feedback.unanswered(story.case, closes - timedelta(seconds=1)) == []
    assert feedback.unanswered(story.case, closes) == [ev.CaseClosed(reason="no_answer")]


def test_a_late_asking_still_leaves_the_resident_the_rest_of_the_window() -> None:
    resolved_at = T0
    late = resolved_at + timedelta(days=12)  # routing was down past the whole window
    [asked] = feedback.ask_again(resolved_case(at=resolved_at).case, late, POLICY)
    assert isinstance(asked, ev.ResidentAskedAgain)
    assert asked.closes_at == late + timedelta(days=3)


def test_an_answer_after_the_asking_is_still_taken() -> None:
    story = resolved_case(at=T0)
    story.given(T0 + WEEK, *feedback.ask_again(story.case, T0 + WEEK, POLICY))
    events = feedback.give_feedback(story.case, answer(True, True, 4), RESIDENT,
                                    T0 + WEEK + DAY, POLICY, tracking_code=TRACKING_CODE)
    assert events[-1] == ev.CaseClosed(reason="confirmed")


def test_a_new_resolution_after_a_reopen_is_asked_about_again() -> None:
    story = resolved_case(at=T0)
    story.given(T0 + WEEK, *feedback.ask_again(story.case, T0 + WEEK, POLICY))
    story.given(T0 + WEEK + DAY, *feedback.give_feedback(
        story.case, answer(False, False, 1), RESIDENT, T0 + WEEK + DAY, POLICY,
        tracking_code=TRACKING_CODE))
    again = T0 + WEEK * 2
    story.given(again, ev.CaseResolved(by=SIGNAL_CO, resolution="再次修复", on_time=True))
    assert story.case.closes_unanswered_at is None
    [asked] = feedback.ask_again(story.case, again + WEEK, POLICY)
    assert isinstance(asked, ev.ResidentAskedAgain) and asked.resolved_at == again


def test_the_reminder_comes_before_the_window_closes() -> None:
    with pytest.raises(ValueError, match="feedback reminder"):
        Policy(city=CITY, feedback_reminder=WEEK, feedback_window=WEEK)


def test_an_answer_recorded_under_the_old_rules_still_reads_as_it_happened() -> None:
    """Before disputes, fixed-but-not-satisfied closed the case at once: those logs replay
    as closed cases, not as disputes left waiting for a supervisor."""
    story = resolved_case(at=T0).given(T1, ev.FeedbackGiven(fixed=True, satisfied=False,
                                                            rating=2),
                                       ev.CaseClosed(reason="confirmed"))
    assert story.case.facts is not None and story.case.facts.status is CaseStatus.CLOSED
    assert feedback.unanswered(story.case, T1 + WEEK * 3) == []
    assert "closed" in refusal(lambda: supervision.settle_dispute(
        story.case, cmd.SettleDispute(outcome="reopened", note="x"), SUPERVISOR, T1, POLICY),
        NotNow)
