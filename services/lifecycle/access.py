"""Who may give which command, and the guards every decider starts with.

Who may do what (an admin may do everything staff may):

| command         | who                                          | when the case is           |
| --------------- | -------------------------------------------- | -------------------------- |
| AcceptCase      | officer, supervisor                          | submitted                  |
| RejectCase      | officer, supervisor                          | submitted                  |
| MergeCase       | officer, supervisor                          | submitted                  |
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
| GiveFeedback    | the resident, with the case's tracking code  | resolved, not disputed     |
| SettleDispute   | supervisor                                   | resolved, disputed         |
| AssignHandler   | the lead department's coordinator,           | routed, acknowledged       |
|                 | supervisor                                   |                            |

Triage (`triage.py`) takes a case still `submitted`; everything else waits for
its acceptance (`admit`). That is also who records the case's events
(`ownership.py`): intake while it awaits triage, routing from then on. A closed, rejected or merged case takes nothing
more. Assisting departments may note progress on a case (they help the lead
one), but only the lead department acknowledges, returns or resolves it.

The HTTP routes and the department replies on the bus both come through the
deciders, so a department's own system is held to the same rules as a person
in a browser; the routes guard with the same `ROLES` before they ask.
"""

from __future__ import annotations

from collections.abc import Collection

from contracts import case_commands as cmd
from contracts.facts import Actor, CaseFacts, CaseStatus, Role
from services.lifecycle.case import Case
from services.lifecycle.errors import NotAllowed, NotNow

Status = CaseStatus

WITH_DEPARTMENT = frozenset({Status.ROUTED, Status.ACKNOWLEDGED})
"""A department holds the case and its deadline runs."""

AFTER_ACCEPTANCE = frozenset(
    {Status.ACCEPTED, Status.AWAITING_DISPATCH, Status.ROUTED, Status.ACKNOWLEDGED, Status.RESOLVED}
)
"""Accepted and not finished: the case can be followed, noted, visited."""

_STAFF = frozenset({Role.ADMIN})

ROLES: dict[type[cmd.Command], frozenset[Role]] = {
    cmd.AcceptCase: _STAFF | {Role.OFFICER, Role.SUPERVISOR},
    cmd.RejectCase: _STAFF | {Role.OFFICER, Role.SUPERVISOR},
    cmd.MergeCase: _STAFF | {Role.OFFICER, Role.SUPERVISOR},
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
    cmd.SettleDispute: _STAFF | {Role.SUPERVISOR},
    cmd.AssignHandler: _STAFF | {Role.DEPARTMENT, Role.SUPERVISOR},
}
"""The roles that may give each command (HTTP routes check the same table)."""


def permit(command: cmd.Command, actor: Actor, action: str) -> None:
    """`actor`'s role may give `command` (`ROLES`)."""
    allowed = ROLES[type(command)]
    if actor.role not in allowed:
        names = ", ".join(sorted(role.value for role in allowed))
        raise NotAllowed(f"a {actor.role.value} may not {action} a case; this needs: {names}")


def admit(case: Case, command: cmd.Command, actor: Actor, action: str) -> CaseFacts:
    """The case's facts if it exists, is open and `actor`'s role may give `command`."""
    permit(command, actor, action)
    facts = case.require_facts()
    match facts.status:
        case Status.CLOSED:
            raise NotNow(f"case {case.case_id} is closed; it takes nothing more")
        case Status.REJECTED:
            raise NotNow(f"case {case.case_id} was rejected at triage; it takes nothing more")
        case Status.MERGED:
            raise NotNow(
                f"case {case.case_id} was merged into {facts.merged_into}; act on that case"
            )
        case Status.SUBMITTED:  # and intake records its events until then (`ownership.py`)
            raise NotNow(f"case {case.case_id} has not been accepted by an officer yet: "
                         "intake holds it until its triage")
    return facts


def require(case: Case, facts: CaseFacts, allowed: Collection[Status], action: str) -> None:
    """The case must stand in one of the `allowed` statuses for `action`."""
    if facts.status not in allowed:
        raise NotNow(f"cannot {action} case {case.case_id}: it is {facts.status.value}")


def own_case(case: Case, facts: CaseFacts, actor: Actor, *, assisting: bool = False) -> None:
    """A department acts only on the cases it leads (or, where allowed, assists with)."""
    if actor.role is not Role.DEPARTMENT:
        return
    if actor.department is not None and actor.department == facts.department:
        return
    if assisting and actor.department in case.assisting:
        return
    holder = f"with {facts.department}" if facts.department else "with no department"
    raise NotAllowed(
        f"case {case.case_id} is {holder}; department {actor.department} acts only on its own cases"
    )
