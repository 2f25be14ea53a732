"""Who may give which command, and what a case past its life takes: the same refusals everywhere.

Given a case, when a command comes from the wrong role or too late, then the same refusal,
whatever the command.
"""

from __future__ import annotations

import pytest
from unit.lifecycle.casebook import (
    OFFICER,
    POLICY,
    REPORTER,
    RESIDENT,
    SIGNAL_CO,
    SUPERVISOR,
    T0,
    T1,
    history,
    refusal,
    resolved_case,
    routed_case,
)
from unit.lifecycle.casebook import submitted as submitted_event

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import Actor, Role
from services.lifecycle import access, dispatching, handling, reporting, returning, supervision
from services.lifecycle.errors import NotAllowed, NotNow


def test_a_case_not_yet_accepted_or_finished_takes_no_command() -> None:
    submitted = history().given(T0, submitted_event(), producer="intake")
    assert "not been accepted" in refusal(
        lambda: dispatching.route(submitted.case, cmd.RouteCase(), OFFICER, T1, POLICY), NotNow)
    closed = resolved_case().given(T1, ev.CaseClosed(reason="no_answer")).case
    assert "closed" in refusal(lambda: handling.note_progress(
        closed, cmd.NoteProgress(note="还在修"), SIGNAL_CO, T1, POLICY), NotNow)
    rejected = history().given(T0, submitted_event(), producer="intake").given(
        T0, ev.CaseRejected(officer=OFFICER, reason="不属于受理范围"), producer="intake").case
    assert "rejected" in refusal(
        lambda: supervision.escalate(rejected, cmd.EscalateCase(), SUPERVISOR, T1, POLICY), NotNow)
    merged = history().given(T0, submitted_event(), producer="intake").given(
        T0, ev.CaseMerged(officer=OFFICER, into_case_id="ZB251006-AAAA-BBBB"),
        producer="intake").case
    assert "ZB251006-AAAA-BBBB" in refusal(lambda: reporting.record_site_visit(
        merged, cmd.RecordSiteVisit(note="到现场"), REPORTER, T1, POLICY), NotNow)


def test_every_command_has_its_roles() -> None:
    commands = {c for c in vars(cmd).values()
                if isinstance(c, type) and issubclass(c, cmd.Command)
                and c.__name__.endswith(("Case", "Progress", "Reporter", "Visit", "Story",
                                         "Feedback", "Dispute", "Handler"))
                and c.__name__ != "SubmitCase"}
    assert commands == set(access.ROLES)


# --- every command, the same two refusals -------------------------------------


STORY = cmd.LinkStory.model_validate({"title": "红绿灯何时能点亮?", "url": "https://news.example/1"})


EVERY_COMMAND = [
    # (decide, command, someone allowed, someone not allowed)
    (dispatching.route, cmd.RouteCase(), OFFICER, SIGNAL_CO),
    (handling.acknowledge, cmd.AcknowledgeCase(), SIGNAL_CO, REPORTER),
    (handling.note_progress, cmd.NoteProgress(note="进展"), SIGNAL_CO, RESIDENT),
    (returning.return_case, cmd.ReturnCase(reason="不归我们"), SIGNAL_CO, SUPERVISOR),
    (handling.resolve, cmd.ResolveCase(resolution="好了"), SIGNAL_CO, OFFICER),
    (dispatching.reassign, cmd.ReassignCase(department="water-co", reason="移交"), SUPERVISOR,
     OFFICER),
    (reporting.assign_reporter, cmd.AssignReporter(reporter_id="reporter-9"), SUPERVISOR,
     REPORTER),
    (reporting.record_site_visit, cmd.RecordSiteVisit(note="到现场"), REPORTER, SUPERVISOR),
    (reporting.link_story, STORY, REPORTER, OFFICER),
    (supervision.escalate, cmd.EscalateCase(), SUPERVISOR, SIGNAL_CO),
]


@pytest.mark.parametrize(("decide", "command", "allowed", "other"), EVERY_COMMAND,
                         ids=[type(c[1]).__name__ for c in EVERY_COMMAND])
def test_a_closed_case_takes_nothing_and_roles_are_checked(
    decide: object, command: cmd.Command, allowed: Actor, other: Actor,
) -> None:
    closed = resolved_case().given(T1, ev.CaseClosed(reason="confirmed")).case
    assert "closed" in refusal(lambda: decide(closed, command, allowed, T1, POLICY), NotNow)  # type: ignore[operator]
    routed = routed_case().case
    assert "may not" in refusal(lambda: decide(routed, command, other, T1, POLICY), NotAllowed)  # type: ignore[operator]
    assert access.ROLES[type(command)] >= {allowed.role, Role.ADMIN}
