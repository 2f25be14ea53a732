"""Intake's retention sweep finds the cases whose personal data is due for erasure in the rows
it keeps of every snapshot (`duplicates.case_rows`, with `retention.FIELDS`), not by asking
the store, whose filters read every snapshot on FerretDB 1.24. So the rows must find exactly
what the store's own scan finds: given snapshots of open and finished cases (closed, rejected,
merged), ended at moments around the cut-off or not ended, with personal data kept or erased,
and snapshots written before the sweep's fields were (missing), the rows the follower loads
from the store answer the sweep's query at several moments as the store does, and in the
order the sweep asks for (the longest ended first).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from helpers import snapshots_and_their_rows
from pymongo.asynchronous.database import AsyncDatabase

from contracts.facts import CaseStatus
from services.intake import deadlines, duplicates, retention

T0 = datetime(2026, 10, 6, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def snapshot(number: int, pick: random.Random) -> dict[str, Any]:
    """A snapshot of intake's shape with the sweep's fields drawn among what matters."""
    status = pick.choice(list(CaseStatus)).value
    finished = status in retention.FINISHED
    doc: dict[str, Any] = {
        "_id": f"ZB261006-{number:04d}", "version": pick.randint(1, 12), "case": "{}",
        "status": status, "category": pick.choice(["traffic-signals", "roads"]),
        "submitted_at": T0 - pick.randint(200, 400) * DAY,
        "ended_at": T0 - pick.randint(-5, 200) * DAY if finished or pick.random() < 0.1
        else None,
        "personal_data": pick.random() < 0.7,
    }
    for name in retention.FIELDS:
        if pick.random() < 0.1:
            del doc[name]
    return doc


async def test_the_rows_find_what_the_stores_scan_finds_for_the_retention_sweep(
        namespace_db: AsyncDatabase[dict[str, Any]]) -> None:
    pick = random.Random(29)
    rows = duplicates.case_rows(also=(*deadlines.FIELDS, *retention.FIELDS))
    snapshots = await snapshots_and_their_rows(
        namespace_db, [snapshot(number, pick) for number in range(400)], rows)

    compared = 0
    for days in (0, 30, 90, 180, 181, 400):
        cut_off = T0 - days * DAY
        query = retention.finished_before(cut_off)
        scanned = [doc async for doc in snapshots.find(query)]
        oldest_first = [doc["_id"] for doc in sorted(
            scanned, key=lambda doc: (doc["ended_at"], doc["_id"]))]
        found = rows.find(query, sort=(("ended_at", 1), ("_id", 1)), limit=len(rows),
                          count=False).ids
        assert found == oldest_first, days
        compared += len(scanned)
    assert compared > 100  # the query found cases: not a comparison of empty answers
