"""Intake's deadline sweep: cases still awaiting triage when their triage deadline passes.

A case awaiting triage is intake's to record (`services/lifecycle/ownership.py`), so
intake, not routing, records that its triage deadline passed (`supervision.overdue`:
CaseOverdue on the "triage" clock, then CaseEscalated "overdue"). An officer's
acceptance and the sweep then race inside one compare-and-set, intake's: one of them
records the next seq, the other decides again on the case after it.

The candidates are rows (`services/common/rowindex.py`): every intake instance keeps
the rows of all the cases in memory (the duplicates' index, `service.py`), each with
the triage clock's fields of its snapshot (`fields_of`), so finding the cases due costs
a look at the submitted ones, not a read of every snapshot. Each candidate is decided on
its current state inside the compare-and-set, so a stale row records nothing, and N
instances sweeping at once record each deadline once (`supervision.overdue_cause`).
Cases whose last event came from a `history:*` producer are left alone, as routing does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.facts import CaseStatus
from services.common.casestreams import CaseStreams
from services.common.clock import Clock
from services.common.rowindex import RowIndex, Selector
from services.lifecycle import supervision
from services.lifecycle.case import Case

FIELDS = ("triage_due_at", "triage_overdue", "from_history")
"""What a row keeps of a snapshot for the sweep (`fields_of`)."""


def fields_of(case: Case) -> dict[str, Any]:
    """The top-level fields of a case's snapshot that the sweep reads."""
    facts = case.facts
    return {"triage_due_at": facts.triage_due_at if facts else None,
            "triage_overdue": facts.triage_overdue if facts else False,
            "from_history": case.from_history}


def past_due(now: datetime) -> Selector:
    """Cases awaiting triage past their triage deadline, not marked overdue yet."""
    return {"status": CaseStatus.SUBMITTED.value, "from_history": {"$ne": True},
            "triage_overdue": {"$ne": True}, "triage_due_at": {"$lt": now}}


async def sweep(rows: RowIndex, streams: CaseStreams, clock: Clock, limit: int) -> int:
    """Record the triage deadlines passed now; returns how many cases it marked overdue."""
    found = rows.find(past_due(clock.now()), sort=(("_id", 1),), limit=limit, count=False)
    overdue = 0
    for case_id in found.ids:
        case = await streams.get(case_id)
        if case is None:
            continue
        overdue += await streams.sweep(case_id, lambda c: supervision.overdue(c, clock.now()),
                                       supervision.overdue_cause(case))
    return overdue
