"""Intake: where requests and triage decisions enter, and become case events.

Wiring only: the decisions live in the lifecycle (`services/lifecycle/`:
`submitting.py`, `triage.py`, whose commands are the rows of `commands.py`) and
in `duplicates.py`; this file connects them to the write model (`CaseStreams`
over intake's `cases` collection), the log, the submissions topic and the HTTP
routes in `api.py`.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from faststream.kafka.annotations import KafkaMessage
from pydantic import TypeAdapter
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.case_commands import SubmitCase
from contracts.envelope import Envelope
from contracts.facts import Actor, CaseStatus, Channel
from contracts.topics import Topics
from services.common.bus import (
    Delivery,
    described,
    read_as,
    records_of,
    subscribe_envelopes,
    typed,
)
from services.common.casestreams import CaseStreams, ConcurrentChange
from services.common.catalogue import load_city
from services.common.clock import Clock
from services.common.commands import Desk
from services.common.limits import RateLimiter
from services.common.logging import bound, get_logger
from services.common.runtime import ServiceRuntime
from services.common.store import Unavailable
from services.intake import duplicates
from services.intake.media import PhotoStore, check_media
from services.intake.numbers import new_case_number
from services.intake.settings import IntakeSettings
from services.lifecycle.case import Case
from services.lifecycle.codes import hash_tracking_code, tracking_code_for
from services.lifecycle.errors import Invalid, NotFound, NotNow, Refused
from services.lifecycle.policy import Policy
from services.lifecycle.submitting import check_submission, submitted

log = get_logger("zaiban.intake")

NUMBER_ATTEMPTS = 5
SUBMISSIONS: TypeAdapter[SubmitCase] = TypeAdapter(SubmitCase)


@dataclass(frozen=True)
class Receipt:
    """What a resident is told once the case is durable in the log."""

    case_id: str
    tracking_code: str
    replayed: bool
    envelope: Envelope | None = None


def index_fields(case: Case) -> dict[str, Any]:
    facts = case.facts
    if facts is None:
        return {}
    location = case.location
    return {
        "status": facts.status.value,
        "category": facts.category,
        "district": facts.district,
        "submitted_at": facts.submitted_at,
        "street": location.street if location else "",
    }


def fingerprint(command: SubmitCase) -> str:
    return hashlib.sha256(command.model_dump_json().encode()).hexdigest()


class IntakeService(ServiceRuntime[IntakeSettings]):
    name = "intake"

    def __init__(self, settings: IntakeSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        self.city = load_city(self.settings.config_dir)
        self.streams = CaseStreams(self.db["cases"], self.events, self.clock, producer=self.name,
                                   index_fields=index_fields)
        self.desk = Desk(self.streams, self.clock, Policy(city=self.city))
        self.keys = self.db["submission_keys"]
        self.photos = PhotoStore(self.db["media"], self.settings.max_photo_bytes)
        # Per-client limits on public submission and photo uploads (services/common/limits.py).
        rate = (self.settings.submit_rate_per_minute, self.settings.submit_burst)
        self.submissions, self.uploads = RateLimiter(*rate), RateLimiter(*rate)
        subscribe_envelopes(self.broker, topic=self.topics.case_events, group_id=self.group_id,
                            dead_letters=self.dead_letters, handle=self._fold,
                            title="intake: keep the triage write model")
        self.broker.subscriber(self.topics.submissions, group_id=self.group_id,
                               auto_offset_reset="earliest",
                               title="intake: submissions published by frontends",
                               description=described(Topics.submissions),
                               decoder=read_as(SUBMISSIONS, self.dead_letters))(
            typed(self._on_bus_submission))
        from services.intake.api import routes, triage_routes

        self.router.include_router(routes(self))
        self.router.include_router(triage_routes(self.desk, settings.secret))
        from services.intake.open311.routes import routes as open311_routes
        self.router.include_router(open311_routes(self))

    async def on_start(self) -> None:
        await self.streams.ensure_indexes(("status", "category", "submitted_at"))
        self.background(self.streams.relay)

    # -- submissions -------------------------------------------------------------

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
        problems = check_submission(command, self.city) + check_media(
            command.media, max_photos=self.settings.max_photos,
            max_bytes=self.settings.max_photo_bytes)
        if problems:
            raise Invalid.of(problems)
        correlation_id = correlation_id or str(uuid.uuid4())
        if key:
            return await self._submit_once(command, key, channel, entered_by, correlation_id)
        for _attempt in range(NUMBER_ATTEMPTS):
            case_id = new_case_number(self.clock.now(), self.city.city.timezone)
            try:
                return await self._create(case_id, command, channel, entered_by, correlation_id)
            except (NotNow, ConcurrentChange):
                continue  # the number is taken: draw another
        raise Unavailable("could not draw a free case number; try again")

    async def _submit_once(self, command: SubmitCase, key: str, channel: Channel | None,
                           entered_by: Actor | None, correlation_id: str) -> Receipt:
        mark = fingerprint(command)
        candidate = new_case_number(self.clock.now(), self.city.city.timezone)
        entry = None
        for _attempt in range(3):
            try:
                entry = await self.keys.find_one_and_update(
                    {"_id": key},
                    {"$setOnInsert": {"case_id": candidate, "fingerprint": mark,
                                      "at": self.clock.now()}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                break
            except DuplicateKeyError:
                continue  # a concurrent retry inserted it first: read theirs

        if entry is None or entry.get("fingerprint") != mark:
            raise Invalid("this Idempotency-Key was already used for a different submission")
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
        event = submitted(command, self.city, tracking_code_hash=hash_tracking_code(code),
                          channel=channel, entered_by=entered_by)
        envelopes = await self.streams.execute(
            case_id, lambda case: [event], cause=f"submit/{case_id}",
            correlation_id=correlation_id, create=True)
        return Receipt(case_id, code, replayed=False, envelope=envelopes[0])

    async def _on_bus_submission(self, command: SubmitCase, message: KafkaMessage) -> None:
        """A submission a frontend published on the bus: checked exactly like HTTP (an
        unreadable one was dead-lettered by the decoder, `read_as`)."""
        record = records_of(message)[0]
        problems = check_submission(command, self.city)
        if problems:
            await self.dead_letters.put(record, Invalid.of(problems).reason)
            return
        key = f"bus/{command.submission_id}" if command.submission_id else \
            f"bus/{record.topic}/{record.partition}/{record.offset}"
        try:
            receipt = await self.submit(command, key=key)
        except (Refused, ConcurrentChange, Unavailable) as refused:
            await self.dead_letters.put(record, f"refused: {refused.reason}")
            return
        log.info("bus_submission_recorded", case_id=receipt.case_id, replayed=receipt.replayed)

    # -- triage ------------------------------------------------------------------

    async def duplicates(self, case_id: str) -> list[duplicates.Suggestion]:
        case = await self.streams.get(case_id)
        if case is None or case.facts is None:
            raise NotFound(f"case {case_id} not found")
        since = case.facts.submitted_at - timedelta(days=self.settings.duplicate_window_days)
        closed = [CaseStatus.CLOSED.value, CaseStatus.REJECTED.value, CaseStatus.MERGED.value]
        candidates = await self.streams.find(
            {"category": case.facts.category, "status": {"$nin": closed},
             "submitted_at": {"$gte": since}, "_id": {"$ne": case_id}},
            limit=500)
        return duplicates.suggest(case, candidates, radius_m=self.settings.duplicate_radius_m)

    # -- the log -----------------------------------------------------------------

    async def _fold(self, deliveries: list[Delivery]) -> None:
        """Keep the write model in step with events others recorded (routing, imports)."""
        for delivery in deliveries:
            envelope = delivery.envelope
            with bound(case_id=envelope.case_id, event_id=str(envelope.event_id)):
                await self.streams.fold(envelope)
