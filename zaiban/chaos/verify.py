"""After a fault: what the log holds, whether each read model says the same as a clean
replay of that log into a database of its own, and which dead letters were written."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pymongo import AsyncMongoClient

from contracts.envelope import Envelope
from contracts.topics import Topics
from services.common.settings import CommonSettings
from services.common.store import make_client, service_db
from services.metrics import replay as metrics_replay
from services.metrics.service import city_timezone, figure_store
from services.metrics.settings import MetricsSettings
from services.tracking import replay as tracking_replay
from services.tracking.store import COLLECTION
from zaiban.dlq import read_letters, read_topic

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 20.0,
                     every: float = 0.1, what: str = "condition") -> T:
    """Poll `probe` until it returns something truthy; fail loudly with `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


async def read_events(settings: CommonSettings) -> list[Envelope]:
    """Every record of the case log, in log order per partition."""
    records = await read_topic(settings, Topics(settings.topic_prefix).case_events)
    return [Envelope.from_bytes(record.value) for record in records]


@dataclass(frozen=True)
class Logged:
    """The case event log, once each event (a republished copy has the same id and seq)."""

    events: int
    records: int
    cases: set[str]
    resolved: set[str]
    last_seq: dict[str, int]
    resolutions: int
    accepted: set[str]


async def the_log(settings: CommonSettings) -> Logged:
    envelopes = await read_events(settings)
    once: dict[tuple[str, int], Envelope] = {}
    for envelope in envelopes:
        known = once.setdefault((envelope.case_id, envelope.seq), envelope)
        assert known.event_id == envelope.event_id, (
            f"two different events share seq {envelope.seq} of {envelope.case_id}")
    last: dict[str, int] = defaultdict(int)
    for case_id, seq in once:
        last[case_id] = max(last[case_id], seq)
    resolved = [e for e in once.values() if e.type == "CaseResolved"]
    accepted = [e for e in once.values() if e.type == "CaseAccepted"]
    return Logged(events=len(once), records=len(envelopes),
                  cases={e.case_id for e in once.values() if e.type == "CaseSubmitted"},
                  resolved={e.case_id for e in resolved}, last_seq=dict(last),
                  resolutions=len(resolved), accepted={e.case_id for e in accepted})


async def tracking_documents(settings: CommonSettings) -> dict[str, dict[str, Any]]:
    client = make_client(settings)
    try:
        cases = service_db(client, settings, "tracking")[COLLECTION]
        return {doc["_id"]: doc async for doc in cases.find({})}
    finally:
        await client.close()


async def metrics_counters(settings: CommonSettings) -> dict[str, int]:
    metrics = MetricsSettings.from_common(settings)
    client = make_client(metrics)
    try:
        store = figure_store(service_db(client, metrics, "metrics")[metrics.metrics_collection],
                             metrics, city_timezone(metrics))
        return await store.counters()
    finally:
        await client.close()


async def tracking_caught_up(settings: CommonSettings, log: Logged,
                             timeout: float = 90.0) -> dict[str, dict[str, Any]]:
    async def probe() -> dict[str, dict[str, Any]] | None:
        docs = await tracking_documents(settings)
        seqs = {case_id: doc.get("seq") for case_id, doc in docs.items()}
        return docs if seqs == log.last_seq else None

    return await eventually(probe, timeout=timeout, every=0.5,
                            what="tracking to project every event in the log")


async def metrics_caught_up(http: httpx.AsyncClient, log: Logged,
                            timeout: float = 90.0) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        try:
            answer = await http.get("/api/stats/summary")
        except httpx.HTTPError:
            return None
        summary: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        wanted = (len(log.cases), len(log.resolved))
        return summary if (summary.get("received"), summary.get("resolved")) == wanted else None

    return await eventually(probe, timeout=timeout, every=0.5,
                            what="the metrics to count each case once")


@dataclass(frozen=True)
class Replayed:
    tracking: dict[str, dict[str, Any]]
    counters: dict[str, int]


async def clean_replay(settings: CommonSettings) -> Replayed:
    """Both read models rebuilt from offset 0 into databases nobody else writes."""
    elsewhere = settings.model_copy(update={"db_prefix": f"{settings.db_prefix}_replay"})
    try:
        await tracking_replay.rebuild(elsewhere)
        await metrics_replay.rebuild(elsewhere)
        return Replayed(tracking=await tracking_documents(elsewhere),
                        counters=await metrics_counters(elsewhere))
    finally:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongo_url, serverSelectionTimeoutMS=10_000)
        try:
            for service in ("tracking", "metrics"):
                await client.drop_database(elsewhere.database(service))
        finally:
            await client.close()


async def dead_letters(settings: CommonSettings, services: tuple[str, ...]) -> dict[str, list[str]]:
    """The reasons of every dead letter each service wrote, by service (none: not there)."""
    found: dict[str, list[str]] = {}
    for service in services:
        letters = await read_letters(settings, service)
        if letters:
            found[service] = [str(letter.body.get("reason", "?"))[:200] for letter in letters]
    return found
