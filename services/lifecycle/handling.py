"""The department's side: it acknowledges a case, reports progress, and resolves it.

When a case reaches its department, the department confirms it has it
(`acknowledge`, once, while the case is routed): that is its first response,
the clock the first-response figures read. Anyone handling the case may note
progress (`note_progress`): the lead department, an assisting one, officers,
reporters, supervisors; public notes reach the resident's timeline, and a
department's note is a first response too. The problem is fixed when the lead
department (or a reporter confirming on site, or a supervisor) resolves it
(`resolve`): on time (按時辦結) when no later than the deadline in force. The
resident answers the resolution (`feedback.py`).

A department's own system gives the same commands on the bus (replies on the
department replies topic); each runs as the command it stands for, given by
that department (routing's command table, `services/routing/commands.py`), so
the same rules hold: a department that does not hold the case is refused as in
a browser. Returning a case is its own story (`returning.py`).
"""

from __future__ import annotations

from datetime import datetime

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import Actor, CaseStatus
from services.lifecycle.access import AFTER_ACCEPTANCE, WITH_DEPARTMENT, admit, own_case, require
from services.lifecycle.case import Case
from services.lifecycle.errors import NotNow
from services.lifecycle.policy import Policy

Status = CaseStatus


def acknowledge(
    case: Case, command: cmd.AcknowledgeCase, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """The department confirms it has the case: its first response."""
    facts = admit(case, command, actor, "acknowledge")
    own_case(case, facts, actor)
    if facts.status is Status.ACKNOWLEDGED:
        raise NotNow(f"case {case.case_id} is already acknowledged")
    require(case, facts, {Status.ROUTED}, "acknowledge")
    return [ev.CaseAcknowledged(by=actor, note=command.note)]


def note_progress(
    case: Case, command: cmd.NoteProgress, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """Anyone handling the case reports how it goes; public notes reach the resident."""
    facts = admit(case, command, actor, "note progress on")
    own_case(case, facts, actor, assisting=True)
    require(case, facts, AFTER_ACCEPTANCE, "note progress on")
    return [ev.ProgressNoted(by=actor, note=command.note, public=command.public)]


def resolve(
    case: Case, command: cmd.ResolveCase, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """The problem is fixed. On time when no later than the deadline in force (按時辦結)."""
    facts = admit(case, command, actor, "resolve")
    own_case(case, facts, actor)
    if facts.status is Status.RESOLVED:
        raise NotNow(f"case {case.case_id} is already resolved")
    if facts.status in {Status.ACCEPTED, Status.AWAITING_DISPATCH}:
        raise NotNow(f"case {case.case_id} cannot be resolved before it is routed to a department")
    require(case, facts, WITH_DEPARTMENT, "resolve")
    on_time = facts.due_at is None or now <= facts.due_at
    return [ev.CaseResolved(by=actor, resolution=command.resolution, on_time=on_time)]

