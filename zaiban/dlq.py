"""Reading and redriving dead letters.

Each service's dead-letter topic holds what it could never process, with the
reason, the source topic, partition and offset, and the original bytes. After
the cause is fixed (a department's system corrected, a category added to the
catalogue), `redrive` publishes the original messages to their source topic
again; what still fails comes back with its reason.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from contracts.topics import Topics
from services.common.kafka import ADMIN, kafka_options
from services.common.settings import CommonSettings
from services.composition import SERVICES


@dataclass(frozen=True)
class Letter:
    service: str
    offset: int
    partition: int
    body: dict[str, Any]

    @property
    def payload(self) -> bytes:
        raw = self.body.get("payload", "")
        if self.body.get("payload_encoding") == "base64":
            return base64.b64decode(raw)
        return str(raw).encode("utf-8")


async def read_letters(settings: CommonSettings, service: str) -> list[Letter]:
    letters: list[Letter] = []
    for record in await read_topic(settings, Topics(settings.topic_prefix).dead_letter(service)):
        try:
            body = json.loads(record.value or b"{}")
        except ValueError:
            body = {"reason": "unreadable dead letter"}
        letters.append(Letter(service, record.offset, record.partition, body))
    return letters


async def read_topic(settings: CommonSettings, topic: str) -> list[ConsumerRecord[Any, Any]]:
    """Every record `topic` holds now, from its beginning, outside any consumer group (as the
    console's super user)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, **kafka_options(settings, ADMIN))
    await consumer.start()
    found: list[ConsumerRecord[Any, Any]] = []
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                found.extend(records)
    finally:
        await consumer.stop()
    return found


async def redrive(settings: CommonSettings, letters: list[Letter]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, **kafka_options(settings, ADMIN))
    await producer.start()
    try:
        for letter in letters:
            key = letter.body.get("key")
            await producer.send_and_wait(letter.body["source_topic"], letter.payload,
                                         key=key.encode() if key else None)
    finally:
        await producer.stop()
    return len(letters)


def all_services() -> tuple[str, ...]:
    return SERVICES


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)
