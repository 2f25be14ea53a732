"""A resident's request becomes a case: checked, numbered, recorded once, and receipted.

`Submissions.submit` checks the request against the city (`lifecycle/submitting.py`)
and its photos (`media.py`), takes a case number reserved ahead with the case's data key
(`numbering.py`), seals the resident's
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
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from contracts.case_commands import SubmitCase
from contracts.envelope import Envelope
from contracts.facts import Actor, Channel
from services.common.casestreams import CaseStreams
from services.common.cityconfig import LiveCity
from services.common.clock import Clock
from services.common.grouped import GroupedWrites
from services.common.keys import DataKey, KeyDestroyed, KeyStore
from services.intake.media import check_media
from services.intake.numbering import Numbers
from services.intake.settings import IntakeSettings
from services.lifecycle.codes import hash_tracking_code, tracking_code_for
from services.lifecycle.errors import Invalid, NotNow
from services.lifecycle.submitting import check_submission, personal_part, submitted

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
        self.numbers = Numbers(data_keys, lambda: self.city.current.city.timezone, self._known)
        # keys bound at the same moment leave as one insert (`grouped.py`)
        self._bindings = GroupedWrites(used_keys)

    async def start(self) -> None:
        any_case = await self.streams.collection.find_one({}, projection={"_id": 1})
        await self.numbers.start(self.used_keys.database["numbering"], self.clock.now(),
                                 any_case is not None)

    async def stop(self) -> None:
        await self.numbers.stop()

    async def _known(self, case_id: str) -> bool:
        return await self.streams.get(case_id) is not None

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
        # the submission's moment, and its triage deadline's start; in UTC milliseconds, as
        # the store gives it back to a retry, which records the same (`_submit_once`)
        now = self.clock.now().astimezone(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if key:
            return await self._submit_once(command, key, channel, entered_by, correlation_id, now)
        case_id, data_key = await self.numbers.take(now)
        return await self._record(case_id, data_key, command, channel, entered_by,
                                  correlation_id, now, replayed=False)

    async def _submit_once(self, command: SubmitCase, key: str, channel: Channel | None,
                           entered_by: Actor | None, correlation_id: str,
                           now: datetime) -> Receipt:
        """The key's case: made now if the key is new, else the one it was first used for.

        A number is reserved first, then bound to the key (`used_keys`, the key's unique
        entry, inserted: its compare-and-set). Of racing attempts with one key, one binds its
        number, the others release theirs and answer its case. The entry keeps the first attempt's
        moment and correlation: a retry that finds the case missing from the write model (the
        first crashed before Kafka had it, or is recording it right now) records the very
        same event (`CaseStreams.begin`), which the log then holds once or twice — the same
        (case, seq), skipped by every consumer the second time."""
        mark = fingerprint(command)
        candidate, data_key = await self.numbers.take(now)
        binding = {"_id": key, "case_id": candidate, "fingerprint": mark, "at": now,
                   "correlation_id": correlation_id}
        entry = None
        for _attempt in range(3):
            if await self._bindings.insert(binding):  # the key is new: our case
                return await self._record(candidate, data_key, command, channel, entered_by,
                                          correlation_id, now, replayed=False)
            if (entry := await self.used_keys.find_one({"_id": key})) is not None:
                break  # (else removed between the two: bound again)

        self.numbers.give_back(candidate, data_key)
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
