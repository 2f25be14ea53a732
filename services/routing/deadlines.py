"""The clocks routing watches, and what happens when one runs out. Pure.

Two deadlines follow from recorded state alone, so they survive restarts and
need no sleeping task per case:

- a case with a department past its `due_at` and not resolved becomes
  overdue (`CaseOverdue`) and goes to supervision (督辦, `CaseEscalated`
  with reason "overdue");
- a resolved case whose resident has not answered within the feedback
  window closes by itself (`CaseClosed`, reason "no_answer").

The sweep finds candidates with the queries below over fields routing's store
keeps at the top of each case document (`index_fields`), then decides on
each case with these functions inside a compare-and-set, so N instances
sweeping at once record each outcome once. Cases whose last event came from a
`history:*` producer are left alone: their past is recorded, not news.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contracts import case_events as ev
from contracts.envelope import derived_id
from contracts.facts import SYSTEM, CaseStatus
from services.common.case import Case

RUNNING = (CaseStatus.ROUTED.value, CaseStatus.ACKNOWLEDGED.value)
"""Statuses in which a department's deadline runs."""


def index_fields(case: Case) -> dict[str, Any]:
    """What the sweep (and an operator) query routing's store by."""
    facts = case.facts
    if facts is None:
        return {"status": None, "due_at": None, "overdue": False, "resolved_at": None,
                "department": None, "from_history": case.from_history}
    return {
        "status": facts.status.value,
        "due_at": facts.due_at,
        "overdue": facts.overdue,
        "resolved_at": facts.resolved_at,
        "department": facts.department,
        "from_history": case.from_history,
    }


# --- overdue ------------------------------------------------------------------


def past_due_query(now: datetime) -> dict[str, Any]:
    return {
        "status": {"$in": list(RUNNING)},
        "overdue": False,
        "from_history": False,
        "due_at": {"$lt": now},
    }


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


# --- no answer after the resolution --------------------------------------------


def unanswered_query(now: datetime, window: timedelta) -> dict[str, Any]:
    return {
        "status": CaseStatus.RESOLVED.value,
        "from_history": False,
        "resolved_at": {"$lte": now - window},
    }


def unanswered(case: Case, now: datetime, window: timedelta) -> list[ev.CaseEvent]:
    """Resolved, and the resident has not answered in `window`: the case closes."""
    facts = case.facts
    if (
        facts is None
        or case.from_history
        or facts.status is not CaseStatus.RESOLVED
        or facts.resolved_at is None
        or now < facts.resolved_at + window
    ):
        return []
    return [ev.CaseClosed(reason="no_answer")]


def unanswered_cause(case: Case) -> str:
    resolved = case.facts.resolved_at.isoformat() if case.facts and case.facts.resolved_at else "-"
    return str(derived_id("no-answer", case.case_id, resolved))
