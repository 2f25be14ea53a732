"""Intake: where requests and triage decisions enter, and become case events.

Wiring only: the decisions live in the lifecycle (`services/lifecycle/`:
`submitting.py`, `triage.py`, whose commands are the rows of `commands.py`) and
in `duplicates.py`; a submission's way to the log is `submissions.py`, and a bus
submission's answer on the receipts topic `receipts.py`. This file
connects them to the write model (`CaseStreams` over intake's `cases`
collection), the log, the submissions topic and the HTTP routes (`api.py`,
`open311/routes.py`).

Duplicates are suggested from the rows of every case's snapshot, which each
instance keeps in memory (`duplicates.case_rows`): it writes in the rows the
snapshots it saves, and a `RowFollower` fills them from the store at start
(before the instance is ready) and keeps them current from the log, whichever
instance saved a snapshot. The same rows tell the deadline sweep which cases
awaiting triage are past their triage deadline (`deadlines.py`): intake records
the events of a case until triage decides it (`services/lifecycle/ownership.py`),
that deadline passing among them.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from aiokafka import ConsumerRecord
from faststream.kafka.annotations import KafkaMessage
from pydantic import Field, TypeAdapter, ValidationError

from contracts.case_commands import BusSubmission, ErasePersonalData, SubmitCase
from contracts.case_events import PersonalDataErased
from contracts.facts import CaseStatus
from contracts.receipts import SubmissionReceipt
from contracts.topics import Topics
from services.common.bus import (
    RETRY_PAUSE_S,
    Delivery,
    Outlet,
    ReadRecords,
    Retrying,
    batch_of,
    describe_error,
    described,
    every_one,
    per_case,
    read_as,
    read_batch_as,
    typed,
)
from services.common.casestreams import CaseStreams, ConcurrentChange, case_of
from services.common.clock import Clock
from services.common.commands import Desk
from services.common.keys import SUBMISSION_KEY, BrokenSeal, key_store, open_for
from services.common.logging import bound, get_logger
from services.common.quotas import COLLECTION as RATE_CELLS
from services.common.quotas import SWEEP_EVERY_S, Cells, ClientLimit, KeyQuotas, Rate, StoredCells
from services.common.rowfollower import KeptRows
from services.common.rowindex import RowIndex
from services.common.runtime import ServiceRuntime
from services.common.store import Unavailable, report_failure
from services.intake import api, deadlines, duplicates, retention
from services.intake.erasures import ErasureDesk, Erasures
from services.intake.media import PhotoStore
from services.intake.open311 import routes as open311
from services.intake.receipts import ReceiptDesk, unreadable
from services.intake.settings import IntakeSettings
from services.intake.submissions import Submissions
from services.lifecycle.case import Case
from services.lifecycle.errors import Invalid, NotFound, Refused
from services.lifecycle.policy import Policy
from services.lifecycle.submitting import check_submission, personal_part

log = get_logger("zaiban.intake")

SUBMISSIONS: TypeAdapter[BusSubmission] = TypeAdapter(BusSubmission)
CLEAR_ON_THE_BUS = (
    "personal data in clear on the bus: seal the submission for intake (SealedSubmission, "
    "with the key at GET /api/bus/submission-key); the message is not copied here")
ERASURES: TypeAdapter[ErasePersonalData] = TypeAdapter(ErasePersonalData)
SUBMISSIONS_AT_ONCE = 64
"""The most submissions of the bus taken side by side (a batch of the submissions topic)."""


if TYPE_CHECKING:
    BusSubmissions = ReadRecords
else:  # made for the AsyncAPI document's schema of each record
    BusSubmissions = batch_of(Annotated[BusSubmission, Field(title="BusSubmission")])
"""A batch of the submissions topic as the handler receives it (`ReadRecords`)."""


def index_fields(case: Case) -> dict[str, Any]:
    facts = case.facts
    if facts is None:
        return {}
    return {
        "status": facts.status.value,
        "category": facts.category,
        "district": facts.district,
        "submitted_at": facts.submitted_at,
        **duplicates.fields_of(case),
        **deadlines.fields_of(case),
        **retention.index_fields(case),
    }


class IntakeService(ServiceRuntime[IntakeSettings]):
    name = "intake"

    def __init__(self, settings: IntakeSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        # a follower keeps them from `on_start`
        self.kept_rows = KeptRows(duplicates.case_rows(also=(*deadlines.FIELDS,
                                                             *retention.FIELDS)))
        self.streams = CaseStreams(self.db["cases"], self.events, self.clock, producer=self.name,
                                   index_fields=index_fields,
                                   saved=self.kept_rows.saved,
                                   begins=True)
        self.desk = Desk(self.streams, self.clock, lambda: Policy(city=self.city.current,
                                                                  config_version=self.city.version))
        self.keys = key_store(self.mongo, settings)
        self.submissions = Submissions(self.streams, self.db["submission_keys"], self.keys,
                                       self.city, settings, self.clock)
        self.receipts = ReceiptDesk(
            self.db["bus_receipts"],
            Outlet(self.broker, self.topics.receipts, schema=SubmissionReceipt,
                   title="intake: receipts for submissions on the bus",
                   description=described(Topics.receipts)),
            self.clock)
        self.photos = PhotoStore(self.db["media"], self.settings.max_photo_bytes,
                                 self.settings.max_photo_pixels)
        self.erasures = Erasures(self.streams, self.keys, self.photos, self.db["erasures"],
                                 self.db["submission_keys"])
        self.retention = timedelta(days=settings.retention_days)
        self.erasure_desk = ErasureDesk(
            self.streams.get, self.keys,
            Outlet(self.broker, self.topics.erasures, schema=ErasePersonalData,
                   title="intake: requests to erase a resident's personal data",
                   description=described(Topics.erasures)),
            self.db["erasures"], self.clock)
        # Per-client limits on public submission and photo uploads, and each Open311 api
        # key's quota: in the process first, then counted in the store for every instance
        # (services/common/quotas.py).
        self.rate_cells = StoredCells(self.db[RATE_CELLS])
        self._sweep_rate_cells = False  # known at start: where the store has no TTL index
        cells = Cells(self.rate_cells, secret=settings.secret().get_secret_value().encode())
        rate = Rate(self.settings.submit_rate_per_minute, self.settings.submit_burst)
        self.submission_limit = ClientLimit("submissions", rate, cells, scope="submit")
        self.upload_limit = ClientLimit("photo uploads", rate, cells, scope="upload")
        self.key_quotas = KeyQuotas("submissions", cells)
        self.read_case_events(self._fold, title="intake: keep the triage write model")
        self._submissions_retrying = Retrying("submissions", self.group_id, self.store_writes)
        self.broker.subscriber(self.topics.submissions, group_id=self.group_id, batch=True,
                               max_records=SUBMISSIONS_AT_ONCE, auto_offset_reset="earliest",
                               title="intake: submissions published by frontends",
                               description=described(Topics.submissions),
                               decoder=read_batch_as(SUBMISSIONS, BusSubmissions,
                                                     self._unreadable))(
            typed(self._on_bus_submissions))
        self.broker.subscriber(self.topics.erasures, group_id=self.group_id,
                               auto_offset_reset="earliest",
                               title="intake: destroy the key, delete the photos",
                               description=described(Topics.erasures),
                               decoder=read_as(ERASURES, self.dead_letters))(
            typed(self._on_erasure))
        self.router.include_router(api.routes(
            settings, self.city, self.clock, submissions=self.submissions, photos=self.photos,
            submission_limit=self.submission_limit, upload_limit=self.upload_limit,
            duplicates=self.duplicates, tokens=self.tokens))
        self.router.include_router(api.triage_routes(self.desk, self.tokens))
        self.router.include_router(api.erasure_routes(self.erasure_desk, self.tokens))
        self.router.include_router(api.bus_routes(self.keys))
        self.router.include_router(open311.routes(
            settings, self.city, submissions=self.submissions, limit=self.submission_limit,
            quotas=self.key_quotas, tokens=self.tokens))

    async def on_start(self) -> None:
        await self.streams.ensure_indexes(("status", "ended_at"))  # the retention sweep's
        await self.submissions.start()
        self._sweep_rate_cells = not await self.rate_cells.expire_by_ttl()
        # the duplicates' rows of every case, before this instance says it is ready
        follower = await self.follow_rows(self.kept_rows.index, self.streams.collection)
        await self._complete_rows(follower.index)
        self.kept_rows.follower = follower
        self.background(self.streams.relay)

    @property
    def rows(self) -> RowIndex:
        """The rows of every case's snapshot (`duplicates.case_rows`)."""
        return self.kept_rows.index

    async def _complete_rows(self, rows: RowIndex) -> None:
        """The rows of snapshots saved before the duplicates' fields were written with them
        (no `description`), or, awaiting triage, before the triage clock's (no
        `triage_overdue`): completed from the whole snapshot, whose top-level fields are
        written too (only if it is still that version), so this happens once."""
        old = [row_id for row_id, row in rows.rows.items() if row.get("status") is not None
               and (row.get("description") is None
                    or (row["status"] == CaseStatus.SUBMITTED.value
                        and row.get("triage_overdue") is None))]
        gate = asyncio.Semaphore(16)

        async def complete(row_id: str) -> None:
            async with gate:
                snapshot = await self.streams.collection.find_one({"_id": row_id})
                if snapshot is None:
                    return
                fields = index_fields(case_of(snapshot))
                await self.streams.collection.update_one(
                    {"_id": row_id, "version": snapshot["version"]}, {"$set": fields})
                if rows.seq(row_id) <= snapshot["version"]:  # nothing newer came meanwhile
                    rows.remove(row_id)
                    rows.put({**snapshot, **fields})

        await asyncio.gather(*(complete(row_id) for row_id in old))
        if old:
            log.info("duplicate_rows_completed", snapshots=len(old))

    async def start(self) -> None:
        await super().start()
        # once the broker runs: the sweep publishes erasure requests
        self.every(self.settings.sweep_every_s, self.sweep_deadlines)
        self.every(self.settings.retention_sweep_every_s, self.sweep_retention)
        self.every(self.settings.retention_sweep_every_s, self.forget_old_receipts)
        if self._sweep_rate_cells:  # the store has no TTL index (FerretDB 1.24)
            self.every(SWEEP_EVERY_S, self.rate_cells.sweep)

    async def stop(self) -> None:
        # the snapshots of cases just begun, and the numbers reserved ahead, while the store is
        # open (what is cut short here is folded from the log, or a key of no case)
        await self.streams.drain()
        await self.submissions.stop()
        await super().stop()

    async def sweep_deadlines(self) -> int:
        """Record the triage deadlines passed now (`deadlines.py`); returns how many."""
        overdue = await deadlines.sweep(self.rows, self.streams, self.clock,
                                        self.settings.sweep_batch)
        if overdue:
            log.info("swept", overdue=overdue)
        return overdue

    async def sweep_retention(self) -> list[retention.Due]:
        """Ask for the erasure of the personal data kept past its time (`retention.py`)."""
        due = await retention.due_in_rows(self.rows, self.streams, self.clock.now(),
                                          self.retention, self.settings.retention_batch)
        return await retention.sweep(due, self.erasure_desk)

    async def forget_old_receipts(self) -> int:
        """Forget the bus receipts older than `bus_receipt_days` (`receipts.py`)."""
        return await self.receipts.forget(
            self.clock.now() - timedelta(days=self.settings.bus_receipt_days))

    # -- submissions -------------------------------------------------------------

    async def _unreadable(self, record: ConsumerRecord[Any, Any], error: ValidationError) -> None:
        """A record of the submissions topic that is no submission: refused (a dead letter,
        and a receipt), and the stream goes on (`read_batch_as`)."""
        await self._refuse(record, unreadable(record.value or b"", error))

    async def _on_bus_submissions(self, batch: BusSubmissions) -> None:
        """The submissions of a batch side by side, as HTTP takes its requests. Taken one
        after another, each waited on the store and the log of the one before (some 40 ms
        under load), and a frontend's receipt on everyone ahead of it on the topic (2.2 s
        at the median with every submission of the lifecycle bench on the bus). A failure
        brings the whole batch again once every submission of it has ended, after a pause
        (`Retrying`): a submission recorded already is found by its key and answered again,
        a refusal is said again."""
        try:
            await every_one(*(self._on_bus_submission(submission, record)
                              for submission, record in batch.read))
        except Exception as error:
            await self._submissions_retrying.failed(error, size=len(batch.read))
            raise
        self._submissions_retrying.succeeded()

    async def _on_bus_submission(self, submission: BusSubmission,
                                 record: ConsumerRecord[Any, Any]) -> None:
        """A submission a frontend published on the bus: opened if sealed, then checked
        exactly like HTTP, and answered on the receipts topic (`receipts.py`)."""
        command = await self._opened(submission, record)
        if command is None:
            return
        problems = check_submission(command, self.city.current)
        if problems:
            await self._refuse(record, Invalid.of(problems).reason, command)
            return
        key = f"bus/{command.submission_id}" if command.submission_id else \
            f"bus/{record.topic}/{record.partition}/{record.offset}"
        try:
            receipt = await self.submissions.submit(command, key=key)
        except (Refused, ConcurrentChange, Unavailable) as refused:
            await self._refuse(record, f"refused: {refused.reason}", command)
            return
        log.info("bus_submission_recorded", case_id=receipt.case_id, replayed=receipt.replayed)
        await self.receipts.recorded(key, command, record, receipt.case_id, receipt.tracking_code)

    async def _refuse(self, record: ConsumerRecord[Any, Any], reason: str,
                      command: SubmitCase | None = None, *, withhold: bool = False) -> None:
        """Put a submission aside for the operators and tell its sender why."""
        await self.dead_letters.put(record, reason, withhold=withhold)
        await self.receipts.refused(record, reason, command)

    async def _opened(self, submission: BusSubmission,
                      record: ConsumerRecord[Any, Any]) -> SubmitCase | None:
        """The submission in clear; None (and a refusal) when it cannot be, or when it
        came with personal data in clear — which is then not copied anywhere."""
        if isinstance(submission, SubmitCase):
            if personal_part(submission, self.city.current) is None:
                return submission
            await self._refuse(record, CLEAR_ON_THE_BUS, submission, withhold=True)
            return None
        try:
            key = await self.keys.issue(SUBMISSION_KEY)
            return SubmitCase.model_validate_json(open_for(key, submission.sealed))
        except (BrokenSeal, ValidationError) as error:
            await self._refuse(record, f"sealed submission: {describe_error(error)}")
            return None

    async def _on_erasure(self, command: ErasePersonalData, message: KafkaMessage) -> None:
        """Carry out an erasure; an error leaves it to be redelivered (each step repeats)."""
        try:
            await self.erasures.carry_out(command)
        except Exception as error:
            report_failure(log, "erasure_failed_will_retry", error, case_id=command.case_id)
            await asyncio.sleep(RETRY_PAUSE_S)
            raise

    # -- triage ------------------------------------------------------------------

    async def duplicates(self, case_id: str) -> list[duplicates.Suggestion]:
        case = await self.streams.get(case_id)
        if case is None or case.facts is None:
            raise NotFound(f"case {case_id} not found")
        window = timedelta(days=self.settings.duplicate_window_days)
        return duplicates.suggest(duplicates.row_of(case),
                                  duplicates.open_alike(self.rows, case, window),
                                  radius_m=self.settings.duplicate_radius_m)

    # -- the log -----------------------------------------------------------------

    async def _fold(self, deliveries: list[Delivery]) -> None:
        """Keep the write model in step with events others recorded (routing, imports):
        each case in log order, several side by side (`per_case`)."""
        await per_case(deliveries, self._fold_case)

    async def _fold_case(self, deliveries: list[Delivery]) -> None:
        envelopes = [delivery.envelope for delivery in deliveries]
        with bound(case_id=envelopes[0].case_id, event_id=str(envelopes[0].event_id)):
            await self.streams.fold_all(envelopes)
        for envelope in envelopes:
            if envelope.type == PersonalDataErased.TYPE:
                with bound(case_id=envelope.case_id, event_id=str(envelope.event_id)):
                    await self.erasures.on_recorded(envelope)
