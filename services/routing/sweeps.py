"""How routing's sweep finds the cases whose clocks ran out: queries over its snapshots' rows.

The clocks follow from recorded state alone (decided in the lifecycle:
`supervision.overdue`, `feedback.ask_again`, `feedback.unanswered`). The sweep finds candidates
with the queries below over fields routing's store keeps at the top of each
case document (`index_fields`), then decides on each case inside a
compare-and-set (`RoutingService.sweep`). A query may find a case that moved
on since its snapshot; the decider, run on the current case, then records
nothing.

The queries are answered by rows in memory (`case_rows`: those fields of every snapshot, kept
by each instance as intake keeps its own, `services/common/rowindex.py`), not by the store: on
FerretDB 1.24 a filter reads every snapshot of the collection, so the sweep's three queries
every few seconds cost the store more with every case ever routed (measured with 30,000
snapshots: 1.8-2.1 s each, most of a core of the store at the article's volume). In memory, a
query looks at the cases of the statuses it names.

Only cases routing writes (`services/lifecycle/ownership.py`: triaged ones): the
triage deadline of a case awaiting triage is swept by intake, which records that
case's events (`services/intake/deadlines.py`). Were routing to record it too, its
CaseOverdue and an officer's acceptance at intake could take the same seq.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contracts.facts import CaseStatus
from services.common.rowindex import RowIndex
from services.lifecycle.case import Case
from services.lifecycle.supervision import RUNNING

DEADLINE_FIELDS = ("triage_due_at", "response_due_at", "responded", "triage_overdue",
                   "response_overdue")
"""The index fields of the triage and first-response deadlines (besides `due_at`, `overdue`)."""


def index_fields(case: Case) -> dict[str, Any]:
    """What the sweep (and an operator) query routing's store by."""
    facts = case.facts
    if facts is None:
        return {"status": None, "due_at": None, "overdue": False, "resolved_at": None,
                "department": None, "disputed": False, "closes_unanswered_at": None,
                "from_history": case.from_history, "triage_due_at": None,
                "response_due_at": None, "responded": False, "triage_overdue": False,
                "response_overdue": False}
    return {
        "status": facts.status.value,
        "due_at": facts.due_at,
        "overdue": facts.overdue,
        "resolved_at": facts.resolved_at,
        "department": facts.department,
        "disputed": case.disputed,
        "closes_unanswered_at": case.closes_unanswered_at,
        "from_history": case.from_history,
        "triage_due_at": facts.triage_due_at,
        "response_due_at": facts.response_due_at,
        "responded": facts.responded_at is not None,
        "triage_overdue": facts.triage_overdue,
        "response_overdue": facts.response_overdue,
    }


FIELDS = tuple(index_fields(Case(case_id="-")))
"""What a row keeps of a snapshot: every field the queries below read."""


def case_rows() -> RowIndex:
    """An empty index of the rows of routing's snapshots (version: the case's last seq)."""
    return RowIndex(fields=FIELDS, keyed=("status",), version="version")


def past_due_query(now: datetime) -> dict[str, Any]:
    """Cases with a deadline of their department passed that is not marked overdue yet: the
    first response (with it, not responded) or the resolution (with it). (`$ne: True`: a
    document written before routing kept a flag has not raised it.)"""
    return {"from_history": False, "$or": [
        {"status": {"$in": list(RUNNING)}, "responded": {"$ne": True},
         "response_overdue": {"$ne": True}, "response_due_at": {"$lt": now}},
        {"status": {"$in": list(RUNNING)}, "overdue": False, "due_at": {"$lt": now}},
    ]}


def _awaiting_answer() -> dict[str, Any]:
    # `$ne: True`: a document written before routing kept `disputed` is not disputed
    return {"status": CaseStatus.RESOLVED.value, "from_history": False,
            "disputed": {"$ne": True}}


def ask_again_query(now: datetime, reminder: timedelta) -> dict[str, Any]:
    """Resolved cases whose resident has not answered within `reminder`, not asked again yet
    (`None` matches a document written before routing kept the field, too)."""
    return {**_awaiting_answer(), "closes_unanswered_at": None,
            "resolved_at": {"$lte": now - reminder}}


def unanswered_query(now: datetime) -> dict[str, Any]:
    """Resolved cases whose resident, asked again, has still not answered by the time the
    asking said the case closes."""
    return {**_awaiting_answer(), "closes_unanswered_at": {"$lte": now}}
