"""A resident's request becomes a case: checked, numbered, recorded once, and receipted.

`Submissions.submit` checks the request against the city (`lifecycle/submitting.py`)
and its photos (`media.py`), draws a case number (`numbers.py`) and makes it the
case's by reserving the case's data key (`common/keys.py`), seals the resident's
personal data with that key, appends `CaseSubmitted` to the log and returns once
Kafka holds it, with the case's tracking code; intake's write model keeps the case
right after (`CaseStreams.begin`: a new case needs no compare-and-set). A submission with a key (an `Idempotency-Key`, a
`submission_id`, a bus record) is recorded once: a retry with the same key and the
same request answers the same case (`replayed`); the same key with another request
is refused. Every channel comes through here: the JSON API, the hotline, Open311,
the bus.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts.case_commands import SubmitCase
from contracts.envelope import Envelope
from contracts.facts import Actor, Channel
from services.common.casestreams import CaseStreams
from services.common.cityconfig import LiveCity
from services.common.clock import Clock
from services.common.keys import DataKey, KeyDestroyed, KeyStore
from services.common.store import Unavailable
from services.intake.media import check_media
from services.intake.numbers import new_case_number
from services.intake.settings import IntakeSettings
from services.lifecycle.codes import hash_tracking_code, tracking_code_for
from services.lifecycle.errors import Invalid, NotNow
from services.lifecycle.submitting import check_submission, personal_part, submitted

NUMBER_ATTEMPTS = 5
RESERVING_SINCE = "reserving numbers by key since"
"""The entry of intake's `numbering` collection that says since when numbers are reserved by
key."""
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
        self.reserving_since = ""
        """The city day (`yymmdd`, as in case numbers) this intake's store began reserving
        numbers by key; before `start`, none: every number is checked."""

    async def start(self) -> None:
        """Learn since when numbers are reserved by key (the first start of this code on the
        store; a store without cases has no numbers from before)."""
        today = self.clock.now().astimezone(ZoneInfo(self.city.current.city.timezone))
        first = today.strftime("%y%m%d") if await self.streams.collection.find_one(
            {}, projection={"_id": 1}) is not None else "none"
        entry = await self.used_keys.database["numbering"].find_one_and_update(
            {"_id": RESERVING_SINCE}, {"$setOnInsert": {"day": first}}, upsert=True,
            return_document=ReturnDocument.AFTER)
        self.reserving_since = entry["day"] if entry is not None else ""

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
        # the submission's moment, and its triage deadline's start; in milliseconds, as the
        # store keeps it for a retry to record the same (`_submit_once`)
        now = self.clock.now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if key:
            return await self._submit_once(command, key, channel, entered_by, correlation_id, now)
        case_id, data_key = await self._new_number(now)
        return await self._record(case_id, data_key, command, channel, entered_by,
                                  correlation_id, now, replayed=False)

    async def _new_number(self, now: datetime) -> tuple[str, DataKey]:
        """A case number no other case has, and the case's data key: reserving the key is
        what makes the number this case's (`KeyStore.reserve`). 40 random bits a day make
        a number drawn twice rare, never a merged case: the second draw finds the key taken
        and draws again."""
        for _attempt in range(NUMBER_ATTEMPTS):
            case_id = new_case_number(now, self.city.current.city.timezone)
            data_key = await self.keys.reserve(case_id)
            if data_key is not None and not await self._taken_before_keys(case_id):
                return case_id, data_key
        raise Unavailable("could not draw a free case number; try again")

    async def _taken_before_keys(self, case_id: str) -> bool:
        """Whether a case of the day this intake began reserving numbers by key has the
        number already: one recorded that day before, without personal data, has no key."""
        if self.reserving_since and case_id[2:8] != self.reserving_since:
            return False
        return await self.streams.get(case_id) is not None

    async def _submit_once(self, command: SubmitCase, key: str, channel: Channel | None,
                           entered_by: Actor | None, correlation_id: str,
                           now: datetime) -> Receipt:
        """The key's case: made now if the key is new, else the one it was first used for.

        A number is reserved first, then bound to the key (`used_keys`, the key's unique
        entry: its compare-and-set). Of racing attempts with one key, one binds its number,
        the others release theirs and answer its case. The entry keeps the first attempt's
        moment and correlation: a retry that finds the case missing from the write model (the
        first crashed before Kafka had it, or is recording it right now) records the very
        same event (`CaseStreams.begin`), which the log then holds once or twice — the same
        (case, seq), skipped by every consumer the second time."""
        mark = fingerprint(command)
        candidate, data_key = await self._new_number(now)
        entry = None
        for _attempt in range(3):
            try:
                entry = await self.used_keys.find_one_and_update(
                    {"_id": key},
                    {"$setOnInsert": {"case_id": candidate, "fingerprint": mark, "at": now,
                                      "correlation_id": correlation_id}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                break
            except DuplicateKeyError:
                continue  # a concurrent retry inserted it first: read theirs

        if entry is not None and entry["case_id"] == candidate:  # the key is new: our case
            return await self._record(candidate, data_key, command, channel, entered_by,
                                      correlation_id, now, replayed=False)
        await self.keys.release(candidate)
        if entry is None or entry.get("fingerprint") not in (mark, ERASED_FINGERPRINT):
            raise Invalid("this Idempotency-Key (or submission_id) was already used for a "
                          "different submission")
        case_id: str = entry["case_id"]
        if await self.streams.get(case_id) is None:
            try:
                first_key = await self.keys.issue(case_id)  # the first attempt reserved it
            except KeyDestroyed as destroyed:  # erased: the case was recorded
                raise NotNow(f"case {case_id} was erased meanwhile; try again") from destroyed
            at = entry["at"]  # (the store keeps milliseconds: so does `now`)
            return await self._record(case_id, first_key, command, channel, entered_by,
                                      entry.get("correlation_id", correlation_id), at,
                                      replayed=True)
        # Seen before: make sure what was recorded is in the log, then answer the same.
        await self.streams.execute(case_id, lambda case: [], cause=f"resubmit/{case_id}",
                                   correlation_id=correlation_id)
        return Receipt(case_id, tracking_code_for(self.settings.secret(), case_id), replayed=True)

    async def _record(self, case_id: str, data_key: DataKey, command: SubmitCase,
                      channel: Channel | None, entered_by: Actor | None, correlation_id: str,
                      at: datetime, *, replayed: bool) -> Receipt:
        """`CaseSubmitted` in the log, then in intake's write model (`CaseStreams.begin`)."""
        code = tracking_code_for(self.settings.secret(), case_id)
        personal = personal_part(command, self.city.current)
        event = submitted(command, self.city.current, tracking_code_hash=hash_tracking_code(code),
                          personal=data_key.seal(personal, repeatable=True) if personal else None,
                          channel=channel, entered_by=entered_by, at=at)
        envelopes = await self.streams.begin(case_id, [event], cause=f"submit/{case_id}",
                                             correlation_id=correlation_id, at=at)
        return Receipt(case_id, code, replayed=replayed, envelope=envelopes[0])
