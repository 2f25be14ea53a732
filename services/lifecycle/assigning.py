"""Inside a department: its coordinator gives a case to a handler (承办人), and hands it on.

A department is staffed by people holding its tokens (`zaiban token issue --role
department --department <code> --subject <staff id>`); one of them, or a few, coordinate
it (`--coordinator`). While the department leads a case (routed or acknowledged), its
coordinator gives the case to a handler (`assign_handler`): one of the department's
people, named by their staff id, the subject of their token. The same command hands it
on to another handler (`HandlerAssigned` says who had it, `previous`). A supervisor (or
an admin) may assign too, as they may reassign the case to another department; a
department's own system, replying on its replies topic, speaks for the whole department
and so assigns as its coordinator does.

Who belongs to the department is what their token says, not a list kept here: the
handler is remembered with the department that led the case when they were given it,
and a case is theirs only for a token of that department with that subject
(`readers.mine`). A person of another department with the same staff id never sees it
as theirs. Nothing but a named handler is taken: an empty name is refused at the edge
(`AssignHandler`), giving the case to its handler again is refused here.

An assignment holds for the routing in force (`contracts.facts.Handling`): once the case
is returned, reassigned or reopened, it waits for its department to assign it again.
Assisting departments help without handlers of the case: only the lead one assigns.

The handler is staff personal data: the event carries the staff id (as every `Actor`
does), the staff views show it, and no public page, feed, Open311 answer or department
topic does (`services/tracking/render.py`, `services/routing/departments.py`).
"""

from __future__ import annotations

from datetime import datetime

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import Actor, Role
from services.lifecycle.access import WITH_DEPARTMENT, admit, own_case, require
from services.lifecycle.case import Case
from services.lifecycle.errors import NotAllowed, NotNow
from services.lifecycle.policy import Policy


def assign_handler(
    case: Case, command: cmd.AssignHandler, actor: Actor, now: datetime, policy: Policy,
    *, coordinator: bool = False,
) -> list[ev.CaseEvent]:
    """Give the case to a handler of its lead department, or hand it on to another.

    `coordinator`: the department's staff member giving the command coordinates it (their
    token says so), or it is the department's own system on its replies topic."""
    facts = admit(case, command, actor, "assign a handler to")
    own_case(case, facts, actor)
    if actor.role is Role.DEPARTMENT and not coordinator:
        raise NotAllowed(f"only a coordinator of {actor.department} gives its cases to "
                         "handlers; this token is a handler's")
    require(case, facts, WITH_DEPARTMENT, "assign a handler to")
    current = case.handler
    if current == command.handler:
        raise NotNow(f"{command.handler} already handles case {case.case_id}")
    return [ev.HandlerAssigned(by=actor, handler=command.handler, previous=current)]
