"""The audit trail of staff reads of residents' personal data (issue 13), in tracking.

What happens when a member of staff reads a case:
- the staff view opens the resident's sealed personal data (contact details, a private
  address and point, the description as written) only for the staff who handle the
  case (`readers.sees_contact`). When it opened some, the route records a
  `PersonalDataRead` (who: staff id, role, department; which case, when, which of those
  fields, where, the correlation id) on the audit topic, and answers only once Kafka
  holds it: if Kafka cannot take it, the read answers 503 and shows nothing
  (`AuditTrail`);
- a read that shows nothing personal (withheld from this reader, none given, or erased)
  records nothing: there is nothing to answer for;
- tracking reads the audit topic back in a consumer group of its own
  (`<prefix>zaiban-tracking-audit`) into the collection `audit_reads`, one document
  per read whose `_id` is the read id, so a record delivered twice is one read;
- an admin lists the reads of a case or of a member of staff, newest first
  (`GET /api/admin/audit/reads`, `zaiban privacy reads`).

The topic, kept forever, is the record; `audit_reads` is its read model. On FerretDB
1.24 a list reads the collection through (only lookups by `_id` are indexed there); on
MongoDB the indexes below serve it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts.audit import PersonalDataRead, PersonalField
from contracts.facts import Actor
from contracts.personal import PersonalData
from services.common.bus import AuditTrail
from services.common.clock import Clock
from services.common.settings import CommonSettings
from services.common.store import create_query_indexes, make_client, service_db
from services.tracking.timeline import CaseView

AUDIT_COLLECTION = "audit_reads"

# -- what a read records (pure) -------------------------------------------------------------


def shown(personal: PersonalData | None) -> tuple[PersonalField, ...]:
    """Which of the resident's personal data a view given `personal` (opened for its reader;
    None: withheld, none, or erased) shows."""
    if personal is None:
        return ()
    present: dict[PersonalField, bool] = {
        "contact": personal.contact is not None and any(personal.contact.details().values()),
        "address": bool(personal.address),
        "coordinates": personal.lat is not None or personal.lon is not None,
        "description": bool(personal.description),
    }
    return tuple(name for name, there in present.items() if there)


def staff_read(view: CaseView, reader: Actor, personal: PersonalData | None, *, route: str,
               at: datetime, read_id: uuid.UUID,
               correlation_id: str | None) -> PersonalDataRead | None:
    """The record of `reader` shown `personal` of `view` (None: nothing personal shown)."""
    fields = shown(personal)
    if not fields:
        return None
    return PersonalDataRead(read_id=read_id, case_id=view.case_id, at=at,
                            staff_id=reader.staff_id or "", role=reader.role,
                            department=reader.department, fields=fields, route=route,
                            correlation_id=correlation_id or str(read_id))


class StaffReads:
    """What the routes call before they show personal data: the read is on the audit
    topic when `record` returns (`NotAudited` otherwise, answered 503)."""

    def __init__(self, trail: AuditTrail, clock: Clock) -> None:
        self.trail = trail
        self.clock = clock

    async def record(self, view: CaseView, reader: Actor, personal: PersonalData | None, *,
                     route: str, correlation_id: str | None = None) -> PersonalDataRead | None:
        read = staff_read(view, reader, personal, route=route, at=self.clock.now(),
                          read_id=uuid.uuid4(), correlation_id=correlation_id)
        if read is not None:
            await self.trail.record(read)
        return read


# -- the read model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadsQuery:
    """The reads of a case, of a member of staff, or of both (at least one)."""

    case_id: str | None = None
    staff_id: str | None = None
    limit: int = 20
    offset: int = 0

    def __post_init__(self) -> None:
        if self.case_id is None and self.staff_id is None:
            raise ValueError("say whose reads: case_id, staff_id, or both")

    def filter(self) -> dict[str, Any]:
        return {name: value for name in ("case_id", "staff_id")
                if (value := getattr(self, name)) is not None}


def document(read: PersonalDataRead) -> dict[str, Any]:
    """A read as kept: the record as it came (`record`, JSON: the store would cut its time to
    milliseconds), beside what lists filter and sort by."""
    return {"_id": str(read.read_id), "case_id": read.case_id, "staff_id": read.staff_id,
            "at": read.at, "record": read.model_dump_json()}


def read_of(doc: dict[str, Any]) -> PersonalDataRead:
    return PersonalDataRead.model_validate_json(doc["record"])


class AuditReads:
    """The reads recorded on the audit topic, one document per read."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await create_query_indexes(self.collection, [
            ([("case_id", ASCENDING), ("at", DESCENDING)], "case_newest"),
            ([("staff_id", ASCENDING), ("at", DESCENDING)], "staff_newest"),
        ])

    async def add(self, read: PersonalDataRead) -> bool:
        """Keep a read; False if it was kept already (a redelivery)."""
        try:
            await self.collection.insert_one(document(read))
        except DuplicateKeyError:
            return False
        return True

    async def find(self, query: ReadsQuery) -> tuple[int, list[PersonalDataRead]]:
        """The total and one page of the reads the query asks for, newest first."""
        selector = query.filter()
        cursor = (self.collection.find(selector)
                  .sort([("at", DESCENDING), ("_id", DESCENDING)])
                  .skip(query.offset).limit(query.limit))
        reads = [read_of(doc) async for doc in cursor]
        return await self.collection.count_documents(selector), reads


async def list_reads(settings: CommonSettings, query: ReadsQuery
                     ) -> tuple[int, list[PersonalDataRead]]:
    """The admins' list, asked of tracking's store from outside the service
    (`zaiban privacy reads`)."""
    client = make_client(settings)
    try:
        reads = AuditReads(service_db(client, settings, "tracking")[AUDIT_COLLECTION])
        return await reads.find(query)
    finally:
        await client.close()
