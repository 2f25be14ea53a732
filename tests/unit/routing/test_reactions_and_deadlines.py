"""What routing does by itself: route what officers accept, watch the deadlines."""

from __future__ import annotations

from datetime import timedelta

from unit.routing.casebook import (
    CITY_WITHOUT_SIGNAL_RULE,
    OFFICER,
    POLICY,
    SIGNAL_CO,
    SUPERVISOR,
    T0,
    Story,
    accepted,
    accepted_case,
    resolved_case,
    routed_case,
    submitted,
)

from contracts import case_events as ev
from contracts.facts import SYSTEM, Priority
from services.routing import deadlines, departments, reactions
from services.routing.dispatch import Policy

WEEK = timedelta(days=7)


# --- on acceptance ----------------------------------------------------------------


def test_an_accepted_case_is_routed_by_the_rules() -> None:
    story = accepted_case()
    events = reactions.on_accepted(story.case, story.envelopes[-1], T0, POLICY)
    assert events == [ev.CaseRouted(department="signal-co", assisting=(), due_at=T0 + WEEK,
                                    priority=Priority.GENERAL, rule="traffic-signals@*",
                                    reason="accepted", by=SYSTEM)]


def test_a_case_handed_to_a_reporter_is_not_dispatched() -> None:
    story = accepted_case(reporter_id="reporter-1")
    events = reactions.on_accepted(story.case, story.envelopes[-1], T0, POLICY)
    assert events == [ev.ReporterAssigned(by=OFFICER, reporter_id="reporter-1")]


def test_with_no_rule_the_case_waits_for_the_officers() -> None:
    story = accepted_case()
    policy = Policy(city=CITY_WITHOUT_SIGNAL_RULE)
    assert reactions.on_accepted(story.case, story.envelopes[-1], T0, policy) == []


def test_a_redelivered_acceptance_finds_the_case_routed_and_does_nothing() -> None:
    story = accepted_case()
    acceptance = story.envelopes[-1]
    story.given(*reactions.on_accepted(story.case, acceptance, T0, POLICY))
    assert reactions.on_accepted(story.case, acceptance, T0, POLICY) == []


def test_a_case_routed_by_hand_before_the_reaction_is_left_alone() -> None:
    story = accepted_case(reporter_id="reporter-1")
    acceptance = story.envelopes[-1]
    story.given(ev.ReporterAssigned(by=OFFICER, reporter_id="reporter-1"))
    assert reactions.on_accepted(story.case, acceptance, T0, POLICY) == []


def test_an_escalation_before_the_reaction_does_not_stop_the_routing() -> None:
    story = accepted_case()
    acceptance = story.envelopes[-1]
    story.given(ev.CaseEscalated(reason="manual", by=SUPERVISOR))
    [routed] = reactions.on_accepted(story.case, acceptance, T0, POLICY)
    assert isinstance(routed, ev.CaseRouted) and routed.department == "signal-co"


def test_an_acceptance_of_a_later_correction_routes_by_the_corrected_category() -> None:
    story = Story().given(submitted("roads", "erqi"), producer="intake").given(
        accepted("water", "erqi", Priority.UTILITIES), producer="intake")
    [event] = reactions.on_accepted(story.case, story.envelopes[-1], T0, POLICY)
    assert isinstance(event, ev.CaseRouted)
    assert (event.department, event.due_at) == ("water-co", T0 + timedelta(hours=24))


# --- deadlines ---------------------------------------------------------------------


def test_a_case_past_its_deadline_is_overdue_and_escalated() -> None:
    case = routed_case(due_in=WEEK).case
    due = T0 + WEEK
    assert deadlines.overdue(case, due) == []
    assert deadlines.overdue(case, due + timedelta(seconds=1)) == [
        ev.CaseOverdue(due_at=due, department="signal-co"),
        ev.CaseEscalated(reason="overdue", by=SYSTEM),
    ]


def test_an_overdue_case_is_escalated_once_and_a_resolved_one_never() -> None:
    late = T0 + WEEK + timedelta(hours=1)
    story = routed_case(due_in=WEEK)
    story.given(*deadlines.overdue(story.case, late), at=late)
    assert story.case.facts and story.case.facts.overdue
    assert deadlines.overdue(story.case, late + WEEK) == []
    assert deadlines.overdue(resolved_case().case, late + WEEK) == []
    assert deadlines.overdue(accepted_case().case, late + WEEK) == []


def test_the_same_deadline_passing_is_one_cause() -> None:
    case = routed_case().case
    assert deadlines.overdue_cause(case) == deadlines.overdue_cause(case)
    later = routed_case(due_in=WEEK * 2).case
    assert deadlines.overdue_cause(case) != deadlines.overdue_cause(later)


def test_a_resolution_with_no_answer_closes_after_the_window() -> None:
    resolved_at = T0 + timedelta(days=2)
    case = resolved_case(at=resolved_at).case
    assert deadlines.unanswered(case, resolved_at + WEEK - timedelta(seconds=1), WEEK) == []
    assert deadlines.unanswered(case, resolved_at + WEEK, WEEK) == [
        ev.CaseClosed(reason="no_answer")]
    assert deadlines.unanswered(routed_case().case, resolved_at + WEEK * 3, WEEK) == []


def test_a_history_is_a_past_to_keep_not_deadlines_to_act_on() -> None:
    story = routed_case().given(ev.ProgressNoted(by=SIGNAL_CO, note="旧数据"),
                                producer="history:demo")
    assert story.case.from_history
    assert deadlines.overdue(story.case, T0 + WEEK * 4) == []
    assert deadlines.index_fields(story.case)["from_history"] is True
    story.given(ev.CaseEscalated(reason="manual", by=SUPERVISOR))
    assert not story.case.from_history


def test_the_sweep_finds_cases_by_top_level_fields() -> None:
    case = routed_case(due_in=WEEK).case
    assert deadlines.index_fields(case) == {
        "status": "routed", "due_at": T0 + WEEK, "overdue": False, "resolved_at": None,
        "department": "signal-co", "from_history": False}
    query = deadlines.past_due_query(T0)
    assert query["due_at"] == {"$lt": T0} and query["overdue"] is False


# --- what the department receives ----------------------------------------------------


def test_a_routed_case_reaches_its_departments_with_the_contact_details() -> None:
    story = routed_case("heating-co", category="heating", assisting=("housing",))
    lead, helper = departments.messages_for(story.envelopes[-1], story.case)
    assert (lead.department, lead.role, lead.action, lead.reason) == (
        "heating-co", "lead", "assigned", "accepted")
    assert helper.department == "housing" and helper.role == "assisting"
    assert lead.contact and lead.contact.phone == "13800000000"
    assert lead.location and lead.location.address == "沙口路王府坟菜市场正门"
    assert lead.due_at == T0 + WEEK and lead.message_id == story.envelopes[-1].event_id


def test_a_reassignment_tells_the_new_department_and_withdraws_from_the_old() -> None:
    story = routed_case().given(ev.CaseReassigned(
        by=SUPERVISOR, from_department="signal-co", to_department="roads-office",
        due_at=T0 + WEEK, reason="路面问题"))
    new, old = departments.messages_for(story.envelopes[-1], story.case)
    assert (new.department, new.action, new.reason) == ("roads-office", "assigned", "reassigned")
    assert (old.department, old.action, old.contact) == ("signal-co", "withdrawn", None)
    assert departments.messages_for(routed_case().envelopes[0], story.case) == []
