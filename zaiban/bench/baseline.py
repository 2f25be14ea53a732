"""The baselines: the least the same machine must do for the same work.

Each scenario runs one of these next to zaiban, on the same broker and store:

- `submit_app`: an HTTP endpoint that validates the same body (`SubmitCase`)
  and sends it with the same producer settings as every service
  (`make_broker`: acks=all, idempotence, linger, gzip), answering once Kafka
  holds it — intake's floor, without the write model, numbers or codes;
- `RawProjector`: a bare aiokafka consumer that reads the same events and
  bulk-writes equivalent documents: for tracking one document per case with
  its facts and its timeline of events (`insert_many` for new cases, replaces
  by `_id` for the others, no read: it keeps what it wrote in memory); for
  metrics one document per partition with its counters as a blob, replaced
  once per batch. It commits offsets after each write, as the services do;
- `pipeline_app`: the two joined, for the end-to-end latency floor: the bare
  endpoint, a raw consumer writing one document per case, and a bare read of
  it by `_id`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import zlib
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from bson import Binary
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pymongo import AsyncMongoClient, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from contracts.case_commands import SubmitCase
from contracts.topics import Topics
from services.common.bus import make_broker
from services.common.kafka import ADMIN, kafka_options
from services.common.settings import CommonSettings
from services.common.store import make_client

WRITE_CHUNK = 25
"""Statements per bulk command. FerretDB 1.24 holds one SQLite connection per statement
of a command until the command ends, with at most 100 per database: a bulk update of
~100 statements waits for a connection forever (seen here)."""


def bare_topic(settings: CommonSettings) -> str:
    return f"{settings.topic_prefix}bench.bare-submissions"


# --- the bare endpoint ----------------------------------------------------------------------


Hook = Callable[[], Awaitable[None]]


def submit_app(settings: CommonSettings, *, also: Callable[[FastAPI], None] | None = None,
               on_start: Hook | None = None, on_stop: Hook | None = None) -> FastAPI:
    """POST /api/cases: validate `SubmitCase`, send it (acks=all), answer 201."""
    broker = make_broker(settings, "bench-bare", principal=ADMIN)
    topic = bare_topic(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await broker.start()
        if on_start is not None:
            await on_start()
        try:
            yield
        finally:
            if on_stop is not None:
                await on_stop()
            await broker.stop()

    app = FastAPI(title="zaiban bench: bare endpoint", lifespan=lifespan)

    @app.get("/readyz")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.post("/api/cases", status_code=201)
    async def submit(command: SubmitCase) -> dict[str, str]:
        case_id = secrets.token_hex(8)
        await broker.publish(command.model_dump_json().encode(), topic, key=case_id.encode())
        return {"case_id": case_id}

    if also is not None:
        also(app)
    return app


def pipeline_app(settings: CommonSettings) -> FastAPI:
    """The bare endpoint, a raw consumer writing one document per case, a bare read by id."""
    client = make_client(settings)
    cases = client[settings.database("bare")]["cases"]
    consumer_task: list[asyncio.Task[None]] = []

    async def consume() -> None:
        consumer = AIOKafkaConsumer(bare_topic(settings), bootstrap_servers=settings.kafka_bootstrap,
                                    group_id=f"{settings.topic_prefix}bench-bare",
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    **kafka_options(settings, ADMIN))
        await consumer.start()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=200, max_records=500)
                docs = [{"_id": record.key.decode(), "seq": 1,
                         "submission": json.loads(record.value)}
                        for records in batch.values() for record in records if record.key]
                if docs:
                    try:
                        await cases.insert_many(docs, ordered=False)
                    except BulkWriteError:
                        pass  # a redelivery: those cases are there already
                    await consumer.commit()
        finally:
            await consumer.stop()

    def extend(app: FastAPI) -> None:
        @app.get("/api/cases/{case_id}")
        async def read(case_id: str) -> JSONResponse:
            found = await cases.find_one({"_id": case_id})
            if found is None:
                return JSONResponse({"error": "not found"}, 404)
            return JSONResponse({"case_id": case_id, "seq": found["seq"]})

    async def start_consumer() -> None:
        consumer_task.append(asyncio.create_task(consume()))

    async def stop_consumer() -> None:
        for task in consumer_task:
            task.cancel()
        await client.close()

    return submit_app(settings, also=extend, on_start=start_consumer, on_stop=stop_consumer)


# --- the raw consumer -----------------------------------------------------------------------


@dataclass
class RawProjector:
    """Reads the case event log and writes equivalent documents, as fast as it can.

    `shape` is "tracking" (a document per case) or "metrics" (a document per partition).
    With `group`, it joins that consumer group (offsets committed after each write);
    without, it reads every partition from the beginning, outside any group.
    """

    settings: CommonSettings
    collection: AsyncCollection[dict[str, Any]]
    shape: str
    group: str | None = None
    applied: int = 0
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    counters: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    async def run(self, *, until: int | None = None,
                  ends: dict[TopicPartition, int] | None = None) -> None:
        """Consume until `until` records were applied (or every partition reached `ends`)."""
        topic = Topics(self.settings.topic_prefix).case_events
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                    group_id=self.group, enable_auto_commit=False,
                                    auto_offset_reset="earliest", max_partition_fetch_bytes=4 << 20,
                                    **kafka_options(self.settings, ADMIN))
        await consumer.start()
        try:
            if self.group is not None:
                consumer.subscribe([topic])
            else:
                assert ends is not None
                consumer.assign(list(ends))
                await consumer.seek_to_beginning(*ends)
            while True:
                if until is not None and self.applied >= until:
                    return
                if ends is not None and all(
                        [await consumer.position(tp) >= end for tp, end in ends.items()]):
                    return
                batch = await consumer.getmany(timeout_ms=200, max_records=500)
                records = [r for rs in batch.values() for r in rs]
                if not records:
                    continue
                await self.write(records)
                self.applied += len(records)
                if self.group is not None:
                    await consumer.commit()
        finally:
            await consumer.stop()

    async def write(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        if self.shape == "tracking":
            await self._write_cases(records)
        else:
            await self._write_partitions(records)

    async def _write_cases(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        new: dict[str, dict[str, Any]] = {}
        changed: dict[str, dict[str, Any]] = {}
        for record in records:
            event = json.loads(record.value)
            case_id = event["case_id"]
            doc = self.cases.get(case_id)
            if doc is None:
                doc = {"_id": case_id, "seq": 0, "timeline": []}
                self.cases[case_id] = doc
                new[case_id] = doc
            elif case_id not in new:
                changed[case_id] = doc
            if event["seq"] <= doc["seq"]:
                continue
            facts = event["facts"]
            doc.update(seq=event["seq"], facts=facts, status=facts["status"],
                       category=facts["category"], district=facts["district"],
                       department=facts.get("department"), updated_at=event["occurred_at"])
            doc["timeline"].append({"seq": event["seq"], "type": event["type"],
                                    "at": event["occurred_at"], "data": event["data"]})
        if new:
            await self.collection.insert_many(list(new.values()), ordered=False)
        replaces = [ReplaceOne({"_id": case_id}, doc) for case_id, doc in changed.items()]
        for start in range(0, len(replaces), WRITE_CHUNK):
            await self.collection.bulk_write(replaces[start:start + WRITE_CHUNK], ordered=False)

    async def _write_partitions(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        touched: dict[int, int] = {}
        for record in records:
            event = json.loads(record.value)
            facts = event["facts"]
            day = event["occurred_at"][:10]
            counters = self.counters[record.partition]
            counters[f"events|{event['type']}"] += 1
            for dimension in ("category", "district", "channel", "department"):
                counters[f"{event['type']}|{dimension}={facts.get(dimension)}"] += 1
            counters[f"{event['type']}|day={day}"] += 1
            touched[record.partition] = record.offset
        for partition, offset in touched.items():
            blob = Binary(zlib.compress(json.dumps(self.counters[partition]).encode(), 1))
            await self.collection.replace_one({"_id": f"p{partition}"},
                                              {"offset": offset, "counters": blob}, upsert=True)


def raw_collection(settings: CommonSettings, name: str) -> tuple[AsyncMongoClient[dict[str, Any]],
                                                                AsyncCollection[dict[str, Any]]]:
    client = make_client(settings)
    return client, client[settings.database("baseline")][name]
