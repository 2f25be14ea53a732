"""The department's side, told as stories.

Given a routed case, when the department acknowledges, notes progress or resolves, then these
events — or this refusal. (Its own system's replies on the bus run these same deciders:
tests/unit/common/test_command_table.py.)
"""

from __future__ import annotations

from datetime import timedelta

from unit.lifecycle.casebook import (
    ADMIN,
    HOUSING,
    OFFICER,
    POLICY,
    REPORTER,
    RESIDENT,
    SIGNAL_CO,
    SUPERVISOR,
    T0,
    T1,
    WATER_CO,
    accepted_case,
    refusal,
    resolved_case,
    routed_case,
)

from contracts import case_commands as cmd
from contracts import case_events as ev
from services.lifecycle import handling, returning
from services.lifecycle.errors import NotAllowed, NotNow


def test_the_department_acknowledges_its_case_once() -> None:
    story = routed_case()
    events = handling.acknowledge(story.case, cmd.AcknowledgeCase(note="已派员"), SIGNAL_CO, T1,
                                  POLICY)
    assert events == [ev.CaseAcknowledged(by=SIGNAL_CO, note="已派员")]
    acknowledged = story.given(T1, *events).case
    assert acknowledged.facts and acknowledged.facts.first_response_at == T1
    assert "already acknowledged" in refusal(lambda: handling.acknowledge(
        acknowledged, cmd.AcknowledgeCase(), SIGNAL_CO, T1, POLICY), NotNow)


def test_a_department_acts_only_on_its_own_cases() -> None:
    case = routed_case().case
    reason = refusal(lambda: handling.acknowledge(case, cmd.AcknowledgeCase(), WATER_CO, T1,
                                                  POLICY), NotAllowed)
    assert "with signal-co" in reason and "water-co" in reason
    refusal(lambda: handling.resolve(case, cmd.ResolveCase(resolution="修好了"), WATER_CO, T1,
                                     POLICY), NotAllowed)
    refusal(lambda: returning.return_case(case, cmd.ReturnCase(reason="不归我们"), WATER_CO, T1,
                                          POLICY), NotAllowed)
    refusal(lambda: handling.note_progress(case, cmd.NoteProgress(note="x"), WATER_CO, T1,
                                           POLICY), NotAllowed)


def test_an_assisting_department_notes_progress_but_does_not_resolve() -> None:
    case = routed_case("heating-co", category="heating", assisting=("housing",)).case
    events = handling.note_progress(case, cmd.NoteProgress(note="已协调物业", public=False),
                                    HOUSING, T1, POLICY)
    assert events == [ev.ProgressNoted(by=HOUSING, note="已协调物业", public=False)]
    refusal(lambda: handling.resolve(case, cmd.ResolveCase(resolution="好了"), HOUSING, T1,
                                     POLICY), NotAllowed)


def test_progress_notes_come_from_everyone_handling_the_case() -> None:
    case = routed_case().case
    for actor in (SIGNAL_CO, OFFICER, REPORTER, SUPERVISOR, ADMIN):
        [event] = handling.note_progress(case, cmd.NoteProgress(note="进展"), actor, T1, POLICY)
        assert isinstance(event, ev.ProgressNoted) and event.by == actor
    refusal(lambda: handling.note_progress(case, cmd.NoteProgress(note="进展"), RESIDENT, T1,
                                           POLICY), NotAllowed)


# --- resolution ---------------------------------------------------------------


def test_a_resolution_is_on_time_until_the_deadline_and_late_after_it() -> None:
    story = routed_case(due_in=timedelta(days=7))
    due = T0 + timedelta(days=7)
    [on_time] = handling.resolve(story.case, cmd.ResolveCase(resolution="四个灯都亮了"),
                                 SIGNAL_CO, due, POLICY)
    [late] = handling.resolve(story.case, cmd.ResolveCase(resolution="四个灯都亮了"),
                              SIGNAL_CO, due + timedelta(seconds=1), POLICY)
    assert isinstance(on_time, ev.CaseResolved) and on_time.on_time is True
    assert isinstance(late, ev.CaseResolved) and late.on_time is False


def test_a_reporter_confirming_on_site_may_resolve() -> None:
    [event] = handling.resolve(routed_case().case, cmd.ResolveCase(resolution="复访：灯都亮了"),
                               REPORTER, T1, POLICY)
    assert isinstance(event, ev.CaseResolved) and event.by == REPORTER


def test_a_case_cannot_be_resolved_before_it_is_routed_nor_twice() -> None:
    assert "before it is routed" in refusal(lambda: handling.resolve(
        accepted_case().case, cmd.ResolveCase(resolution="好了"), SUPERVISOR, T1, POLICY), NotNow)
    assert "already resolved" in refusal(lambda: handling.resolve(
        resolved_case().case, cmd.ResolveCase(resolution="好了"), SIGNAL_CO, T1, POLICY), NotNow)
    refusal(lambda: handling.resolve(routed_case().case, cmd.ResolveCase(resolution="好了"),
                                     OFFICER, T1, POLICY), NotAllowed)
