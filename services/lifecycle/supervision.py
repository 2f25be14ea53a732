"""Supervision (督辦): cases pressed on by a supervisor, by hand or because time ran out.

A supervisor takes an accepted, unfinished case under supervision by hand
(`escalate`, once). A case also goes to supervision by itself when its
department's deadline passes unresolved: it becomes overdue (`CaseOverdue`)
and is escalated with reason "overdue" (`overdue`). A supervisor may then
move it to another department (`dispatching.reassign`).

A resident who says a resolution fixed the problem but is not satisfied
disputes it (`feedback.give_feedback`): the case goes to supervision with
reason "disputed" and stays resolved until a supervisor rules
(`settle_dispute`): closed as it stands (`DisputeSettled`, then `CaseClosed`
"confirmed": the resident did confirm the fix), or reopened with its
department, same priority, new deadline from now (`DisputeSettled`, then
`CaseReopened`). Either way the answer stays counted as not satisfied.

The deadline follows from recorded state alone (`facts.due_at`), so it
survives restarts and needs no sleeping task per case: routing's sweep
(`services/routing/sweeps.py`) finds candidates in its store and decides on
each with `overdue` inside a compare-and-set, so N instances sweeping at once
record each outcome once (`overdue_cause` names the passing of one deadline
the same way for all of them). Cases whose last event came from a
`history:*` producer are left alone: their past is recorded, not news.
"""

from __future__ import annotations

from datetime import datetime

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.envelope import derived_id
from contracts.facts import SYSTEM, Actor, CaseStatus
from services.lifecycle.access import AFTER_ACCEPTANCE, admit, require
from services.lifecycle.case import Case
from services.lifecycle.errors import NotNow
from services.lifecycle.policy import Policy

RUNNING = (CaseStatus.ROUTED.value, CaseStatus.ACKNOWLEDGED.value)
"""Statuses in which a department's deadline runs."""


def escalate(
    case: Case, command: cmd.EscalateCase, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """A supervisor takes the case under supervision (督辦) by hand."""
    facts = admit(case, command, actor, "escalate")
    require(case, facts, AFTER_ACCEPTANCE, "escalate")
    if facts.escalated:
        raise NotNow(f"case {case.case_id} is already under supervision")
    return [ev.CaseEscalated(reason="manual", by=actor, note=command.note)]


def settle_dispute(
    case: Case, command: cmd.SettleDispute, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """A supervisor rules on a resident's dispute: close the case, or reopen it."""
    facts = admit(case, command, actor, "settle the dispute on")
    require(case, facts, {CaseStatus.RESOLVED}, "settle the dispute on")
    if not case.disputed:
        raise NotNow(f"case {case.case_id} has no dispute to settle: its resident has not "
                     "said they are not satisfied with its resolution")
    settled = ev.DisputeSettled(by=actor, outcome=command.outcome, note=command.note)
    if command.outcome == "closed":
        return [settled, ev.CaseClosed(reason="confirmed")]
    return [settled, ev.CaseReopened(
        department=facts.department, priority=facts.priority,
        due_at=policy.deadlines.due(facts.priority, now), was_on_time=facts.resolved_on_time)]


def overdue(case: Case, now: datetime) -> list[ev.CaseEvent]:
    """A running deadline that has passed: overdue, and up to supervision."""
    facts = case.facts
    if (
        facts is None
        or case.from_history
        or facts.status.value not in RUNNING
        or facts.overdue
        or facts.due_at is None
        or now <= facts.due_at
    ):
        return []
    return [
        ev.CaseOverdue(due_at=facts.due_at, department=facts.department),
        ev.CaseEscalated(reason="overdue", by=SYSTEM),
    ]


def overdue_cause(case: Case) -> str:
    """The same deadline passing is one cause, however many instances notice it."""
    due = case.facts.due_at.isoformat() if case.facts and case.facts.due_at else "-"
    return str(derived_id("overdue", case.case_id, due))
