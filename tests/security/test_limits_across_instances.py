"""Limits that hold across instances: intake in two copies on the real stack, one client.

A resident spreading submissions over both copies gets in as often as at one (the
count is kept in the store, `services/common/quotas.py`), and an Open311 partner
whose api key was issued with a quota (`zaiban token issue --api-key --per-minute N`)
gets that quota, not a resident's limit, across both. Operators see the refusals on
/metrics, by whose limit and by which line refused them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from helpers import TEST_SECRET, read_events, running
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient
from security.public_entry import PNG, SUBMISSION, client

from contracts.facts import Role
from services.common import quotas
from services.common.auth import issue_token
from services.common.http import build_app
from services.common.quotas import COLLECTION, Cells, StoredCells
from services.common.settings import CommonSettings
from services.composition import build
from services.intake.service import IntakeService

RESIDENT = {"submit_rate_per_minute": 20.0, "submit_burst": 10}  # the defaults
ADDRESS = "198.51.100.7"


@asynccontextmanager
async def two_intakes(settings: CommonSettings, address: str = ADDRESS
                      ) -> AsyncIterator[tuple[list[IntakeService], list[httpx.AsyncClient]]]:
    """Two copies of intake built from the same settings, and a client of each from one
    address (as a load balancer would spread one client's requests); their limits' clocks
    stopped (`stop_the_clocks`)."""
    shared = CommonSettings(**{**settings.model_dump(), **RESIDENT})
    copies = [cast(IntakeService, build("intake", shared)) for _ in range(2)]
    stop_the_clocks(copies)
    async with running(*copies):
        apps = [build_app([copy], title=f"intake {n}") for n, copy in enumerate(copies)]
        async with client(apps[0], address) as first, client(apps[1], address) as second:
            yield copies, [first, second]


def stop_the_clocks(copies: list[IntakeService]) -> None:
    """The limits' clocks stopped in every copy (each limit's own bucket's, and the count in
    the store's, shared by the copy's limits): a burst meets no refill, however slowly a
    loaded machine sends it, so what it gets in is the burst, exactly. (At 20 a minute the
    count gives a new place every 3 s: a full CI run once let an eleventh in.)"""
    wall, monotonic = time.time(), time.monotonic()
    for copy in copies:
        for limit in (copy.submission_limit, copy.upload_limit):
            limit.local.clock = lambda: monotonic
            assert limit.cells is not None
            limit.cells.now = lambda: wall


async def spread(clients: list[httpx.AsyncClient], count: int, path: str,
                 **request: Any) -> list[httpx.Response]:
    """`count` requests sent at once, taking turns over `clients`."""
    return list(await asyncio.gather(*(clients[n % len(clients)].post(path, **request)
                                       for n in range(count))))


def statuses(answers: list[httpx.Response]) -> list[int]:
    return sorted(answer.status_code for answer in answers)


async def refused(http: httpx.AsyncClient, whose: str, line: str) -> float:
    """zaiban_limit_refused_total of submissions, as Prometheus reads it off /metrics."""
    text = (await http.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "zaiban_limit_refused_total" and sample.labels == {
                    "what": "submissions", "whose": whose, "line": line}:
                return float(sample.value)
    return 0.0


def open311_form(api_key: str) -> dict[str, str]:
    return {"api_key": api_key, "service_code": "water", "attribute[district]": "jinshui",
            "address_string": "花园路88号", "description": "花园路停水两天了，请尽快处理。"}


@pytest.fixture
def patient_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared count given the time it needs. These tests prove that the count is shared;
    on a loaded machine a first claim on a fresh collection can outlast the production
    budget (`quotas.STORE_BUDGET_S`, 1 s), after which a copy fails open and counts alone:
    the path `test_when_the_store_cannot_count...` proves on its own."""
    monkeypatch.setattr(quotas, "STORE_BUDGET_S", 30.0)


async def test_a_client_spreading_submissions_over_two_instances_gets_in_as_often_as_at_one(
        settings: CommonSettings, patient_count: None) -> None:
    async with two_intakes(settings) as (copies, clients):
        before = await refused(clients[0], "address", "shared")
        answers = await spread(clients, 20, "/api/cases", json=SUBMISSION)
        # one instance lets in its burst of ten, and the eleventh waits: so do two together
        assert statuses(answers) == [201] * 10 + [429] * 10
        waits = [answer for answer in answers if answer.status_code == 429]
        assert all(1 <= int(a.headers["Retry-After"]) <= 3 for a in waits)
        assert all("too many submissions from your address" in a.json()["error"] for a in waits)
        # each copy's own bucket let its ten through: the count in the store refused them
        assert await refused(clients[1], "address", "shared") - before == 10
        # and that count does not hold the resident's address, only a keyed hash of it
        kept = [doc["_id"] async for doc in copies[0].rate_cells.collection.find({})]
        assert kept and not any(ADDRESS in cell for cell in kept)

        # other residents, at either copy, are not held back by their neighbour
        apps = [build_app([copy], title="intake") for copy in copies]
        async with client(apps[0], "203.0.113.20") as other, \
                client(apps[1], "203.0.113.21") as third:
            assert statuses(await spread([other, third], 2, "/api/cases",
                                         json=SUBMISSION)) == [201, 201]

        # photos have a limit of their own, shared too
        photo = {"photo": ("p.png", PNG, "image/png")}
        uploads = await spread(clients, 12, "/api/media", files=photo)
        assert statuses(uploads) == [201] * 10 + [429] * 2

        received = await read_events(settings, min_count=12)  # 10 of one resident, 2 others
        assert [e.type for e in received] == ["CaseSubmitted"] * 12


async def test_an_api_key_with_a_quota_brings_in_a_district_across_both_instances(
        settings: CommonSettings, patient_count: None) -> None:
    """A partner app issued `--per-minute 600` brings in 100 requests at once through both
    copies without a 429; the resident limit of its address is untouched by them."""
    partner = issue_token(TEST_SECRET, "district-app", Role.OFFICER, kind="api_key",
                          per_minute=600)
    async with two_intakes(settings) as (_, clients):
        answers = await spread(clients, 100, "/open311/v2/requests.json",
                               data=open311_form(partner))
        assert statuses(answers) == [201] * 100, answers[-1].text
        # the partner's requests were not counted against its address: a resident there
        # still has a resident's burst
        resident = await spread(clients, 11, "/api/cases", json=SUBMISSION)
        assert statuses(resident) == [201] * 10 + [429]
        received = await read_events(settings, min_count=110)
        assert sum(e.data.get("channel") == "open311" for e in received) == 100


async def test_a_keys_quota_holds_across_both_instances_and_each_key_has_its_own(
        settings: CommonSettings, patient_count: None) -> None:
    small = issue_token(TEST_SECRET, "school-app", Role.OFFICER, kind="api_key", per_minute=30)
    other = issue_token(TEST_SECRET, "clinic-app", Role.OFFICER, kind="api_key", per_minute=30)
    async with two_intakes(settings) as (_, clients):
        before = await refused(clients[0], "api_key", "shared")
        answers = await spread(clients, 40, "/open311/v2/requests.json",
                               data=open311_form(small))
        assert statuses(answers) == [201] * 30 + [429] * 10  # its quota, once for both
        over = next(answer for answer in answers if answer.status_code == 429)
        assert 1 <= int(over.headers["Retry-After"]) <= 2  # 30 a minute: a cell every 2 s
        assert over.json()[0]["code"] == 429  # Open311's error format
        assert "with this api_key (its quota: 30 a minute)" in over.json()[0]["description"]
        assert await refused(clients[1], "api_key", "shared") - before == 10

        # another key, another quota
        assert statuses(await spread(clients, 2, "/open311/v2/requests.json",
                                     data=open311_form(other))) == [201, 201]


async def test_a_key_issued_without_a_quota_is_limited_like_a_resident(
        settings: CommonSettings, patient_count: None) -> None:
    plain = issue_token(TEST_SECRET, "city-app", Role.OFFICER, kind="api_key")
    async with two_intakes(settings) as (_, clients):
        answers = await spread(clients, 12, "/open311/v2/requests.json", data=open311_form(plain))
        assert statuses(answers) == [201] * 10 + [429] * 2
        # and it shares its address's bucket with the JSON API
        assert statuses(await spread(clients, 1, "/api/cases", json=SUBMISSION)) == [429]


async def test_when_the_store_cannot_count_a_resident_still_gets_in_up_to_the_instance_limit(
        settings: CommonSettings) -> None:
    """Fail open: the count in the store cannot be kept (its server does not answer), and
    submission goes on; each copy's own bucket still holds, and no one waits long."""
    nowhere: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:9/", serverSelectionTimeoutMS=30_000)  # nothing listens there
    async with two_intakes(settings) as (copies, clients):
        away = Cells(StoredCells(nowhere["zaiban_intake"][COLLECTION]),
                     secret=TEST_SECRET.get_secret_value().encode())
        copies[0].submission_limit.cells = away  # the count is out of reach for this copy
        started = time.monotonic()
        answers = await spread(clients[:1], 11, "/api/cases", json=SUBMISSION)
        assert statuses(answers) == [201] * 10 + [429]
        assert time.monotonic() - started < 10  # the store's budget, not its 30 s timeout
        text = (await clients[0].get("/metrics")).text
        assert 'zaiban_limit_store_unavailable_total{what="submissions"}' in text
    await nowhere.close()


async def test_past_cells_are_swept_where_the_store_has_no_ttl_index(
        settings: CommonSettings) -> None:
    store: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url)
    cells = StoredCells(store[settings.database("intake")][COLLECTION])
    try:
        if await cells.expire_by_ttl():
            return  # MongoDB deletes them itself
        now = datetime.now(UTC)
        await cells.collection.insert_many([
            {"_id": "submit@20|gone|1", "expires": now - timedelta(seconds=1)},
            {"_id": "submit@20|kept|2", "expires": now + timedelta(seconds=60)}])
        assert await cells.sweep() == 1
        assert [doc["_id"] async for doc in cells.collection.find({})] == ["submit@20|kept|2"]
    finally:
        await store.close()
