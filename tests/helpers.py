"""Helpers for tests that run services for real: settings for a namespace,
running runtimes in-process, reading what the log received, waiting for a
read model to catch up."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import SecretStr
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from contracts.envelope import Envelope
from contracts.personal import PersonalData, Sealed
from contracts.topics import Topics
from services.common.bus import Delivered, Reading, parse_envelope
from services.common.casestreams import CaseStreams
from services.common.kafka import ADMIN, kafka_options
from services.common.keys import KeyRing, key_store, open_sealed
from services.common.replay import LogReader
from services.common.rowindex import RowIndex
from services.common.runtime import running  # noqa: F401 (tests import it from here)
from services.common.settings import CommonSettings
from services.common.store import make_client
from services.lifecycle.case import Case
from zaiban.bench.env import Positions, total
from zaiban.chaos.verify import eventually
from zaiban.infra import StackInfo

TEST_SECRET = SecretStr("test-secret-not-for-production-0123456789")

WANGFUFEN_REQUEST: dict[str, Any] = {
    "category": "traffic-signals",
    "description": "沙口路王府坟菜市场门口的红绿灯不亮了，过马路很危险。",
    "location": {"district": "zhongyuan", "street": "沙口路王府坟菜市场门口",
                 "address": "沙口路王府坟菜市场正门"},
    "attributes": {"signal_state": "dark"},
    "contact": {"name": "李女士", "phone": "13800000000"},
}
"""The reference case as a resident's browser submits it (POST /api/cases): the dark
traffic lights at the gate of the Wangfufen vegetable market on Shakou Road."""


def settings_for(bootstrap: str, mongo_url: str, topic_prefix: str, db_prefix: str,
                 **overrides: Any) -> CommonSettings:
    # Tests submit many cases from one in-process client, so the per-client rate limit of
    # public submission is lifted here; tests/security/ sets it back to test it.
    unlimited = {"submit_rate_per_minute": 1e9, "submit_burst": 1_000_000}
    return CommonSettings(
        environment="test",
        kafka_bootstrap=bootstrap,
        mongo_url=mongo_url,
        topic_prefix=topic_prefix,
        db_prefix=db_prefix,
        auth_secret=TEST_SECRET,
        log_format="console",
        **{**unlimited, **overrides},
    )


def as_admin(settings: CommonSettings | None = None) -> dict[str, Any]:
    """How a test's own Kafka client logs in: as the super user, who may read and write
    anything (the services under test are their own principals, with only their rights)."""
    return kafka_options(settings or CommonSettings(environment="test"), ADMIN)


def departments_over_tls(settings: CommonSettings, stack: StackInfo) -> CommonSettings:
    """`settings` giving departments the local broker's TLS listener and its CA, as the local
    stack's environment does (`StackInfo.env`): what a department's system connects to."""
    assert stack.departments_bootstrap and stack.departments_ca_file, (
        "the local stack names no TLS listener for departments")
    return settings.model_copy(update={
        "kafka_departments_bootstrap": stack.departments_bootstrap,
        "kafka_departments_ca_file": stack.departments_ca_file})


def client_for(app: Any) -> httpx.AsyncClient:
    """An HTTP client talking to an ASGI app in-process (lifespan not run: start runtimes)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://zaiban.test")


async def read_topic(bootstrap: str, topic: str, *, min_count: int = 0,
                     timeout: float = 15.0) -> list[bytes]:
    """Every message on `topic` from the beginning (waits for at least `min_count`)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None, auto_offset_reset="earliest", **as_admin())
    await consumer.start()
    values: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] | None = None
        while time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if partitions:
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.2)
        if not partitions:
            if min_count:
                raise AssertionError(f"topic {topic} does not exist")
            return []
        assigned = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                values.extend(r.value for r in records if r.value is not None)
            positions = {tp: await consumer.position(tp) for tp in assigned}
            if all(positions[tp] >= ends[tp] for tp in assigned) and len(values) >= min_count:
                return values
            if len(values) < min_count:
                ends = await consumer.end_offsets(assigned)
        raise AssertionError(f"{topic}: wanted {min_count} messages, got {len(values)}")
    finally:
        await consumer.stop()


async def read_events(settings: CommonSettings, *, case_id: str | None = None,
                      min_count: int = 0) -> list[Envelope]:
    """The case events the log received (optionally of one case), in log order per case."""
    raw = await read_topic(settings.kafka_bootstrap, Topics(settings.topic_prefix).case_events,
                           min_count=min_count)
    envelopes = [Envelope.from_bytes(value) for value in raw]
    if case_id is not None:
        envelopes = [e for e in envelopes if e.case_id == case_id]
    return sorted(envelopes, key=lambda e: (e.case_id, e.seq))


async def publish_raw(bootstrap: str, topic: str, values: list[bytes],
                      key: bytes | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, **as_admin())
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def write_one(bootstrap: str, topic: str, **login: Any) -> None:
    """Write one record to `topic` as the client `login` names (an idempotent producer)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, **login)
    try:
        await producer.start()
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}"), timeout=20)
    finally:
        await producer.stop()


async def read_in_group(bootstrap: str, topic: str, group: str, **login: Any) -> None:
    """Join `group` and fetch from `topic` once, as the client `login` names."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest", **login)
    try:
        await consumer.start()
        await asyncio.wait_for(consumer.getmany(timeout_ms=2000), timeout=20)
    finally:
        await consumer.stop()


async def publish_envelopes(settings: CommonSettings, envelopes: list[Envelope],
                            keys: KeyRing | None = None) -> None:
    """Append `envelopes` to the case event log; first, with `keys`, put the keys their
    personal data is sealed with in the key store (as intake does before it records)."""
    if keys is not None:
        client = make_client(settings)
        try:
            await keys.keep(key_store(client, settings))
        finally:
            await client.close()

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5, **as_admin(settings))
    await producer.start()
    try:
        topic = Topics(settings.topic_prefix).case_events
        futures = [await producer.send(topic, e.to_bytes(), key=e.key()) for e in envelopes]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def personal_of(settings: CommonSettings, envelope: Envelope) -> PersonalData | None:
    """The personal data a `CaseSubmitted` carries sealed, opened with the case's key."""
    sealed = envelope.data.get("personal")
    client = make_client(settings)
    try:
        return await open_sealed(key_store(client, settings),
                                 Sealed.model_validate(sealed) if sealed else None)
    finally:
        await client.close()


class Killed(Exception):
    """A process died here (kill -9): nothing after this point ran."""


class DiesAfter:
    """`inner`, except that its `method` does its work and then the process dies
    (`Killed`): a service's own code run up to a chosen crash, for tests of what a
    restart has to finish."""

    def __init__(self, inner: Any, method: str) -> None:
        self.inner, self.method = inner, method

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if name != self.method:
            return found

        async def then_die(*args: Any, **kwargs: Any) -> Any:
            await found(*args, **kwargs)
            raise Killed(f"after {self.method}")

        return then_die


# "ERROR:aiokafka.cluster:…" (the standard library's lines), {"level": "error", …} (the
# services' JSON lines), "[error    ]" (the same on a terminal)
ERROR_LINE = re.compile(r'^(ERROR|CRITICAL):|"level": "(error|critical)"|\[(error|critical)\s*\]')


def alarming(output: str) -> list[str]:
    """The lines of `output` logged at ERROR or above, and tracebacks."""
    return [line for line in output.splitlines()
            if ERROR_LINE.search(line) or "Traceback (most recent call last)" in line]


def dead_letter_reasons(raw: list[bytes]) -> list[str]:
    return [json.loads(value)["reason"] for value in raw]


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """The app on a real HTTP server on a free port (streams need one: ASGITransport buffers)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off",
                                           log_level="warning", timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    await eventually(started, what="the HTTP server to listen")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class ServerSentEvents:
    """Reads server-sent events off a streaming response, one event's fields at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()

    async def next_event(self, wanted: Callable[[dict[str, str]], bool] = lambda _: True,
                         timeout: float = 15.0) -> dict[str, str]:
        """The fields of the next event `wanted` says is one (heartbeats skipped)."""
        async with asyncio.timeout(timeout):
            fields: dict[str, str] = {}
            async for line in self.lines:
                if line.startswith(":"):
                    continue  # a heartbeat
                if line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                    continue
                if fields and wanted(fields):
                    return fields
                fields = {}
        raise AssertionError("the stream ended")


async def every_record(settings: CommonSettings, read: Reading[Any] = parse_envelope
                       ) -> list[Delivered[Any]]:
    """Every record of the case event log, as a consumer that reads them with `read` (whole,
    or as the figures do) is handed them."""
    from services.common.replay import LogReader

    found: list[Delivered[Any]] = []

    async def keep(deliveries: list[Delivered[Any]]) -> int:
        found.extend(deliveries)
        return 0

    async with LogReader(settings, ADMIN, read) as reader:
        starts, ends = await reader.bounds()
        await reader.replay(starts, ends, keep)
    return found


async def case_once(streams: CaseStreams, case_id: str, holds: Callable[[Case], bool], *,
                    what: str) -> Case:
    """The case as a service's write model (`streams`) holds it, once `holds` is true of it: a
    service folds what others record on the log a moment later."""
    async def probe() -> Case | None:
        case = await streams.get(case_id)
        return case if case is not None and holds(case) else None

    return await eventually(probe, what=what)


async def log_ends(settings: CommonSettings) -> dict[str, int]:
    """The last offset of every non-empty partition of the case event log."""
    async with LogReader(settings, ADMIN) as reader:
        _, ends = await reader.bounds()
    return {str(tp.partition): end - 1 for tp, end in ends.items() if end > 0}


async def handled_to_the_end(settings: CommonSettings, group: str,
                             timeout: float = 30.0) -> None:
    """Wait until consumer group `group` has committed every record the case log holds now:
    its service has handled them (a consumer commits after its handler returned)."""
    topic = Topics(settings.topic_prefix).case_events
    async with Positions(settings) as positions:
        await positions.wait_committed(group, topic, total(await positions.ends(topic)),
                                       within_s=timeout)


async def figures_caught_up(http: httpx.AsyncClient, settings: CommonSettings,
                            timeout: float = 60.0) -> dict[str, Any]:
    """Metrics' summary, once the figures have counted every record the log holds now (metrics
    gathers live records for up to half a second: a figure read at once may be behind)."""
    ends = await log_ends(settings)

    async def probe() -> dict[str, Any] | None:
        answer = await http.get("/api/stats/summary")
        body: dict[str, Any] = answer.json()
        return body if answer.status_code == 200 and body["positions"] == ends else None

    return await eventually(probe, timeout=timeout, what=f"the figures to reach {ends}")


async def snapshots_and_their_rows(db: AsyncDatabase[dict[str, Any]],
                                   documents: list[dict[str, Any]],
                                   rows: RowIndex) -> AsyncCollection[dict[str, Any]]:
    """`documents` stored as a write model's snapshots (`db["cases"]`), and put into `rows` as
    a follower loads them: the store's documents (its dates come back naive, UTC). The
    collection, for the store's own scans to compare the rows with."""
    snapshots = db["cases"]
    await snapshots.insert_many(documents)
    rows.put_all([doc async for doc in snapshots.find({})])
    return snapshots
