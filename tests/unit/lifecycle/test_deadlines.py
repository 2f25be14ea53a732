"""A case's three deadlines: triage from submission, the department's first response (签收)
and resolution from when the case reaches it. Given a case told through the deciders, when
the clock passes a deadline, then it is overdue on that clock and goes to supervision; and
the flag clears when the case moves past that step."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from unit.lifecycle.casebook import (
    CITY,
    HOUSING,
    OFFICER,
    POLICY,
    SUPERVISOR,
    TRACKING_CODE,
    a_submission,
    refusal,
    routed_case,
)

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import SYSTEM, Actor, CaseFacts, Role
from services.common.catalogue import work_calendar
from services.common.workdays import CalendarRules, Deadlines, TimeLimits
from services.lifecycle import dispatching, handling, triage
from services.lifecycle.errors import NotNow
from services.lifecycle.history import History, desk
from services.lifecycle.policy import Policy
from services.lifecycle.supervision import overdue

SHANGHAI = ZoneInfo("Asia/Shanghai")
SIGNAL_DESK = desk("signal-co")
EVE_OF_NATIONAL_DAY = datetime(2026, 9, 30, 15, tzinfo=SHANGHAI)
"""Wed 2026-09-30 15:00: Oct 1-7 are off, Sat Oct 10 is worked."""


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def submitted_on_the_eve() -> History:
    """A traffic-signals case (general: triage and first response 1 working day, resolution
    7 days), submitted on the eve of National Day."""
    return History("ZB260930-DEAD-0001", policy=POLICY, tracking_code=TRACKING_CODE).submit(
        EVE_OF_NATIONAL_DAY, a_submission())


def routed_on_the_eve() -> History:
    return submitted_on_the_eve().accept(EVE_OF_NATIONAL_DAY, cmd.AcceptCase(), by=OFFICER)


def flags(facts: CaseFacts) -> tuple[bool, bool, bool]:
    return facts.triage_overdue, facts.response_overdue, facts.overdue


# --- triage ------------------------------------------------------------------------------


def test_triage_is_due_one_working_day_after_submission_past_the_holiday() -> None:
    story = submitted_on_the_eve()
    assert story.facts.triage_due_at == at(10, 8, 15)
    assert overdue(story.case, at(10, 7, 23)) == []  # a week of holiday does not count
    assert overdue(story.case, at(10, 8, 15, 1)) == [
        ev.CaseOverdue(due_at=at(10, 8, 15), department=None, clock="triage"),
        ev.CaseEscalated(reason="overdue", by=SYSTEM),
    ]


def test_triage_overdue_clears_when_the_case_is_accepted_or_rejected() -> None:
    story = submitted_on_the_eve().sweep(at(10, 8, 16))
    assert flags(story.facts) == (True, False, False) and story.facts.escalated
    assert overdue(story.case, at(10, 20)) == []  # flagged once
    rejected = submitted_on_the_eve().sweep(at(10, 8, 16)).when(
        at(10, 8, 17), triage.reject, cmd.RejectCase(reason="重复"), by=OFFICER)
    assert flags(rejected.facts) == (False, False, False)
    story.accept(at(10, 8, 17), cmd.AcceptCase(), by=OFFICER)
    assert flags(story.facts) == (False, False, False)


# --- the department's first response and resolution ---------------------------------------------


def test_routing_records_the_response_and_resolution_deadlines() -> None:
    story = routed_on_the_eve()
    routed = story.latest[-1]
    assert routed.type == "CaseRouted"
    assert routed.data["response_due_at"] == at(10, 8, 15).isoformat()
    assert routed.data["due_at"] == at(10, 7, 15).isoformat()  # 7 days, around the clock
    assert (story.facts.response_due_at, story.facts.due_at) == (at(10, 8, 15), at(10, 7, 15))


def test_an_unanswered_department_is_overdue_on_both_clocks_and_clears_them_one_by_one() -> None:
    story = routed_on_the_eve()
    assert overdue(story.case, at(10, 9)) == [
        ev.CaseOverdue(due_at=at(10, 8, 15), department="signal-co", clock="response"),
        ev.CaseOverdue(due_at=at(10, 7, 15), department="signal-co", clock="resolution"),
        ev.CaseEscalated(reason="overdue", by=SYSTEM),
    ]
    story.sweep(at(10, 9))
    assert flags(story.facts) == (False, True, True)
    story.when(at(10, 9, 10), handling.acknowledge, cmd.AcknowledgeCase(), by=SIGNAL_DESK)
    assert flags(story.facts) == (False, False, True)
    assert overdue(story.case, at(10, 30)) == []  # responded: the response clock stopped
    story.when(at(10, 12), handling.resolve, cmd.ResolveCase(resolution="已修复"),
               by=SIGNAL_DESK)
    assert flags(story.facts) == (False, False, False)
    assert story.facts.resolved_on_time is False  # the figures keep it late


def test_an_acknowledgement_in_time_leaves_only_the_resolution_clock() -> None:
    story = routed_on_the_eve().when(at(10, 8, 9), handling.acknowledge, cmd.AcknowledgeCase(),
                                     by=SIGNAL_DESK)
    assert [e.clock for e in overdue(story.case, at(10, 9)) if isinstance(e, ev.CaseOverdue)] == [
        "resolution"]


def test_a_progress_note_of_the_lead_department_is_a_response_an_assisting_ones_is_not() -> None:
    story = routed_case("heating-co", category="heating", assisting=("housing",)).given(
        at(1, 5), ev.CaseReassigned(by=SUPERVISOR, from_department="heating-co",
                                    to_department="heating-co", due_at=at(1, 20),
                                    reason="test", response_due_at=at(1, 6)))
    story.when(at(1, 5, 10), handling.note_progress, cmd.NoteProgress(note="在查"), by=HOUSING)
    assert story.facts.responded_at is None
    heating = Actor(role=Role.DEPARTMENT, department="heating-co", staff_id="h")
    story.when(at(1, 5, 11), handling.note_progress, cmd.NoteProgress(note="已派人"), by=heating)
    assert story.facts.responded_at == at(1, 5, 11)


def test_reassigning_starts_the_departments_clocks_afresh() -> None:
    story = routed_on_the_eve().sweep(at(10, 9))
    assert flags(story.facts) == (False, True, True)
    story.when(at(10, 9, 9), dispatching.reassign,
               cmd.ReassignCase(department="roads-office", reason="路面问题"), by=SUPERVISOR)
    assert flags(story.facts) == (False, False, False)
    # Fri 10-09 09:00 + 1 working day: the worked Saturday 10-10
    assert story.facts.response_due_at == at(10, 10, 9)
    assert story.facts.responded_at is None


def test_a_case_keeps_the_deadlines_it_was_given_when_the_limits_change() -> None:
    story = routed_on_the_eve()
    hurried = Deadlines(general=TimeLimits(triage="1 hour", response="1 hour",
                                           resolution="1 day"))
    story.policy = Policy(city=CITY.model_copy(update={"deadlines": hurried}))
    story.when(at(10, 8, 9), handling.acknowledge, cmd.AcknowledgeCase(), by=SIGNAL_DESK)
    assert (story.facts.response_due_at, story.facts.due_at) == (at(10, 8, 15), at(10, 7, 15))
    assert POLICY.city.deadlines != story.policy.city.deadlines


def test_events_recorded_before_the_deadlines_existed_run_the_resolution_clock_only() -> None:
    story = routed_case()  # CaseSubmitted and CaseRouted without triage or response deadlines
    assert (story.facts.triage_due_at, story.facts.response_due_at) == (None, None)
    far = story.facts.submitted_at + timedelta(days=30)
    assert [e.clock for e in overdue(story.case, far) if isinstance(e, ev.CaseOverdue)] == [
        "resolution"]


def test_a_city_refusing_to_guess_an_unknown_years_calendar_refuses_the_submission() -> None:
    beyond = work_calendar(CITY.calendar).known_until + 1
    refusing = CITY.model_copy(update={"calendar": CalendarRules(outside_known_years="refuse")})
    story = History("ZB300101-DEAD-0002", policy=Policy(city=refusing),
                    tracking_code=TRACKING_CODE)
    reason = refusal(lambda: story.submit(datetime(beyond, 3, 2, 9, tzinfo=SHANGHAI),
                                          a_submission()), NotNow)
    assert f"{beyond} is not known" in reason and "calendar.yaml" in reason
    # an emergency, counted in hours, needs no calendar
    gas = a_submission(category="gas", attributes={})
    assert story.submit(datetime(beyond, 3, 2, 9, tzinfo=SHANGHAI), gas).facts.triage_due_at
