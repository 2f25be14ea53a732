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
department replies topic); `reply_decision` turns each into the command it
stands for, given by that department, so the same rules hold (a department
that does not hold the case is refused as in a browser). Returning a case is
its own story (`returning.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import Actor, CaseStatus, Role
from services.lifecycle.access import AFTER_ACCEPTANCE, WITH_DEPARTMENT, admit, own_case, require
from services.lifecycle.case import Case
from services.lifecycle.errors import NotNow
from services.lifecycle.policy import Policy
from services.lifecycle.returning import return_case

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
