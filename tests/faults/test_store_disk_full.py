"""The store's disk fills up under a load of cases through their lifecycle (a private stack
whose FerretDB keeps its SQLite files on a small tmpfs), then space comes back (the tmpfs is
grown in place). While the disk is full, a resident's submission is refused with 503,
Retry-After and a message saying the store has no space (an Open311 client without a key
is either recorded from intake's reserve of case numbers, the log being elsewhere, or gets its
spec's 400 with the same) — never a 500, never a case that is not in the log; the consumers
(of events Kafka keeps taking while the disk is full) wait without dead-lettering anything or
logging errors, and say on /readyz that they cannot write once their own writes are refused.
Once there is room again, every service catches
up by itself: every case accepted is in the log, in tracking (with its tracking code) and
counted once in the figures, which equal a clean replay.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from faults.lifecycle import REQUEST, Clients, Load, drive
from faults.processes import Fleet
from faults.verify import (
    clean_replay,
    metrics_caught_up,
    metrics_counters,
    the_log,
    tracking_caught_up,
)
from helpers import TEST_SECRET, eventually, publish_envelopes, read_topic, settings_for
from stackfixtures import PrivateStack
from unit.tracking.tracking_stories import submitted

from contracts.envelope import Envelope
from contracts.facts import Role
from contracts.topics import Topics
from services.common.auth import issue_token
from services.common.settings import CommonSettings
from services.common.store import OUT_OF_SPACE, OUT_OF_SPACE_RETRY_S, make_client, service_db
from services.lifecycle.history import History
from services.tracking.store import CODES_COLLECTION, view_of

SERVICES = ("intake", "routing", "tracking", "metrics")
DISK_MB = 32
"""The store's disk. Once the cases flow, a ballast file takes all of it but `LEFT_KB`, which
the store's writes fill within moments."""
LEFT_KB = 64
UNDER_LOAD_S = 2.0
GROWN_MB = 256
CASES = 20
FULL_FOR_S = 4.0
"""How long the disk stays full once a write was refused: the services must wait it out."""


ARRIVING = 10
"""Cases whose first events reach the log at each look at the services' readiness while the
disk is full (as they would in a storm): a consumer says it cannot write once a write of its
own is refused, and SQLite takes writes into the room its write-ahead log already holds until
that is spent, which for a busy service may take many."""
OPEN311_REQUEST = {
    "api_key": issue_token(TEST_SECRET, "city-app", Role.OFFICER, kind="api_key"),
    "service_code": "traffic-signals", "lat": "34.7995", "long": "113.6390",
    "attribute[signal_state]": "dark",
    "description": "沙口路王府坟菜市场门口的红绿灯不亮了。"}


@pytest.fixture
def store_disk_mb() -> int:
    return DISK_MB


def arriving_while_full(first: int, cases: int) -> list[Envelope]:
    at = datetime.now(UTC)
    return [envelope for number in range(first, first + cases)
            for envelope in History(f"ZB{at:%y%m%d}-FULL-{number:04d}")
            .given(at, submitted(f"ZB{at:%y%m%d}-FULL-{number:04d}")).envelopes]


def free_bytes(stack: PrivateStack) -> int:
    assert stack.disk is not None
    used, total = stack.disk.usage()
    return total - used


async def a_submission(http: httpx.AsyncClient) -> httpx.Response:
    return await http.post("/api/cases", json=REQUEST,
                           headers={"Idempotency-Key": f"probe-{uuid.uuid4().hex[:8]}"})


async def codes_known(settings: CommonSettings) -> dict[str, str]:
    """Tracking's tracking codes: code hash → case id."""
    client = make_client(settings)
    try:
        codes = service_db(client, settings, "tracking")[CODES_COLLECTION]
        return {entry["_id"]: entry["case_id"] async for entry in codes.find({})}
    finally:
        await client.close()


async def test_a_full_store_disk_refuses_writes_clearly_and_catches_up_when_space_returns(
        small_disk_stack: PrivateStack, tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:8]
    settings: CommonSettings = settings_for(small_disk_stack.info.bootstrap_servers,
                                            small_disk_stack.info.mongo_url, f"d{token}.",
                                            f"zd_{token}")
    started = time.monotonic()
    load = Load()
    found: dict[str, Any] = {}
    async with Fleet(settings, tmp_path / "logs", names=SERVICES) as fleet:
        clients = Clients(fleet["intake"].url, fleet["routing"].url)
        found["free_at_start_mb"] = round(free_bytes(small_disk_stack) / 2**20, 1)

        async def fill_then_give_space_back() -> None:
            assert small_disk_stack.disk is not None
            await asyncio.sleep(UNDER_LOAD_S)
            small_disk_stack.disk.fill(leave_bytes=LEFT_KB * 1024)
            found["filled_at_s"] = round(time.monotonic() - started, 1)
            async with httpx.AsyncClient(base_url=fleet["intake"].url, timeout=30) as http:
                async def refused() -> httpx.Response | None:
                    answer = await a_submission(http)
                    found["last_probe"] = f"{answer.status_code} {answer.text[:200]}"
                    return answer if answer.status_code == 503 else None

                refusal = await eventually(refused, timeout=60, every=0.5,
                                           what="a submission refused on a full disk")
                found["full_after_s"] = round(time.monotonic() - started, 1)
                found["free_when_full_kb"] = free_bytes(small_disk_stack) // 1024
                found["refusal"] = {"status": refusal.status_code,
                                    "retry_after": refusal.headers.get("retry-after"),
                                    "body": refusal.json()}
                # events Kafka takes while the disk is full: every consumer must write them,
                # and says it cannot meanwhile
                arrived = 0

                async def all_cannot_write() -> dict[str, int | None] | None:
                    nonlocal arrived
                    answers = found["readiness_last"] = await fleet.readiness()
                    if set(answers.values()) == {503}:
                        return answers
                    await publish_envelopes(settings, arriving_while_full(arrived, ARRIVING))
                    arrived += ARRIVING
                    return None

                found["readiness_full"] = await eventually(
                    all_cannot_write, timeout=30, every=0.5,
                    what="every service to say it cannot write")
                found["arrived_while_full"] = arrived
                answers: Counter[str] = Counter()
                until = time.monotonic() + FULL_FOR_S
                while time.monotonic() < until:  # a resident who keeps trying meanwhile
                    answer = await a_submission(http)
                    answers[f"{answer.status_code} {answer.headers.get('retry-after')} "
                            f"{answer.json().get('error')}"] += 1
                    await asyncio.sleep(0.5)
                found["submissions_while_full"] = dict(answers)
                # an Open311 client: the spec's "general service error", with Retry-After
                answer = await http.post("/open311/v2/requests.json", data=OPEN311_REQUEST)
                found["open311_while_full"] = (answer.status_code,
                                               answer.headers.get("retry-after"), answer.json())
                small_disk_stack.grow_store_disk(GROWN_MB)
                grown = time.monotonic()

                found["readiness_grown"] = await eventually(
                    lambda: fleet.all_say(200), timeout=60, what="every service ready again")
                accepted = await http.post("/api/cases", json=REQUEST)
                found["accepted_after_growth"] = accepted.status_code
                found["ready_after_growth_s"] = round(time.monotonic() - grown, 1)

        try:
            filling = asyncio.create_task(fill_then_give_space_back())
            driven = await drive(load, clients, CASES, workers=8, key_prefix="disk",
                                 within_s=150, until=filling)
            await filling
        finally:
            await clients.aclose()
            print("\nFULL DISK", json.dumps(found, ensure_ascii=False))
        refusal = found["refusal"]
        assert refusal["retry_after"], refusal
        assert "space" in refusal["body"]["error"], refusal
        assert found["accepted_after_growth"] == 201
        assert all(s.starts == 1 and s.alive() for s in fleet.services.values())  # no restart
        assert not load.unexpected, load.unexpected[:5]  # no 500, no refusal a client can't fix
        assert "500" not in load.tally.answers, load.tally.figures()
        assert list(found["submissions_while_full"]) == [
            f"503 {OUT_OF_SPACE_RETRY_S} {OUT_OF_SPACE}"], found["submissions_while_full"]
        assert not load.retry_after_missing, load.tally.figures()
        # An Open311 request without a key needs no store write before its answer while
        # intake holds case numbers (and their data keys) reserved ahead: it is recorded in
        # the log, which is not on the full disk. Once the reserve is spent it gets the
        # spec's "general service error" with Retry-After.
        status, retry_after, body = found["open311_while_full"]
        if status == 201:
            open311_case = body[0]["service_request_id"]
            load.submitted.add(open311_case)  # told "accepted": it must be in the log
        else:
            assert (status, retry_after, body) == (400, str(OUT_OF_SPACE_RETRY_S), [
                {"code": 400, "description": OUT_OF_SPACE}]), found["open311_while_full"]
        assert not load.stuck, f"{len(load.stuck)} cases stuck: {list(load.stuck.items())[:5]}"
        assert len(load.resolved) == driven >= CASES
        log = await the_log(settings)
        lost = load.submitted - log.cases
        assert not lost, f"{len(lost)} accepted cases are not in the log"
        assert log.resolved == load.resolved
        live = await tracking_caught_up(settings, log)
        assert set(live) == log.cases
        # each resident can follow their case with their code
        assert await codes_known(settings) == {
            view_of(doc).tracking_code_hash: case_id  # type: ignore[union-attr]
            for case_id, doc in live.items()}
        async with httpx.AsyncClient(base_url=fleet["metrics"].url, timeout=10) as http:
            summary = await metrics_caught_up(http, log)
        live_counters = await metrics_counters(settings)
        errors = {name: service.logged_errors() for name, service in fleet.services.items()}
        assert not any(errors.values()), {k: v[:3] for k, v in errors.items() if v}

    topics = Topics(settings.topic_prefix)
    letters = {name: await read_topic(settings.kafka_bootstrap, topics.dead_letter(name))
               for name in SERVICES}
    assert not any(letters.values()), {k: len(v) for k, v in letters.items()}
    replayed = await clean_replay(settings)
    assert replayed.tracking == live
    assert replayed.counters == live_counters
    print("\nFAULT FIGURES", json.dumps({
        "test": "store disk full", "disk_mb": DISK_MB, "cases": driven, "events": log.events,
        "lost": len(lost), "double_counted": summary["received"] - len(log.cases), **found,
        "client": load.tally.figures(), "503s": load.refused_503,
        "seconds": round(time.monotonic() - started, 1)}, ensure_ascii=False))
