"""`zaiban privacy erase | retention | reconcile`: erasures from the operator's console.

They take the path the HTTP routes take (`services/intake/erasures.py`): a
request is checked against intake's write model and published on the erasures
topic, and intake and routing carry it out. The console only asks and reports;
it needs Kafka and the store of the deployment, not the master key.

`reconcile` is for after a restore: a backup of the key store brings back keys
destroyed since it was taken. It reads the case event log from offset 0 and
destroys again the key of every case whose `PersonalDataErased` is there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from contracts.case_events import PersonalDataErased
from contracts.envelope import Envelope
from contracts.facts import Actor, Role
from contracts.registry import read_event
from contracts.topics import Topics
from services.common.bus import Delivery
from services.common.casestreams import case_of
from services.common.clock import SystemClock
from services.common.kafka import ADMIN, kafka_options
from services.common.keys import key_store
from services.common.replay import LogReader
from services.common.store import make_client, service_db
from services.intake import retention
from services.intake.erasures import ErasureDesk, actor_label
from services.intake.settings import IntakeSettings
from services.lifecycle.case import Case

CONSOLE = Actor(role=Role.ADMIN, staff_id="console")
"""Who erases from the console: an admin at the deployment's own machine."""


class Producer:
    """The erasures topic, written from the console (acks=all: durable before it returns)."""

    def __init__(self, settings: IntakeSettings) -> None:
        self.topic = Topics(settings.topic_prefix).erasures
        self.producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap,
                                         acks="all", enable_idempotence=True,
                                         **kafka_options(settings, ADMIN))

    async def send(self, body: bytes, key: bytes | None = None) -> None:
        await self.producer.send_and_wait(self.topic, body, key=key)


@asynccontextmanager
async def console_desk(settings: IntakeSettings, settle_s: float = 30.0
                       ) -> AsyncIterator[tuple[ErasureDesk, AsyncCollection[dict[str, Any]]]]:
    """An erasure desk over the deployment's Kafka and intake's store, and intake's cases."""
    client: AsyncMongoClient[dict[str, Any]] = make_client(settings)
    db = service_db(client, settings, "intake")
    producer = Producer(settings)

    async def case(case_id: str) -> Case | None:
        snapshot = await db["cases"].find_one({"_id": case_id})
        return case_of(snapshot) if snapshot else None

    await producer.producer.start()
    try:
        yield ErasureDesk(case, key_store(client, settings, opens=False), producer,
                          db["erasures"], SystemClock(), settle_s=settle_s), db["cases"]
    finally:
        await producer.producer.stop()
        await client.close()


async def erase(settings: IntakeSettings, case_id: str, wait_s: float) -> dict[str, Any]:
    async with console_desk(settings, settle_s=wait_s) as (desk, _cases):
        return await desk.request(case_id, CONSOLE)


@dataclass(frozen=True)
class RetentionRun:
    due: list[retention.Due]
    asked: list[retention.Due]


async def run_retention(settings: IntakeSettings, *, dry_run: bool, limit: int) -> RetentionRun:
    """What is due now (and, unless `dry_run`, the erasure of each asked for)."""
    keep = timedelta(days=settings.retention_days)
    async with console_desk(settings) as (desk, cases):
        now = SystemClock().now()
        due = await retention.due(cases, now, keep, limit)
        asked = [] if dry_run else await retention.sweep(due, desk)
    return RetentionRun(due, asked)


@dataclass(frozen=True)
class Reconciled:
    events: int
    erasures: int
    destroyed_again: list[str]


async def reconcile(settings: IntakeSettings) -> Reconciled:
    """Destroy again every key whose case's erasure is in the log (after a restore)."""
    erased: dict[str, Envelope] = {}

    async def note(deliveries: list[Delivery]) -> int:
        for delivery in deliveries:
            if delivery.envelope.type == PersonalDataErased.TYPE:
                erased[delivery.envelope.case_id] = delivery.envelope
        return 0

    async with LogReader(settings, ADMIN) as reader:
        starts, ends = await reader.bounds()
        replayed = await reader.replay(starts, ends, note)
    client: AsyncMongoClient[dict[str, Any]] = make_client(settings)
    try:
        keys = key_store(client, settings, opens=False)
        again = []
        for case_id, envelope in sorted(erased.items()):
            if await keys.destroyed(case_id) is None:
                event = read_event(envelope)
                assert isinstance(event, PersonalDataErased)
                await keys.destroy(case_id, at=envelope.occurred_at, by=actor_label(event.by),
                                   reason=event.reason)
                again.append(case_id)
    finally:
        await client.close()
    return Reconciled(replayed.events, len(erased), again)
