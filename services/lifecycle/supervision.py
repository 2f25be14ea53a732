"""Supervision (督辦): cases pressed on by a supervisor, by hand or because time ran out.

A supervisor takes an accepted, unfinished case under supervision by hand
(`escalate`, once). A case also goes to supervision by itself when one of its
three deadlines passes (`overdue`): triage (still submitted), its department's
first response (签收: routed, and the department has not responded) or
resolution (with its department, unresolved). It becomes overdue on that clock
(`CaseOverdue`, naming it) and is escalated with reason "overdue". Each flag
clears when the case moves on: accepted, rejected or merged clears triage's;
the department's acknowledgement (or first progress note, or resolution)
clears the response's; the resolution clears the resolution's (`case.py`). A
supervisor may move the case to another department (`dispatching.reassign`),
which starts both of the department's clocks again.

A resident who says a resolution fixed the problem but is not satisfied
disputes it (`feedback.give_feedback`): the case goes to supervision with
reason "disputed" and stays resolved until a supervisor rules
(`settle_dispute`): closed as it stands (`DisputeSettled`, then `CaseClosed`
"confirmed": the resident did confirm the fix), or reopened with its
department, same priority, new deadline from now (`DisputeSettled`, then
`CaseReopened`). Either way the answer stays counted as not satisfied.

The deadlines follow from recorded state alone (`facts.triage_due_at`,
`facts.response_due_at`, `facts.due_at`), so they
survive restarts and need no sleeping task per case: a sweep finds candidates
and decides on each with `overdue` inside a compare-and-set, so N instances
sweeping at once record each outcome once (`overdue_cause` names the passing of
one deadline the same way for all of them). The sweep is the case's writer's
(`ownership.py`): intake's for the triage deadline of a case awaiting triage
(`services/intake/deadlines.py`), routing's for the department's deadlines
(`services/routing/sweeps.py`). Cases whose last event came from a
`history:*` producer are left alone: their past is recorded, not news.
"""

from __future__ import annotations

from datetime import datetime

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.envelope import derived_id
from contracts.facts import SYSTEM, Actor, CaseFacts, CaseStatus, Clock
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
    deadlines = policy.reaching(facts.category, facts.priority, now)
    return [settled, ev.CaseReopened(
        department=facts.department, priority=facts.priority, due_at=deadlines.due_at,
        was_on_time=facts.resolved_on_time, response_due_at=deadlines.response_due_at)]


def overdue(case: Case, now: datetime) -> list[ev.CaseEvent]:
    """Running deadlines that have passed: overdue on each, and up to supervision (once)."""
    facts = case.facts
    if facts is None or case.from_history:
        return []
    passed: list[ev.CaseEvent] = [
        ev.CaseOverdue(due_at=due, department=facts.department, clock=clock)
        for clock, due in running(facts) if now > due
    ]
    return [*passed, ev.CaseEscalated(reason="overdue", by=SYSTEM)] if passed else []


def running(facts: CaseFacts) -> list[tuple[Clock, datetime]]:
    """The case's deadlines that run now and are not overdue yet, with when they are due."""
    clocks: list[tuple[Clock, datetime]] = []
    if (facts.status is CaseStatus.SUBMITTED and facts.triage_due_at is not None
            and not facts.triage_overdue):
        clocks.append(("triage", facts.triage_due_at))
    if facts.status.value in RUNNING:
        if (facts.responded_at is None and facts.response_due_at is not None
                and not facts.response_overdue):
            clocks.append(("response", facts.response_due_at))
        if facts.due_at is not None and not facts.overdue:
            clocks.append(("resolution", facts.due_at))
    return clocks


def overdue_cause(case: Case) -> str:
    """The same deadlines passing are one cause, however many instances notice them."""
    facts = case.facts
    parts = [due.isoformat() if clock == "resolution" else f"{clock}@{due.isoformat()}"
             for clock, due in (running(facts) if facts else [])]
    return str(derived_id("overdue", case.case_id, *(parts or ["-"])))
