"""Personal data kept no longer than the city keeps it (180 days by default).

Once a case is finished (closed, rejected or merged), its resident's personal data
has served its purpose; `retention_days` later it is erased by itself, on the
same path as a resident's request (`erasures.py`), with the reason `retention`.

Intake looks for what is due every `retention_sweep_every_s`: a query on its
write model's snapshots (`due`: finished before the cut-off, still holding
personal data), then one erasure request each, published on the erasures topic.
Nothing is kept in memory between sweeps, so a restart changes nothing: what was
due and not erased is found again. Two instances may sweep at once; a case asked
for twice is erased once (the second request finds its key destroyed, or is
carried out again step by step, each step changing nothing).

`zaiban privacy retention --dry-run` lists what is due without erasing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from contracts.facts import SYSTEM, CaseStatus
from services.common.casestreams import case_of
from services.common.logging import get_logger
from services.intake.erasures import ErasureDesk
from services.lifecycle import privacy
from services.lifecycle.case import Case
from services.lifecycle.errors import Refused

log = get_logger("zaiban.intake.retention")

FINISHED = [CaseStatus.CLOSED.value, CaseStatus.REJECTED.value, CaseStatus.MERGED.value]
RETENTION = SYSTEM
"""Who erases when the time is up: the system."""


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


async def due(cases: AsyncCollection[dict[str, Any]], now: datetime, keep: timedelta,
              limit: int) -> list[Due]:
    """Finished cases whose personal data has been kept `keep`, oldest first."""
    query = {"status": {"$in": FINISHED}, "ended_at": {"$lte": now - keep},
             "personal_data": True}
    found = [case_of(doc) async for doc in cases.find(query, limit=limit)]
    return sorted(
        (Due(case.case_id, case.require_facts().status.value, ended)
         for case in found if privacy.retention_due(case, now, keep)
         and (ended := case.require_facts().closed_at) is not None),
        key=lambda d: (d.ended_at, d.case_id))


async def sweep(cases: AsyncCollection[dict[str, Any]], desk: ErasureDesk, now: datetime,
                keep: timedelta, limit: int) -> list[Due]:
    """Ask for the erasure of every case due; returns those asked for."""
    asked = []
    for case in await due(cases, now, keep, limit):
        try:
            await desk.request(case.case_id, RETENTION, reason="retention", wait_s=0)
            asked.append(case)
        except Refused as refused:  # erased meanwhile (another instance, the resident)
            log.info("retention_skipped", case_id=case.case_id, reason=refused.reason)
    if asked:
        log.info("retention_erasures_requested", cases=len(asked))
    return asked
