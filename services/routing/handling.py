"""What may happen to a case once it is accepted, and what is recorded when it does. Pure.

One function per command: `(case, command, actor, now, policy) -> events`.
Each checks who is asking and where the case stands, then returns the events
to record; or it raises `Refused` and nothing is recorded: 404 for an unknown
case, 403 for a role or a department that may not do this, 409 for a case in
the wrong state, 422 for a department the city does not have. The HTTP routes
and the department replies on the bus both come through here, so a
department's own system is held to the same rules as a person in a browser.

Who may do what (an admin may do everything staff may):

| command         | who                                          | when the case is           |
| --------------- | -------------------------------------------- | -------------------------- |
| RouteCase       | officer, reporter, supervisor                | accepted, awaiting_dispatch |
| AcknowledgeCase | the lead department                          | routed                     |
| NoteProgress    | lead or assisting department, officer,       | accepted .. resolved       |
|                 | reporter, supervisor                         |                            |
| ReturnCase      | the lead department                          | routed, acknowledged       |
| ResolveCase     | the lead department, reporter, supervisor    | routed, acknowledged       |
| ReassignCase    | supervisor                                   | awaiting_dispatch, routed, |
|                 |                                              | acknowledged               |
| AssignReporter  | officer, supervisor                          | accepted .. resolved       |
| RecordSiteVisit | reporter                                     | accepted .. resolved       |
| LinkStory       | reporter                                     | accepted .. resolved       |
| EscalateCase    | supervisor                                   | accepted .. resolved, once |
| GiveFeedback    | the resident, with the case's tracking code  | resolved                   |

A closed, rejected or merged case takes nothing more. Assisting departments
may note progress on a case (they help the lead one), but only the lead
department acknowledges, returns or resolves it.

When a department returns a case (`return_case`) it is not theirs: the case
is re-routed at once by the dispatch rules to a department that has not
returned it yet (the rule's assisting departments, then later matching
rules); when no such department is left it waits for an officer
(`awaiting_dispatch`), who routes it by hand.

When the resident says a fix did not hold (`give_feedback` with
`fixed=False`), the case reopens with the same department, one priority class
more urgent, with a new deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Literal

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import SYSTEM, Actor, CaseFacts, CaseStatus, Role
from services.common.auth import tracking_code_matches
from services.common.case import Case, Refused, forbidden
from services.routing.dispatch import Assignment, Policy, by_hand, by_rules

Status = CaseStatus
RouteReason = Literal["accepted", "returned", "reopened", "manual"]

WITH_DEPARTMENT = frozenset({Status.ROUTED, Status.ACKNOWLEDGED})
"""A department holds the case and its deadline runs."""

AFTER_ACCEPTANCE = frozenset(
    {Status.ACCEPTED, Status.AWAITING_DISPATCH, Status.ROUTED, Status.ACKNOWLEDGED, Status.RESOLVED}
)
"""Accepted and not finished: the case can be followed, noted, visited."""

_STAFF = frozenset({Role.ADMIN})

ROLES: dict[type[cmd.Command], frozenset[Role]] = {
    cmd.RouteCase: _STAFF | {Role.OFFICER, Role.REPORTER, Role.SUPERVISOR},
    cmd.AcknowledgeCase: _STAFF | {Role.DEPARTMENT},
    cmd.NoteProgress: _STAFF | {Role.DEPARTMENT, Role.OFFICER, Role.REPORTER, Role.SUPERVISOR},
    cmd.ReturnCase: _STAFF | {Role.DEPARTMENT},
    cmd.ResolveCase: _STAFF | {Role.DEPARTMENT, Role.REPORTER, Role.SUPERVISOR},
    cmd.ReassignCase: _STAFF | {Role.SUPERVISOR},
    cmd.AssignReporter: _STAFF | {Role.OFFICER, Role.SUPERVISOR},
    cmd.RecordSiteVisit: _STAFF | {Role.REPORTER},
    cmd.LinkStory: _STAFF | {Role.REPORTER},
    cmd.EscalateCase: _STAFF | {Role.SUPERVISOR},
    cmd.GiveFeedback: frozenset({Role.RESIDENT}),
}
"""The roles that may give each command (HTTP routes check the same table)."""


# --- the commands -------------------------------------------------------------


def route(
    case: Case, command: cmd.RouteCase, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """Send a waiting case to a department: the one named, or the one the rules give."""
    facts = _admit(case, command, actor, "route")
    if facts.status in WITH_DEPARTMENT:
        raise Refused(
            f"case {case.case_id} is already with {facts.department}; a supervisor can reassign it"
        )
    _require(case, facts, {Status.ACCEPTED, Status.AWAITING_DISPATCH}, "route")
    if command.department is not None:
        _known_department(policy, command.department)
        assignment = by_hand(policy.city, command.department, facts.category, facts.district)
    else:
        found = by_rules(policy.city, facts.category, facts.district, exclude=case.returned_by)
        if found is None:
            raise Refused(
                f"no dispatch rule sends '{facts.category}' cases in '{facts.district}' to a "
                "department that has not returned this case; name the department"
            )
        assignment = found
    return [routed(facts, assignment, reason="manual", by=actor, now=now, policy=policy)]


def acknowledge(
    case: Case, command: cmd.AcknowledgeCase, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """The department confirms it has the case: its first response."""
    facts = _admit(case, command, actor, "acknowledge")
    _own_case(case, facts, actor)
    if facts.status is Status.ACKNOWLEDGED:
        raise Refused(f"case {case.case_id} is already acknowledged")
    _require(case, facts, {Status.ROUTED}, "acknowledge")
    return [ev.CaseAcknowledged(by=actor, note=command.note)]


def note_progress(
    case: Case, command: cmd.NoteProgress, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """Anyone handling the case reports how it goes; public notes reach the resident."""
    facts = _admit(case, command, actor, "note progress on")
    _own_case(case, facts, actor, assisting=True)
    _require(case, facts, AFTER_ACCEPTANCE, "note progress on")
    return [ev.ProgressNoted(by=actor, note=command.note, public=command.public)]


def return_case(
    case: Case, command: cmd.ReturnCase, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """The department says the case is not theirs: re-route it, or leave it to the officers."""
    facts = _admit(case, command, actor, "return")
    _own_case(case, facts, actor)
    _require(case, facts, WITH_DEPARTMENT, "return")
    returned = ev.CaseReturned(by=actor, reason=command.reason)
    excluded = {*case.returned_by, *([facts.department] if facts.department else [])}
    assignment = by_rules(policy.city, facts.category, facts.district, exclude=excluded)
    if assignment is None:
        return [returned]
    rerouted = routed(facts, assignment, reason="returned", by=SYSTEM, now=now, policy=policy)
    return [returned, rerouted]


def resolve(
    case: Case, command: cmd.ResolveCase, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """The problem is fixed. On time when no later than the deadline in force (按時辦結)."""
    facts = _admit(case, command, actor, "resolve")
    _own_case(case, facts, actor)
    if facts.status is Status.RESOLVED:
        raise Refused(f"case {case.case_id} is already resolved")
    if facts.status in {Status.ACCEPTED, Status.AWAITING_DISPATCH}:
        raise Refused(f"case {case.case_id} cannot be resolved before it is routed to a department")
    _require(case, facts, WITH_DEPARTMENT, "resolve")
    on_time = facts.due_at is None or now <= facts.due_at
    return [ev.CaseResolved(by=actor, resolution=command.resolution, on_time=on_time)]


def reassign(
    case: Case, command: cmd.ReassignCase, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """A supervisor (督辦) moves the case to another department, with a new deadline."""
    facts = _admit(case, command, actor, "reassign")
    _require(case, facts, {Status.AWAITING_DISPATCH, *WITH_DEPARTMENT}, "reassign")
    _known_department(policy, command.department)
    if command.department == facts.department:
        raise Refused(f"case {case.case_id} is already with {command.department}")
    return [
        ev.CaseReassigned(
            by=actor,
            from_department=facts.department,
            to_department=command.department,
            due_at=policy.deadlines.due(facts.priority, now),
            reason=command.reason,
        )
    ]


def assign_reporter(
    case: Case, command: cmd.AssignReporter, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """A reporter (記者) follows the case in the field from now on."""
    facts = _admit(case, command, actor, "assign a reporter to")
    _require(case, facts, AFTER_ACCEPTANCE, "assign a reporter to")
    if case.reporter_id == command.reporter_id:
        raise Refused(f"reporter {command.reporter_id} already follows case {case.case_id}")
    return [ev.ReporterAssigned(by=actor, reporter_id=command.reporter_id)]


def record_site_visit(
    case: Case, command: cmd.RecordSiteVisit, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    facts = _admit(case, command, actor, "record a site visit on")
    _require(case, facts, AFTER_ACCEPTANCE, "record a site visit on")
    return [ev.SiteVisited(by=actor, note=command.note, public=command.public)]


def link_story(
    case: Case, command: cmd.LinkStory, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """A published story (幫打聽 inquiry, 鄭在督辦 supervision column) joins the timeline."""
    facts = _admit(case, command, actor, "link a story to")
    _require(case, facts, AFTER_ACCEPTANCE, "link a story to")
    story = ev.StoryPublished(by=actor, title=command.title, url=command.url, column=command.column)
    return [story]


def escalate(
    case: Case, command: cmd.EscalateCase, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """A supervisor takes the case under supervision (督辦) by hand."""
    facts = _admit(case, command, actor, "escalate")
    _require(case, facts, AFTER_ACCEPTANCE, "escalate")
    if facts.escalated:
        raise Refused(f"case {case.case_id} is already under supervision")
    return [ev.CaseEscalated(reason="manual", by=actor, note=command.note)]


def give_feedback(
    case: Case,
    command: cmd.GiveFeedback,
    actor: Actor,
    now: datetime,
    policy: Policy,
    *,
    tracking_code: str | None,
) -> list[ev.CaseEvent]:
    """The resident answers a resolution: fixed closes the case, not fixed reopens it."""
    facts = _admit(case, command, actor, "give feedback on")
    if not tracking_code_matches(tracking_code, case.tracking_code_hash):
        raise forbidden(f"the tracking code does not match case {case.case_id}")
    _require(case, facts, {Status.RESOLVED}, "give feedback on")
    feedback = ev.FeedbackGiven(
        fixed=command.fixed, satisfied=command.satisfied, rating=command.rating,
        comment=command.comment,
    )
    if command.fixed:
        return [feedback, ev.CaseClosed(reason="confirmed")]
    priority = facts.priority.raised()
    reopened = ev.CaseReopened(
        department=facts.department,
        priority=priority,
        due_at=policy.deadlines.due(priority, now),
        comment=command.comment,
        was_on_time=facts.resolved_on_time,
    )
    return [feedback, reopened]


# --- department replies from the bus -------------------------------------------

Decision = Callable[[Case, datetime, Policy], list[ev.CaseEvent]]


def reply_decision(reply: cmd.AcknowledgeReply | cmd.ProgressReply | cmd.ReturnReply
                   | cmd.ResolveReply) -> Decision:
    """A department's reply on the bus, as the command it stands for, given by that department."""
    actor = Actor(role=Role.DEPARTMENT, department=reply.department)
    match reply:
        case cmd.AcknowledgeReply():
            ack = cmd.AcknowledgeCase(note=reply.note)
            return lambda case, now, policy: acknowledge(case, ack, actor, now, policy)
        case cmd.ProgressReply():
            note = cmd.NoteProgress(note=reply.note, public=reply.public)
            return lambda case, now, policy: note_progress(case, note, actor, now, policy)
        case cmd.ReturnReply():
            back = cmd.ReturnCase(reason=reply.reason)
            return lambda case, now, policy: return_case(case, back, actor, now, policy)
        case cmd.ResolveReply():
            done = cmd.ResolveCase(resolution=reply.resolution)
            return lambda case, now, policy: resolve(case, done, actor, now, policy)
    raise AssertionError(f"unhandled reply {reply!r}")  # pragma: no cover - exhaustive


# --- building blocks ------------------------------------------------------------


def routed(
    facts: CaseFacts, assignment: Assignment, *, reason: RouteReason, by: Actor, now: datetime,
    policy: Policy,
) -> ev.CaseRouted:
    """The case goes to `assignment`, due by its priority class's deadline from now."""
    return ev.CaseRouted(
        department=assignment.lead,
        assisting=assignment.assisting,
        due_at=policy.deadlines.due(facts.priority, now),
        priority=facts.priority,
        rule=assignment.rule,
        reason=reason,
        by=by,
    )


def _admit(case: Case, command: cmd.Command, actor: Actor, action: str) -> CaseFacts:
    """The case's facts if it exists, is open and `actor`'s role may give `command`."""
    allowed = ROLES[type(command)]
    if actor.role not in allowed:
        names = ", ".join(sorted(role.value for role in allowed))
        raise forbidden(f"a {actor.role.value} may not {action} a case; this needs: {names}")
    facts = case.require_facts()
    match facts.status:
        case Status.CLOSED:
            raise Refused(f"case {case.case_id} is closed; it takes nothing more")
        case Status.REJECTED:
            raise Refused(f"case {case.case_id} was rejected at triage; it takes nothing more")
        case Status.MERGED:
            raise Refused(
                f"case {case.case_id} was merged into {facts.merged_into}; act on that case"
            )
        case Status.SUBMITTED:
            raise Refused(f"case {case.case_id} has not been accepted by an officer yet")
    return facts


def _require(case: Case, facts: CaseFacts, allowed: Collection[Status], action: str) -> None:
    if facts.status not in allowed:
        raise Refused(f"cannot {action} case {case.case_id}: it is {facts.status.value}")


def _own_case(case: Case, facts: CaseFacts, actor: Actor, *, assisting: bool = False) -> None:
    """A department acts only on the cases it leads (or, where allowed, assists with)."""
    if actor.role is not Role.DEPARTMENT:
        return
    if actor.department is not None and actor.department == facts.department:
        return
    if assisting and actor.department in case.assisting:
        return
    holder = f"with {facts.department}" if facts.department else "with no department"
    raise forbidden(
        f"case {case.case_id} is {holder}; department {actor.department} acts only on its own cases"
    )


def _known_department(policy: Policy, department: str) -> None:
    if policy.city.department(department) is None:
        raise Refused(f"department: unknown department '{department}'", status=422)
