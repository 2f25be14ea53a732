"""Personal data kept no longer than the city keeps it (180 days by default).

Once a case is finished (closed, rejected or merged), its resident's personal data
has served its purpose; `retention_days` later it is erased by itself, on the
same path as a resident's request (`erasures.py`), with the reason `retention`.

Intake looks for what is due every `retention_sweep_every_s`: finished before the
cut-off, still holding personal data (`finished_before`), then one erasure request each,
published on the erasures topic. The service asks the rows of every case's snapshot it
keeps in memory (`due_in_rows`: the rows of the duplicate suggestions and the deadline
sweep, which keep `FIELDS` too), not the store: on FerretDB 1.24 a filter reads every
snapshot, so each sweep's look grew with every case the city ever had. The rows are
filled from the snapshots when an instance starts and follow them, so a restart changes
nothing: what was due and not erased is found again. Two instances may sweep at once; a
case asked for twice is erased once (the second request finds its key destroyed, or is
carried out again step by step, each step changing nothing).

`zaiban privacy retention --dry-run` lists what is due without erasing it, asking the
store itself (`due`): a command that runs once keeps no rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from contracts.facts import SYSTEM, CaseStatus
from services.common.casestreams import CaseStreams, case_of
from services.common.logging import get_logger
from services.common.rowindex import RowIndex, Selector
from services.intake.erasures import ErasureDesk
from services.lifecycle import privacy
from services.lifecycle.case import Case
from services.lifecycle.errors import Refused

log = get_logger("zaiban.intake.retention")

FINISHED = [CaseStatus.CLOSED.value, CaseStatus.REJECTED.value, CaseStatus.MERGED.value]
RETENTION = SYSTEM
"""Who erases when the time is up: the system."""


FIELDS = ("ended_at", "personal_data")
"""What a row keeps of a snapshot for the sweep (`index_fields`)."""


def index_fields(case: Case) -> dict[str, Any]:
    """What the sweep's query reads of a snapshot: when the case ended, whether it still
    holds personal data (sealed data or photos)."""
    facts = case.facts
    return {"ended_at": facts.closed_at if facts else None,
            "personal_data": case.personal is not None or bool(case.media)}


@dataclass(frozen=True)
class Due:
    case_id: str
    status: str
    ended_at: datetime


def finished_before(cut_off: datetime) -> Selector:
    """Finished cases that ended by `cut_off` and still hold personal data."""
    return {"status": {"$in": FINISHED}, "ended_at": {"$lte": cut_off}, "personal_data": True}


async def due(cases: AsyncCollection[dict[str, Any]], now: datetime, keep: timedelta,
              limit: int) -> list[Due]:
    """Finished cases whose personal data has been kept `keep`, oldest first: a look over
    the snapshots in the store."""
    found = [case_of(doc) async for doc in cases.find(finished_before(now - keep), limit=limit)]
    return _due(found, now, keep)


async def due_in_rows(rows: RowIndex, streams: CaseStreams, now: datetime, keep: timedelta,
                      limit: int) -> list[Due]:
    """The same, found in the rows of every case's snapshot (`FIELDS` among them), the
    longest ended first; each case is then read from the store and checked."""
    found = rows.find(finished_before(now - keep), sort=(("ended_at", 1), ("_id", 1)),
                      limit=limit, count=False)
    cases = [case for case_id in found.ids if (case := await streams.get(case_id)) is not None]
    return _due(cases, now, keep)


def _due(cases: list[Case], now: datetime, keep: timedelta) -> list[Due]:
    return sorted(
        (Due(case.case_id, case.require_facts().status.value, ended)
         for case in cases if privacy.retention_due(case, now, keep)
         and (ended := case.require_facts().closed_at) is not None),
        key=lambda d: (d.ended_at, d.case_id))


async def sweep(found: list[Due], desk: ErasureDesk) -> list[Due]:
    """Ask for the erasure of every case due; returns those asked for."""
    asked = []
    for case in found:
        try:
            await desk.request(case.case_id, RETENTION, reason="retention", wait_s=0)
            asked.append(case)
        except Refused as refused:  # erased meanwhile (another instance, the resident)
            log.info("retention_skipped", case_id=case.case_id, reason=refused.reason)
    if asked:
        log.info("retention_erasures_requested", cases=len(asked))
    return asked
