"""Receipts for submissions on the bus: what a frontend is answered, once per submission.

A frontend that publishes a submission (`contracts/receipts.py`) has no HTTP answer to
read; intake answers it on the receipts topic, keyed by the submission id:

- recorded (now, or before: a retry), a `recorded` receipt with the case number and the
  tracking code sealed for the submission's `receipt_key` (`recorded`);
- refused, a `refused` receipt with the reason (`refused`): a record that does not read as
  a submission, a sealed one that does not open, one with personal data in clear, one the
  city refuses (unknown category, district, ...), an id already used for another
  submission. The record goes to the dead letters too, for the operators.

Once per submission (`ReceiptDesk.give`): a receipt is made once and kept in intake's
`bus_receipts` collection before it is sent, in a slot named for what it answers. A
recorded submission's slot is the key it was recorded under, so every retry of it finds
the receipt already given; a refusal's is the submission id and a digest of the record, so
the same record redelivered finds it, while a corrected submission with the same id is
answered anew. A receipt marked sent is never sent again. One whose sending was not yet
marked when the process died is sent again on redelivery with the same bytes (the stored
ones: the sealed code is not sealed afresh), which a reader recognises by key and bytes.
Deliveries of one slot that meet in one process (a batch of the topic holding a submission
twice, taken side by side) give it one after the other, so the second finds it sent.
A slot is kept `ZAIBAN_BUS_RECEIPT_DAYS` (60), longer than the submissions topic keeps the
record it answers; a post imported again after that is answered again, with the same case.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from aiokafka import ConsumerRecord
from pydantic import ValidationError
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts.case_commands import SealedSubmission, SubmitCase
from contracts.receipts import SubmissionReceipt
from services.common.bus import Outlet, describe_error
from services.common.clock import Clock
from services.common.keys import recipient_key, seal_for
from services.common.logging import get_logger

log = get_logger("zaiban.intake.receipts")

MAX_ID = 200


# -- what a receipt says (pure) ---------------------------------------------------------------


def recorded(submission_id: str, case_id: str, tracking_code: str, receipt_key: str,
             now: datetime) -> SubmissionReceipt:
    """A recorded submission's receipt: the case number, and the tracking code sealed for
    `receipt_key` (the submission id bound in as `kid`) or, without a key, left out."""
    sealed = seal_for(recipient_key(receipt_key), submission_id,
                      tracking_code.encode()) if receipt_key else None
    return SubmissionReceipt(submission_id=submission_id, outcome="recorded", case_id=case_id,
                             tracking_code=sealed, issued_at=now)


def refused(submission_id: str, reason: str, now: datetime) -> SubmissionReceipt:
    return SubmissionReceipt(submission_id=submission_id, outcome="refused", reason=reason,
                             issued_at=now)


def unreadable(raw: bytes, error: ValidationError) -> str:
    """Why a record is no submission, said of the kind it meant to be (a `SealedSubmission`
    if it has `sealed`, else a `SubmitCase`) rather than of both."""
    try:
        data = json.loads(raw)
    except ValueError:
        return describe_error(error)
    meant: type[SubmitCase | SealedSubmission] = \
        SealedSubmission if isinstance(data, dict) and "sealed" in data else SubmitCase
    try:
        meant.model_validate(data)
    except ValidationError as narrower:
        return describe_error(narrower)
    return describe_error(error)


def coordinates(record: ConsumerRecord[Any, Any]) -> str:
    """Where a record lies: what names a submission that names itself nowhere."""
    return f"{record.topic}/{record.partition}/{record.offset}"


def submission_id_of(record: ConsumerRecord[Any, Any], command: SubmitCase | None = None) -> str:
    """The id a receipt answers: the submission's own `submission_id`; else, for one that
    could not be read or opened, the `submission_id` readable in its JSON, or the record's
    key; else the record's coordinates (which the frontend's producer was told)."""
    if command is not None and command.submission_id:
        return command.submission_id
    if command is None:
        try:
            given = json.loads(record.value or b"").get("submission_id")
        except (ValueError, AttributeError):
            given = None
        if isinstance(given, str) and 0 < len(given) <= MAX_ID and given.isprintable():
            return given
    key = record.key.decode("utf-8", "replace") if record.key else ""
    if 0 < len(key) <= MAX_ID and key.isprintable():
        return key
    return coordinates(record)


def refusal_slot(submission_id: str, record: ConsumerRecord[Any, Any]) -> str:
    digest = hashlib.sha256(record.value or b"").hexdigest()[:32]
    return f"refused/{submission_id}/{digest}"


# -- giving it once (the adapter) -------------------------------------------------------------


class ReceiptDesk:
    """Receipts kept in `slots` (intake's `bus_receipts`) and sent through `outlet`."""

    def __init__(self, slots: AsyncCollection[dict[str, Any]], outlet: Outlet,
                 clock: Clock) -> None:
        self.slots, self.outlet, self.clock = slots, outlet, clock
        self._giving: dict[str, tuple[asyncio.Lock, int]] = {}
        """The slots being given in this process: a lock each, and how many hold or wait."""

    @contextlib.asynccontextmanager
    async def _alone(self, slot: str) -> AsyncIterator[None]:
        """Give `slot` alone in this process (others wait for it)."""
        lock, users = self._giving.get(slot, (asyncio.Lock(), 0))
        self._giving[slot] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            _, users = self._giving[slot]
            if users == 1:
                del self._giving[slot]
            else:
                self._giving[slot] = (lock, users - 1)

    async def give(self, slot: str, make: Callable[[], SubmissionReceipt]) -> bool:
        """Send the receipt of `slot` (made by `make` the first time); False if it was sent."""
        async with self._alone(slot):
            return await self._give(slot, make)

    async def _give(self, slot: str, make: Callable[[], SubmissionReceipt]) -> bool:
        kept = None
        for _attempt in range(3):
            receipt = make()
            try:
                kept = await self.slots.find_one_and_update(
                    {"_id": slot},
                    {"$setOnInsert": {"submission_id": receipt.submission_id,
                                      "body": receipt.model_dump_json(), "sent": False,
                                      "at": self.clock.now()}},
                    upsert=True, return_document=ReturnDocument.AFTER)
                break
            except DuplicateKeyError:
                continue  # a concurrent delivery inserted it first: read theirs
        if kept is None:
            raise RuntimeError(f"receipt {slot}: neither inserted nor found")
        if kept["sent"]:
            return False
        await self.outlet.send(kept["body"].encode(), key=kept["submission_id"].encode())
        await self.slots.update_one({"_id": slot}, {"$set": {"sent": True}})
        # not the submission id: a frontend chooses it, and it might say who the resident is
        sent = SubmissionReceipt.model_validate_json(kept["body"])
        log.info("bus_receipt_sent", outcome=sent.outcome, case_id=sent.case_id)
        return True

    async def forget(self, before: datetime) -> int:
        """Forget the receipts given before `before` (their submissions are gone from the
        topic by then); returns how many."""
        done = await self.slots.delete_many({"at": {"$lt": before}})
        return done.deleted_count

    async def recorded(self, key: str, command: SubmitCase, record: ConsumerRecord[Any, Any],
                       case_id: str, tracking_code: str) -> bool:
        """The receipt of a submission recorded under `key` (once for every retry of it)."""
        submission_id = submission_id_of(record, command)
        return await self.give(f"recorded/{key}", lambda: recorded(
            submission_id, case_id, tracking_code, command.receipt_key, self.clock.now()))

    async def refused(self, record: ConsumerRecord[Any, Any], reason: str,
                      command: SubmitCase | None = None) -> bool:
        """The receipt of a refused submission (once for every delivery of this record)."""
        submission_id = submission_id_of(record, command)
        return await self.give(refusal_slot(submission_id, record),
                               lambda: refused(submission_id, reason, self.clock.now()))
