"""A resident's request becomes a case: checked, numbered, recorded once, and receipted.

`Submissions.submit` checks the request against the city (`lifecycle/submitting.py`)
and its photos (`media.py`), draws a case number (`numbers.py`), seals the
resident's personal data with a key made for the case (`common/keys.py`), records
`CaseSubmitted` in intake's write model and returns once Kafka holds it, with the
case's tracking code. A submission with a key (an `Idempotency-Key`, a
`submission_id`, a bus record) is recorded once: a retry with the same key and the
same request answers the same case (`replayed`); the same key with another request
is refused. Every channel comes through here: the JSON API, the hotline, Open311,
the bus.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts.case_commands import SubmitCase
from contracts.envelope import Envelope
from contracts.facts import Actor, Channel
from contracts.personal import Sealed
from services.common.casestreams import CaseStreams, ConcurrentChange
from services.common.cityconfig import LiveCity
from services.common.clock import Clock
from services.common.keys import KeyDestroyed, KeyStore
from services.common.store import Unavailable
from services.intake.media import check_media
from services.intake.numbers import new_case_number
from services.intake.settings import IntakeSettings
from services.lifecycle.codes import hash_tracking_code, tracking_code_for
from services.lifecycle.errors import Invalid, NotNow
from services.lifecycle.submitting import check_submission, personal_part, submitted

NUMBER_ATTEMPTS = 5
ERASED_FINGERPRINT = "erased"
"""An idempotency key's fingerprint once its case's personal data was erased: the key still
answers its case, without a hash of what the resident sent."""


@dataclass(frozen=True)
class Receipt:
    """What a resident is told once the case is durable in the log."""

    case_id: str
    tracking_code: str
    replayed: bool
    envelope: Envelope | None = None


def fingerprint(command: SubmitCase) -> str:
    # Without a receipt key, as before there was one: a key recorded then still matches.
    leave_out = None if command.receipt_key else {"receipt_key"}
    return hashlib.sha256(command.model_dump_json(exclude=leave_out).encode()).hexdigest()


class Submissions:
    """Submissions into intake's write model (`streams`), once per key (`keys`)."""

    def __init__(self, streams: CaseStreams, used_keys: AsyncCollection[dict[str, Any]],
                 data_keys: KeyStore, city: LiveCity, settings: IntakeSettings,
                 clock: Clock) -> None:
        self.streams, self.used_keys, self.keys, self.city = streams, used_keys, data_keys, city
        self.settings, self.clock = settings, clock

    async def submit(
        self,
        command: SubmitCase,
        *,
        key: str | None = None,
        channel: Channel | None = None,
        entered_by: Actor | None = None,
        correlation_id: str | None = None,
    ) -> Receipt:
        """Record a new case and return once Kafka holds it; a repeated `key` returns the same case."""
        problems = check_submission(command, self.city.current) + check_media(
            command.media, max_photos=self.settings.max_photos,
            max_bytes=self.settings.max_photo_bytes)
        if problems:
            raise Invalid.of(problems)
        correlation_id = correlation_id or str(uuid.uuid4())
        if key:
            return await self._submit_once(command, key, channel, entered_by, correlation_id)
        for _attempt in range(NUMBER_ATTEMPTS):
            case_id = new_case_number(self.clock.now(), self.city.current.city.timezone)
            try:
                return await self._create(case_id, command, channel, entered_by, correlation_id)
            except (NotNow, ConcurrentChange):
                continue  # the number is taken: draw another
        raise Unavailable("could not draw a free case number; try again")

    async def _submit_once(self, command: SubmitCase, key: str, channel: Channel | None,
                           entered_by: Actor | None, correlation_id: str) -> Receipt:
        mark = fingerprint(command)
        candidate = new_case_number(self.clock.now(), self.city.current.city.timezone)
        entry = None
        for _attempt in range(3):
            try:
                entry = await self.used_keys.find_one_and_update(
                    {"_id": key},
                    {"$setOnInsert": {"case_id": candidate, "fingerprint": mark,
                                      "at": self.clock.now()}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                break
            except DuplicateKeyError:
                continue  # a concurrent retry inserted it first: read theirs

        if entry is None or entry.get("fingerprint") not in (mark, ERASED_FINGERPRINT):
            raise Invalid("this Idempotency-Key (or submission_id) was already used for a "
                          "different submission")
        case_id: str = entry["case_id"]
        if await self.streams.get(case_id) is None:
            try:
                return await self._create(case_id, command, channel, entered_by, correlation_id)
            except (NotNow, ConcurrentChange):
                pass  # a concurrent retry created it first: answer as for a repeat
        # Seen before: make sure what was recorded is in the log, then answer the same.
        await self.streams.execute(case_id, lambda case: [], cause=f"resubmit/{case_id}",
                                   correlation_id=correlation_id)
        return Receipt(case_id, tracking_code_for(self.settings.secret(), case_id), replayed=True)

    async def _create(self, case_id: str, command: SubmitCase, channel: Channel | None,
                      entered_by: Actor | None, correlation_id: str) -> Receipt:
        code = tracking_code_for(self.settings.secret(), case_id)
        now = self.clock.now()  # the submission's moment, and its triage deadline's start
        event = submitted(command, self.city.current, tracking_code_hash=hash_tracking_code(code),
                          personal=await self._sealed(case_id, command),
                          channel=channel, entered_by=entered_by, at=now)
        envelopes = await self.streams.execute(
            case_id, lambda case: [event], cause=f"submit/{case_id}",
            correlation_id=correlation_id, create=True, at=now)
        return Receipt(case_id, code, replayed=False, envelope=envelopes[0])

    async def _sealed(self, case_id: str, command: SubmitCase) -> Sealed | None:
        """The submission's personal part, sealed with the case's own key (made now)."""
        personal = personal_part(command, self.city.current)
        if personal is None:
            return None
        try:
            key = await self.keys.issue(case_id)
        except KeyDestroyed as destroyed:  # a number whose case was erased: not free
            raise NotNow(f"case {case_id} exists already") from destroyed
        return key.seal(personal)
