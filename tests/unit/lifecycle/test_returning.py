"""What happens when a department returns a case: the one place to read it, told as stories."""

from __future__ import annotations

from datetime import timedelta

from unit.lifecycle.casebook import (
    HEATING_CO,
    HOUSING,
    OFFICER,
    POLICY,
    SIGNAL_CO,
    T0,
    T1,
    accepted_case,
    refusal,
    resolved_case,
    routed_case,
)

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import SYSTEM, Actor, CaseStatus, Priority, Role
from services.lifecycle import dispatching, returning
from services.lifecycle.errors import NotNow


def test_a_returned_case_goes_to_the_assisting_department() -> None:
    story = routed_case("heating-co", category="heating", assisting=("housing",),
                        priority=Priority.UTILITIES)
    events = returning.return_case(story.case, cmd.ReturnCase(reason="是物业的管道"), HEATING_CO,
                                   T1, POLICY)
    assert events == [
        ev.CaseReturned(by=HEATING_CO, reason="是物业的管道"),
        ev.CaseRouted(department="housing", assisting=(), due_at=T1 + timedelta(hours=24),
                      priority=Priority.UTILITIES, rule="heating@*", reason="returned",
                      by=SYSTEM, response_due_at=T1 + timedelta(hours=4)),
    ]
    rerouted = story.given(T1, *events).case
    assert rerouted.facts and rerouted.facts.department == "housing"
    assert rerouted.returned_by == ("heating-co",)
    # housing returns it too: no department is left that has not, so the officers route it
    back_again = returning.return_case(rerouted, cmd.ReturnCase(reason="也不是我们"), HOUSING,
                                       T1, POLICY)
    assert back_again == [ev.CaseReturned(by=HOUSING, reason="也不是我们")]
    waiting = story.given(T1, *back_again).case
    assert waiting.facts and waiting.facts.status is CaseStatus.AWAITING_DISPATCH
    assert waiting.facts.department is None and waiting.facts.due_at is None
    assert "name the department" in refusal(
        lambda: dispatching.route(waiting, cmd.RouteCase(), OFFICER, T1, POLICY), NotNow)
    [by_hand] = dispatching.route(waiting, cmd.RouteCase(department="heating-co"), OFFICER, T1,
                                  POLICY)
    assert isinstance(by_hand, ev.CaseRouted) and by_hand.department == "heating-co"


def test_a_district_rule_falls_back_to_the_city_wide_one_when_its_departments_return() -> None:
    story = accepted_case("roads", "jinshui").given(T0, ev.CaseRouted(
        department="jinshui-roads", assisting=("roads-office",), due_at=T0 + timedelta(days=7),
        priority=Priority.GENERAL, rule="roads@jinshui", by=SYSTEM))
    jinshui = Actor(role=Role.DEPARTMENT, department="jinshui-roads")
    events = returning.return_case(story.case, cmd.ReturnCase(reason="市管道路"), jinshui, T1,
                                   POLICY)
    assert [type(e) for e in events] == [ev.CaseReturned, ev.CaseRouted]
    assert isinstance(events[1], ev.CaseRouted) and events[1].department == "roads-office"


def test_a_case_with_no_other_department_waits_for_the_officers() -> None:
    events = returning.return_case(routed_case().case, cmd.ReturnCase(reason="不是信号灯问题"),
                                   SIGNAL_CO, T1, POLICY)
    assert events == [ev.CaseReturned(by=SIGNAL_CO, reason="不是信号灯问题")]


def test_only_a_case_in_hand_can_be_returned() -> None:
    case = resolved_case().case
    assert "resolved" in refusal(lambda: returning.return_case(
        case, cmd.ReturnCase(reason="不归我们"), SIGNAL_CO, T1, POLICY), NotNow)
