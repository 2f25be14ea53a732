"""Getting a case to its department: on acceptance, by hand, reassigned; the rules and deadlines."""

from __future__ import annotations

from datetime import timedelta

from unit.lifecycle.casebook import (
    AFTER_NATIONAL_DAY_2025,
    CITY,
    CITY_WITHOUT_SIGNAL_RULE,
    OFFICER,
    POLICY,
    REPORTER,
    SIGNAL_CO,
    SUPERVISOR,
    T0,
    T1,
    accepted,
    accepted_case,
    history,
    refusal,
    routed_case,
)
from unit.lifecycle.casebook import submitted as submitted_event

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import SYSTEM, Priority
from services.lifecycle import dispatching
from services.lifecycle.case import Case
from services.lifecycle.errors import Invalid, NotAllowed, NotFound, NotNow
from services.lifecycle.policy import Assignment, Policy, by_hand, by_rules

WEEK = timedelta(days=7)


# --- the dispatch rules and the deadlines -------------------------------------


def test_the_first_matching_rule_names_the_lead_and_assisting_departments() -> None:
    assert by_rules(CITY, "traffic-signals", "zhongyuan") == Assignment(
        "signal-co", (), "traffic-signals@*")
    assert by_rules(CITY, "heating", "erqi") == Assignment("heating-co", ("housing",), "heating@*")
    # a district's own rule comes before the city-wide one
    assert by_rules(CITY, "roads", "jinshui") == Assignment(
        "jinshui-roads", ("roads-office",), "roads@jinshui")
    assert by_rules(CITY, "roads", "erqi") == Assignment("roads-office", (), "roads@*")


def test_departments_that_returned_the_case_are_skipped() -> None:
    assert by_rules(CITY, "heating", "erqi", exclude={"heating-co"}) == Assignment(
        "housing", (), "heating@*")
    assert by_rules(CITY, "roads", "jinshui", exclude={"jinshui-roads"}) == Assignment(
        "roads-office", (), "roads@jinshui")
    assert by_rules(CITY, "roads", "jinshui", exclude={"jinshui-roads", "roads-office"}) is None
    assert by_rules(CITY, "traffic-signals", "erqi", exclude={"signal-co"}) is None


def test_no_rule_no_department() -> None:
    assert by_rules(CITY_WITHOUT_SIGNAL_RULE, "traffic-signals", "erqi") is None


def test_routing_by_hand_keeps_the_rule_when_it_agrees() -> None:
    assert by_hand(CITY, "heating-co", "heating", "erqi") == Assignment(
        "heating-co", ("housing",), "heating@*")
    assert by_hand(CITY, "housing", "heating", "erqi") == Assignment("housing")


def test_resolution_deadlines_are_those_of_the_priority_classes() -> None:
    assert POLICY.due("resolution", "gas", Priority.EMERGENCY, T0) == T0 + timedelta(hours=2)
    assert POLICY.due("resolution", "water", Priority.UTILITIES, T0) == T0 + timedelta(hours=24)
    assert POLICY.due("resolution", "roads", Priority.GENERAL, T0) == T0 + timedelta(days=7)
    assert POLICY.due("resolution", "rights", Priority.COMPLEX, T0) == T0 + timedelta(days=15)


# --- on acceptance ------------------------------------------------------------


def test_an_accepted_case_is_routed_by_the_rules() -> None:
    story = accepted_case()
    events = dispatching.on_accepted(story.case, story.envelopes[-1], T0, POLICY)
    assert events == [ev.CaseRouted(department="signal-co", assisting=(), due_at=T0 + WEEK,
                                    priority=Priority.GENERAL, rule="traffic-signals@*",
                                    reason="accepted", by=SYSTEM,
                                    response_due_at=AFTER_NATIONAL_DAY_2025)]


def test_a_case_handed_to_a_reporter_is_not_dispatched() -> None:
    story = accepted_case(reporter_id="reporter-1")
    events = dispatching.on_accepted(story.case, story.envelopes[-1], T0, POLICY)
    assert events == [ev.ReporterAssigned(by=OFFICER, reporter_id="reporter-1")]


def test_with_no_rule_the_case_waits_for_the_officers() -> None:
    story = accepted_case()
    policy = Policy(city=CITY_WITHOUT_SIGNAL_RULE)
    assert dispatching.on_accepted(story.case, story.envelopes[-1], T0, policy) == []


def test_a_redelivered_acceptance_finds_the_case_routed_and_does_nothing() -> None:
    story = accepted_case()
    acceptance = story.envelopes[-1]
    story.given(T0, *dispatching.on_accepted(story.case, acceptance, T0, POLICY))
    assert dispatching.on_accepted(story.case, acceptance, T0, POLICY) == []


def test_a_case_routed_by_hand_before_the_reaction_is_left_alone() -> None:
    story = accepted_case(reporter_id="reporter-1")
    acceptance = story.envelopes[-1]
    story.given(T0, ev.ReporterAssigned(by=OFFICER, reporter_id="reporter-1"))
    assert dispatching.on_accepted(story.case, acceptance, T0, POLICY) == []


def test_an_escalation_before_the_reaction_does_not_stop_the_routing() -> None:
    story = accepted_case()
    acceptance = story.envelopes[-1]
    story.given(T0, ev.CaseEscalated(reason="manual", by=SUPERVISOR))
    [routed] = dispatching.on_accepted(story.case, acceptance, T0, POLICY)
    assert isinstance(routed, ev.CaseRouted) and routed.department == "signal-co"


def test_an_acceptance_of_a_later_correction_routes_by_the_corrected_category() -> None:
    story = history().given(T0, submitted_event("roads", "erqi"), producer="intake").given(
        T0, accepted("water", "erqi", Priority.UTILITIES), producer="intake")
    [event] = dispatching.on_accepted(story.case, story.envelopes[-1], T0, POLICY)
    assert isinstance(event, ev.CaseRouted)
    assert (event.department, event.due_at) == ("water-co", T0 + timedelta(hours=24))


# --- routing by hand ----------------------------------------------------------


def test_an_officer_routes_an_accepted_case_by_the_rules() -> None:
    case = accepted_case().case
    events = dispatching.route(case, cmd.RouteCase(), OFFICER, T1, POLICY)
    assert events == [ev.CaseRouted(
        department="signal-co", assisting=(), due_at=T1 + timedelta(days=7),
        priority=Priority.GENERAL, rule="traffic-signals@*", reason="manual", by=OFFICER,
        response_due_at=AFTER_NATIONAL_DAY_2025)]


def test_a_reporter_routes_to_the_department_named_as_in_the_reference_case() -> None:
    case = accepted_case(reporter_id="reporter-1").case
    events = dispatching.route(case, cmd.RouteCase(department="signal-co"), REPORTER, T1, POLICY)
    assert isinstance(events[0], ev.CaseRouted)
    assert (events[0].department, events[0].rule, events[0].by) == (
        "signal-co", "traffic-signals@*", REPORTER)


def test_routing_by_hand_against_the_rules_is_recorded_as_manual() -> None:
    case = accepted_case().case
    [event] = dispatching.route(case, cmd.RouteCase(department="roads-office"), OFFICER, T1,
                                POLICY)
    assert isinstance(event, ev.CaseRouted)
    assert (event.department, event.rule, event.assisting) == ("roads-office", "manual", ())


def test_routing_refusals() -> None:
    accepted = accepted_case().case
    routed = routed_case().case
    reason = refusal(lambda: dispatching.route(routed, cmd.RouteCase(), OFFICER, T1, POLICY),
                     NotNow)
    assert "already with signal-co" in reason and "reassign" in reason
    refusal(lambda: dispatching.route(accepted, cmd.RouteCase(), SIGNAL_CO, T1, POLICY),
            NotAllowed)
    reason = refusal(lambda: dispatching.route(
        accepted, cmd.RouteCase(department="no-such-office"), OFFICER, T1, POLICY), Invalid)
    assert "no-such-office" in reason
    no_rule = Policy(city=CITY_WITHOUT_SIGNAL_RULE)
    reason = refusal(lambda: dispatching.route(accepted, cmd.RouteCase(), OFFICER, T1, no_rule),
                     NotNow)
    assert "name the department" in reason
    refusal(lambda: dispatching.route(Case(case_id="ZB-NOPE"), cmd.RouteCase(), OFFICER, T1,
                                      POLICY), NotFound)


# --- a supervisor reassigns ---------------------------------------------------


def test_a_supervisor_reassigns_with_a_new_deadline() -> None:
    case = routed_case().case
    events = dispatching.reassign(
        case, cmd.ReassignCase(department="roads-office", reason="路面问题"), SUPERVISOR, T1, POLICY)
    assert events == [ev.CaseReassigned(by=SUPERVISOR, from_department="signal-co",
                                        to_department="roads-office",
                                        due_at=T1 + timedelta(days=7), reason="路面问题",
                                        response_due_at=AFTER_NATIONAL_DAY_2025)]
    refusal(lambda: dispatching.reassign(
        case, cmd.ReassignCase(department="roads-office", reason="路面问题"), OFFICER, T1, POLICY),
        NotAllowed)
    assert "already with" in refusal(lambda: dispatching.reassign(
        case, cmd.ReassignCase(department="signal-co", reason="再试"), SUPERVISOR, T1, POLICY),
        NotNow)
    refusal(lambda: dispatching.reassign(
        case, cmd.ReassignCase(department="nowhere", reason="再试"), SUPERVISOR, T1, POLICY),
        Invalid)
    refusal(lambda: dispatching.reassign(accepted_case().case, cmd.ReassignCase(
        department="roads-office", reason="再试"), SUPERVISOR, T1, POLICY), NotNow)
