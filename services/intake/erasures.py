"""Erasing a resident's personal data: asked for, then carried out from the erasures topic.

Asked for (`ErasureDesk.request`) by the resident with the case's tracking code, by
an admin (HTTP, or `zaiban privacy erase`), or by the retention sweep
(`retention.py`): the request is checked — the case exists, the asker may erase
it, it is not erased yet — and published on the erasures topic
(`ErasePersonalData`), durable in Kafka before the asker hears anything. The
answer then waits a moment for the work to be done and says what was done.

Carried out (`Erasures.carry_out`) by intake's consumer of that topic, in an
order that survives a kill -9 at any point (the request is redelivered until it
is carried out, and each step is idempotent):

1. the case's photos are deleted;
2. the case's key is destroyed (`KeyStore.destroy`: a tombstone stays): from
   this moment the sealed personal data opens nowhere — in the log, in every
   service's write model, in backups. The photos go first because from this
   moment routing may record the erasure of a case past triage, and a case that
   has folded `PersonalDataErased` names no photos any more: a request
   redelivered after a crash between the two steps would find none to delete;
3. `PersonalDataErased` is recorded, by intake while the case awaits triage;
   afterwards routing, which then holds the case, records it
   (`services/lifecycle/privacy.py`) on the same request. Tracking's read model
   drops the sealed data and the photos when it reads the event; routing tells
   the departments that hold the case to forget the resident.

What was done is kept per case in intake's `erasures` collection (no personal
data: when, why, by which role, how many photos, the event's seq), which the
answers, the admin API and the command line read.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection

from contracts.case_commands import ErasePersonalData
from contracts.envelope import Envelope
from contracts.facts import Actor, Role
from services.common.casestreams import CaseStreams
from services.common.clock import Clock
from services.common.keys import KeyStore
from services.common.logging import bound, get_logger
from services.common.store import upsert_one
from services.intake.media import PhotoStore
from services.intake.submissions import ERASED_FINGERPRINT
from services.lifecycle import privacy
from services.lifecycle.case import Case
from services.lifecycle.codes import tracking_code_matches
from services.lifecycle.errors import NotAllowed, NotFound, NotNow

log = get_logger("zaiban.intake.erasures")

SETTLE_S = 10.0
"""How long an answer waits for the erasure to be carried out and recorded."""
SETTLE_STEP_S = 0.1


def actor_label(actor: Actor) -> str:
    """Who erased, as the key's tombstone keeps it: a role, and a staff id for staff."""
    return f"{actor.role.value}:{actor.staff_id}" if actor.staff_id else actor.role.value


class Sender(Protocol):
    async def send(self, body: bytes, key: bytes | None = None) -> None: ...


class ErasureDesk:
    """Where erasures are asked for: checked, published, and answered with what was done.
    Reads intake's write model (`cases`) and the erasure records; writes only the topic."""

    def __init__(self, cases: Callable[[str], Awaitable[Case | None]], keys: KeyStore,
                 requests: Sender, records: AsyncCollection[dict[str, Any]], clock: Clock,
                 settle_s: float = SETTLE_S) -> None:
        self.cases, self.keys, self.requests = cases, keys, requests
        self.records, self.clock, self.settle_s = records, clock, settle_s

    async def request(self, case_id: str, by: Actor, *, reason: privacy.Reason = "request",
                      tracking_code: str | None = None,
                      wait_s: float | None = None) -> dict[str, Any]:
        """Check and publish the request; answer what is done once it is (or as it stands
        after `wait_s`, by default `settle_s`)."""
        case = await self.cases(case_id)
        if case is None or case.facts is None:
            raise NotFound(f"case {case_id} not found")
        if by.role is Role.RESIDENT and not tracking_code_matches(tracking_code,
                                                                  case.tracking_code_hash):
            raise NotAllowed("this tracking code does not open this case")
        privacy.check_erasable(case, by)
        earlier = await self.keys.destroyed(case_id)
        if earlier is not None:
            raise NotNow(f"the personal data of case {case_id} was erased already, "
                         f"at {earlier.at.isoformat()}")
        command = ErasePersonalData(request_id=str(uuid.uuid4()), case_id=case_id, by=by,
                                    reason=reason, requested_at=self.clock.now())
        await self.requests.send(command.model_dump_json().encode(), key=case_id.encode())
        log.info("erasure_requested", case_id=case_id, reason=reason, role=by.role.value)
        return await self.outcome(case_id, wait_s=self.settle_s if wait_s is None else wait_s)

    async def outcome(self, case_id: str, *, wait_s: float = 0.0) -> dict[str, Any]:
        """What was done so far (waiting up to `wait_s` for it to be recorded): `erased`
        (recorded), `erasing` (asked for, the key perhaps destroyed), or `kept` (never
        asked for). NotFound for a case intake does not know."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            record = await self.records.find_one({"_id": case_id}) or {}
            if record.get("recorded_seq") or loop.time() >= deadline:
                break
            await asyncio.sleep(SETTLE_STEP_S)
        destroyed = await self.keys.destroyed(case_id)
        if not record and destroyed is None and await self.cases(case_id) is None:
            raise NotFound(f"case {case_id} not found")
        status = ("erased" if record.get("recorded_seq") else
                  "erasing" if record or destroyed else "kept")
        return {
            "case_id": case_id,
            "status": status,
            "reason": record.get("reason"),
            "key_destroyed_at": destroyed.at.isoformat() if destroyed else None,
            "photos_deleted": record.get("photos_deleted", 0),
            "recorded": {"seq": record["recorded_seq"], "by": record.get("recorded_by")}
            if record.get("recorded_seq") else None,
        }

class Erasures:
    """Where erasures are carried out: intake's consumer of the erasures topic."""

    def __init__(self, streams: CaseStreams, keys: KeyStore, photos: PhotoStore,
                 records: AsyncCollection[dict[str, Any]],
                 submission_keys: AsyncCollection[dict[str, Any]] | None = None) -> None:
        self.streams, self.keys, self.photos, self.records = streams, keys, photos, records
        self.submission_keys = submission_keys
        """Idempotency keys of submissions, each with a hash of the whole submission (the
        resident's details in it): the case's keep their case, and forget the hash."""

    async def carry_out(self, command: ErasePersonalData) -> None:
        """Delete the photos, destroy the key, record the erasure if intake holds the case.
        Each step is idempotent: a request redelivered after a crash finishes the work."""
        case_id = command.case_id
        with bound(case_id=case_id, correlation_id=command.request_id):
            case = await self.streams.get(case_id)
            photos = await self.photos.delete(case.media) if case is not None else 0
            if self.submission_keys is not None:
                await self.submission_keys.update_many(
                    {"case_id": case_id}, {"$set": {"fingerprint": ERASED_FINGERPRINT}})
            destroyed = await self.keys.destroy(case_id, at=command.requested_at,
                                                by=actor_label(command.by), reason=command.reason)
            if case is None:
                log.warning("erasure_of_unknown_case")
                return
            noted: dict[str, Any] = {"reason": command.reason, "by_role": command.by.role.value,
                                     "requested_at": command.requested_at,
                                     "key_destroyed_at": destroyed.at}
            if photos:
                noted["photos_deleted"] = photos
            await upsert_one(self.records, case_id, {"$set": noted})
            if privacy.recorded_by_intake(case):
                await self.streams.execute(
                    case_id,
                    lambda now: privacy.erase(now, command.by, command.reason)
                    if privacy.recorded_by_intake(now) else [],
                    cause=f"erase/{case_id}", correlation_id=command.request_id)
            log.info("erasure_carried_out", photos_deleted=photos,
                     recorded_here=privacy.recorded_by_intake(case))

    async def on_recorded(self, envelope: Envelope) -> None:
        """The log holds `PersonalDataErased` (intake's or routing's): the erasure is done."""
        # the erasure's own record may be made at this very moment (`carry_out`)
        await upsert_one(self.records, envelope.case_id, {"$set": {
            "recorded_seq": envelope.seq, "recorded_by": envelope.producer,
            "recorded_at": envelope.occurred_at}})

