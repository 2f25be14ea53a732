"""A department's inbox: its open cases, the soonest deadline first, the overdue on top.

The inbox of a department is the cases it leads and still holds (routed or acknowledged:
its work; a resolved case waits for the resident, a case it assists with is another's),
sorted by the deadline that comes first among those still running — the late ones, whose
deadline passed, first of all — and each with its handler (`HandlerAssigned`), so that a
coordinator sees what nobody handles yet. A handler narrows it to their own (`mine`).

The deadlines are fields of the case's facts, each running in some statuses
(`DEADLINES`): the first response (签收, `response_due_at`) until the department responds,
and the resolution (`due_at`); the overdue flags that go with the clocks are `OVERDUE_FLAGS`. The read model keeps the soonest running
deadline of each case (`deadline`) and whether any clock is late (`late`) as fields of
its document, so that the store sorts the inbox (`SORT`). Pure.

"Mine" is the same for a reporter (the cases handed to them, `ReporterAssigned`) and for a
department's handler: the read model keeps each as `staff_hash` of their staff id, the
subject of their token, and never their name in a field it searches (`store.document`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from contracts.facts import CaseFacts, CaseStatus, Role
from services.tracking.timeline import CaseView, staff_hash

HELD = (CaseStatus.ROUTED, CaseStatus.ACKNOWLEDGED)
"""The statuses in which a department holds the case: its inbox."""

DEADLINES: dict[str, Callable[[CaseFacts], bool]] = {
    "response_due_at": lambda facts: (facts.status is CaseStatus.ROUTED
                                      and facts.responded_at is None),
    "due_at": lambda facts: facts.status in HELD,  # the resolution deadline
}
"""The deadlines among the case's facts, and when each runs."""

OVERDUE_FLAGS: tuple[str, ...] = ("response_overdue", "overdue")
"""The facts that say a clock ran out (supervision was told)."""

NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)
"""Where a case without a running deadline sorts: last."""

SORT = [("late", DESCENDING), ("deadline", ASCENDING), ("_id", ASCENDING)]
"""The inbox's order: late first, then by the soonest deadline."""


def deadline(facts: CaseFacts) -> datetime | None:
    """The soonest deadline still running for the case."""
    running = [moment for name, runs in DEADLINES.items()
               if runs(facts) and (moment := getattr(facts, name, None)) is not None]
    return min(running, default=None)


def late(facts: CaseFacts, now: datetime | None = None) -> bool:
    """A clock ran out: an overdue flag is up, or (given `now`) a running deadline passed
    before routing's sweep raised it."""
    if any(getattr(facts, name, False) for name in OVERDUE_FLAGS):
        return True
    soonest = deadline(facts)
    return now is not None and soonest is not None and soonest < now


def fields(view: CaseView) -> dict[str, Any]:
    """What the read model's document keeps for the inbox and the "mine" lists."""
    soonest = deadline(view.facts)
    handler = view.handler
    return {
        "deadline": soonest or NO_DEADLINE,
        "late": late(view.facts),
        "handler": staff_hash(handler) if handler else None,
        "reporter": view.reporter_hash,
    }


class NotMine(ValueError):
    """The reader has no cases of their own (`mine` is for reporters and handlers)."""


def mine(role: Role, subject: str, department: str | None = None) -> dict[str, Any]:
    """The filter of "my cases": a reporter's, or a handler's of `department` (theirs
    only there: the same staff id in another department is another person)."""
    match role:
        case Role.REPORTER:
            return {"reporter": staff_hash(subject)}
        case Role.DEPARTMENT if department:
            return {"handler": staff_hash(subject), "department": department}
    raise NotMine("mine: only reporters and a department's handlers have cases of their own")


@dataclass(frozen=True)
class InboxQuery:
    """One department's inbox; `handler` narrows it to one handler's cases (a staff id)."""

    department: str
    handler: str | None = None
    limit: int = 50
    offset: int = 0
    after: str | None = None

    def filter(self) -> dict[str, Any]:
        query: dict[str, Any] = {"department": self.department,
                                 "status": {"$in": [status.value for status in HELD]}}
        if self.handler is not None:
            query["handler"] = staff_hash(self.handler)
        return query


def row_fields(view: CaseView, now: datetime) -> dict[str, Any]:
    """What an inbox row adds to a staff summary: the deadline it is sorted by, lateness."""
    soonest = deadline(view.facts)
    return {"deadline": soonest.isoformat() if soonest else None,
            "late": late(view.facts, now)}
