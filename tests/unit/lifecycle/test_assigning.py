"""Inside a department, told as stories: its coordinator gives a case to a handler and
hands it on; nobody else in the department, and no other department, may.

Given a case routed to signal-co, when its coordinator (or a supervisor) assigns a handler,
then `HandlerAssigned` — or this refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from unit.lifecycle.casebook import (
    ADMIN,
    OFFICER,
    POLICY,
    REPORTER,
    SIGNAL_CO,
    SUPERVISOR,
    T1,
    WATER_CO,
    accepted_case,
    refusal,
    resolved_case,
    routed_case,
)

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import Actor
from services.lifecycle import assigning, dispatching, returning
from services.lifecycle.case import Case
from services.lifecycle.errors import NotAllowed, NotNow
from services.lifecycle.history import History

COORDINATOR = SIGNAL_CO  # a signal-co token with the coordinator flag (`coordinator=True`)


def assign(case: Case, handler: str, actor: Actor = COORDINATOR, *,
           coordinator: bool = True) -> list[ev.CaseEvent]:
    return assigning.assign_handler(case, cmd.AssignHandler(handler=handler), actor, T1, POLICY,
                                    coordinator=coordinator)


def test_the_coordinator_gives_the_case_to_a_handler_then_hands_it_on() -> None:
    story = routed_case()
    first = assign(story.case, "signal-wang")
    assert first == [ev.HandlerAssigned(by=COORDINATOR, handler="signal-wang", previous=None)]
    story.given(T1, *first)
    assert story.case.handler == "signal-wang"
    # handing it to the one who has it already is nothing to record
    assert "already handles" in refusal(lambda: assign(story.case, "signal-wang"), NotNow)

    second = assign(story.case, "signal-li")
    assert second == [ev.HandlerAssigned(by=COORDINATOR, handler="signal-li",
                                         previous="signal-wang")]
    assert story.given(T1, *second).case.handler == "signal-li"


def test_a_supervisor_or_an_admin_may_assign_too() -> None:
    case = routed_case().case
    assert assign(case, "signal-wang", SUPERVISOR, coordinator=False)[0].by == SUPERVISOR
    assert assign(case, "signal-wang", ADMIN, coordinator=False)[0].by == ADMIN


def test_a_handler_another_department_or_other_staff_may_not() -> None:
    case = routed_case().case
    reason = refusal(lambda: assign(case, "signal-li", SIGNAL_CO, coordinator=False), NotAllowed)
    assert "only a coordinator of signal-co" in reason
    reason = refusal(lambda: assign(case, "water-zhang", WATER_CO), NotAllowed)
    assert "department water-co acts only on its own cases" in reason
    for actor in (OFFICER, REPORTER):
        assert "may not assign a handler" in refusal(
            lambda actor=actor: assign(case, "x", actor, coordinator=False), NotAllowed)


def test_an_assisting_department_has_no_say_in_who_handles_the_lead_ones_case() -> None:
    case = routed_case(assisting=("water-co",)).case
    refusal(lambda: assign(case, "water-zhang", WATER_CO), NotAllowed)


def test_only_while_the_department_holds_the_case() -> None:
    assert "it is accepted" in refusal(lambda: assign(accepted_case().case, "signal-wang",
                                                      SUPERVISOR), NotNow)
    assert "it is resolved" in refusal(lambda: assign(resolved_case().case, "signal-wang"),
                                       NotNow)


def test_an_empty_name_is_refused_at_the_edge() -> None:
    for blank in ("", "   "):
        with pytest.raises(ValidationError, match="name the handler"):
            cmd.AssignHandler(handler=blank)
    assert cmd.AssignHandler(handler=" signal-wang ").handler == "signal-wang"


def handled() -> History:
    story = routed_case()
    return story.given(T1, *assign(story.case, "signal-wang"))


def test_routed_again_the_case_waits_for_its_new_department_to_assign_it() -> None:
    later = T1 + timedelta(hours=1)
    story = handled()
    story.given(later, *dispatching.reassign(story.case, cmd.ReassignCase(
        department="roads-office", reason="路面问题"), SUPERVISOR, later, POLICY))
    assert story.case.handler is None
    # back to signal-co: its coordinator assigns again; the old handler is not theirs any more
    story.given(later, *dispatching.reassign(story.case, cmd.ReassignCase(
        department="signal-co", reason="还是信号灯"), SUPERVISOR, later, POLICY))
    assert story.case.handler is None
    assert assign(story.case, "signal-wang")[0].previous is None

    story = handled()
    story.given(later, *returning.return_case(story.case, cmd.ReturnCase(reason="不是我们的"),
                                              COORDINATOR, later, POLICY))
    assert story.case.handler is None


def test_the_case_read_back_from_the_log_has_the_same_handler() -> None:
    story = handled()
    read_back = Case(case_id=story.case.case_id).fold(story.envelopes)
    assert read_back.handler == "signal-wang" and read_back == story.case
