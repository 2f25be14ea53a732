"""Getting a case to the department that must fix it: on acceptance, by hand, by a supervisor.

When an officer accepts a case, routing sends it on by itself
(`on_accepted`) to the department the dispatch rules name (`policy.by_rules`),
due by its priority class's deadline. If the officer handed it to a reporter
(newsroom handling), the reporter is assigned instead and routes it later; if
no rule fits, the case waits for an officer to route it by hand (`route`).

When a case is routed by hand, the department named is taken (keeping the
rule's name and assisting departments if the rules agree), or, with none
named, the one the rules give among those that have not returned the case.
A case already with a department is not routed again: a supervisor
reassigns it (`reassign`, with a new deadline).

A reaction is decided on the case as routing knows it *after* folding the
event (and the rest of its batch), and recorded with the reacted-to event's
id as its cause, so a redelivered event finds the work done and reprocessing
mints the same event ids. What follows an acceptance is dated at the
acceptance (`now` is its time), so the deadline does not depend on how far
behind the log routing happens to be. Events from `history:*` producers are
never reacted to (the service filters them out before calling here).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.facts import SYSTEM, Actor, CaseFacts, CaseStatus
from contracts.registry import read_event
from services.lifecycle.access import WITH_DEPARTMENT, admit, require
from services.lifecycle.case import Case
from services.lifecycle.errors import Invalid, NotNow
from services.lifecycle.policy import Assignment, Policy, by_hand, by_rules

Status = CaseStatus
RouteReason = Literal["accepted", "returned", "reopened", "manual"]


def on_accepted(
    case: Case, accepted: Envelope, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """An accepted case goes to the department the rules name.

    - If the officer handed it to a reporter (newsroom handling), the reporter
      is assigned and the case is not dispatched: the reporter routes it
      later (as in the reference case, routed after the site visit).
    - If no rule fits, nothing is recorded: the case stays `accepted` with no
      department, which is the officers' queue of cases to route by hand.
    - Decided on where the case stands now, not on whether anything happened
      since: a note or an escalation before routing reacted changes nothing,
      while a redelivered acceptance finds the case routed (or its reporter
      assigned) and does nothing.
    """
    if case.status is not Status.ACCEPTED or accepted.seq > case.version:
        return []
    facts = case.require_facts()
    event = read_event(accepted)
    if not isinstance(event, ev.CaseAccepted):
        return []
    if event.reporter_id:
        if case.reporter_id == event.reporter_id and case.version > accepted.seq:
            return []  # assigned already (by this reaction, or by hand)
        return [ev.ReporterAssigned(by=event.officer, reporter_id=event.reporter_id)]
    assignment = by_rules(policy.city, facts.category, facts.district)
    if assignment is None:
        return []
    return [routed(facts, assignment, reason="accepted", by=SYSTEM, now=now, policy=policy)]


def route(
    case: Case, command: cmd.RouteCase, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """Send a waiting case to a department: the one named, or the one the rules give."""
    facts = admit(case, command, actor, "route")
    if facts.status in WITH_DEPARTMENT:
        raise NotNow(
            f"case {case.case_id} is already with {facts.department}; a supervisor can reassign it"
        )
    require(case, facts, {Status.ACCEPTED, Status.AWAITING_DISPATCH}, "route")
    if command.department is not None:
        known_department(policy, command.department)
        assignment = by_hand(policy.city, command.department, facts.category, facts.district)
    else:
        found = by_rules(policy.city, facts.category, facts.district, exclude=case.returned_by)
        if found is None:
            raise NotNow(
                f"no dispatch rule sends '{facts.category}' cases in '{facts.district}' to a "
                "department that has not returned this case; name the department"
            )
        assignment = found
    return [routed(facts, assignment, reason="manual", by=actor, now=now, policy=policy)]


def reassign(
    case: Case, command: cmd.ReassignCase, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """A supervisor (督辦) moves the case to another department, with a new deadline."""
    facts = admit(case, command, actor, "reassign")
    require(case, facts, {Status.AWAITING_DISPATCH, *WITH_DEPARTMENT}, "reassign")
    known_department(policy, command.department)
    if command.department == facts.department:
        raise NotNow(f"case {case.case_id} is already with {command.department}")
    deadlines = policy.reaching(facts.category, facts.priority, now)
    return [
        ev.CaseReassigned(
            by=actor,
            from_department=facts.department,
            to_department=command.department,
            due_at=deadlines.due_at,
            reason=command.reason,
            response_due_at=deadlines.response_due_at,
        )
    ]


# --- building blocks ------------------------------------------------------------


def routed(
    facts: CaseFacts, assignment: Assignment, *, reason: RouteReason, by: Actor, now: datetime,
    policy: Policy,
) -> ev.CaseRouted:
    """The case goes to `assignment`, due by its time limits from now."""
    deadlines = policy.reaching(facts.category, facts.priority, now)
    return ev.CaseRouted(
        department=assignment.lead,
        assisting=assignment.assisting,
        due_at=deadlines.due_at,
        priority=facts.priority,
        rule=assignment.rule,
        reason=reason,
        by=by,
        response_due_at=deadlines.response_due_at,
        config_version=policy.config_version,
    )


def known_department(policy: Policy, department: str) -> None:
    if policy.city.department(department) is None:
        raise Invalid(f"department: unknown department '{department}'")
