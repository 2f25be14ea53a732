"""Routing's sweep finds its candidates in rows kept in memory (`sweeps.case_rows`), not by
asking the store, whose filters read every snapshot on FerretDB 1.24. So the rows must find
exactly what the store's own scan finds for each of the sweep's queries: given snapshots in
every state the clocks care about — running and resolved cases with deadlines before and
after now, flagged overdue or not, answered, disputed, asked again, closed, from a history,
and snapshots written before routing kept some fields (missing, not false) — the rows the
follower loads from the store answer each query at several moments as the store does.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from helpers import snapshots_and_their_rows
from pymongo.asynchronous.database import AsyncDatabase

from contracts.facts import CaseStatus
from services.routing import sweeps

T0 = datetime(2026, 10, 6, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
REMINDER = timedelta(days=3)
LEGACY = ("disputed", "closes_unanswered_at", "responded", "response_overdue",
          "response_due_at")
"""Fields a snapshot written by an earlier routing may lack."""


def snapshot(number: int, pick: random.Random) -> dict[str, Any]:
    """A snapshot of routing's shape with its sweep fields drawn among what matters."""
    status = pick.choice([CaseStatus.ROUTED, CaseStatus.ACKNOWLEDGED, CaseStatus.RESOLVED,
                          CaseStatus.RESOLVED, CaseStatus.CLOSED, CaseStatus.ACCEPTED,
                          CaseStatus.AWAITING_DISPATCH]).value

    def moment() -> datetime | None:
        return pick.choice([None, T0 + pick.randint(-96, 96) * HOUR])

    doc: dict[str, Any] = {
        "_id": f"ZB261006-{number:04d}", "version": pick.randint(2, 12), "case": "{}",
        "status": status, "due_at": moment(), "overdue": pick.random() < 0.3,
        "resolved_at": moment() if status in ("resolved", "closed") else None,
        "department": pick.choice(["signal-co", "water-co", None]),
        "disputed": pick.random() < 0.2, "closes_unanswered_at": moment(),
        "from_history": pick.random() < 0.1, "triage_due_at": moment(),
        "response_due_at": moment(), "responded": pick.random() < 0.5,
        "triage_overdue": False, "response_overdue": pick.random() < 0.2,
    }
    for name in LEGACY:
        if pick.random() < 0.1:
            del doc[name]
    return doc


async def test_the_rows_find_what_the_stores_scan_finds_for_each_sweep_query(
        namespace_db: AsyncDatabase[dict[str, Any]]) -> None:
    pick = random.Random(17)
    rows = sweeps.case_rows()
    snapshots = await snapshots_and_their_rows(
        namespace_db, [snapshot(number, pick) for number in range(400)], rows)

    compared = 0
    for hours in (-48, -1, 0, 1, 30, 72, 200):
        now = T0 + hours * HOUR
        for query in (sweeps.past_due_query(now), sweeps.unanswered_query(now),
                      sweeps.ask_again_query(now, REMINDER)):
            scanned = sorted([doc["_id"] async for doc in snapshots.find(query)])
            found = rows.find(query, sort=(("_id", 1),), limit=len(rows), count=False).ids
            assert found == scanned, (hours, query)
            compared += len(scanned)
    assert compared > 100  # the queries found cases: not a comparison of empty answers
