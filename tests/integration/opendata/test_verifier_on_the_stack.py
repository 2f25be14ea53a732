"""The verifier against the metrics service running on the real stack.

The demo city goes into the case event log on Kafka; the metrics service counts it into
the document store; the feed lines are made from the records as the log holds them (their
real partitions and offsets, which the summary's `positions` name), and the verifier reads
lines and figures over HTTP on loopback: every figure must be the metrics service's.
(The open-data service's own feed and days are verified the same way once it runs.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from helpers import client_for, eventually, publish_envelopes, running, serving
from opendatafixtures import (
    DEMO_PUBLISHED_THROUGH,
    TZ,
    OpenDataSite,
    Record,
    demo_records,
    feed_line,
    published_days,
)
from opendatafixtures import serving as serving_site

from services.common.bus import Delivery
from services.common.http import build_app
from services.common.kafka import ADMIN
from services.common.replay import LogReader
from services.common.settings import CommonSettings
from services.composition import app_of, build
from zaiban import verify_open_data as verifier

pytestmark = pytest.mark.stack


@pytest_asyncio.fixture(loop_scope="session")
async def figures(settings: CommonSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The metrics service on the stack, and an HTTP client of its API."""
    service = build("metrics", settings)
    async with running(service), client_for(app_of(service)) as client:
        yield client


async def logged_records(settings: CommonSettings) -> list[Record]:
    """Every record of the case event log, where the log holds it."""
    found: list[Record] = []

    async def keep(deliveries: list[Delivery]) -> int:
        found.extend(Record(d.partition, d.offset, d.envelope) for d in deliveries)
        return 0

    async with LogReader(settings, ADMIN) as reader:
        starts, ends = await reader.bounds()
        await reader.replay(starts, ends, keep)
    return found


async def test_the_demo_city_on_the_stack_verifies_against_the_metrics_service(
        settings: CommonSettings, figures: httpx.AsyncClient) -> None:
    envelopes = [record.envelope for record in demo_records()]
    await publish_envelopes(settings, envelopes)
    records = await logged_records(settings)
    assert len(records) == len(envelopes)
    ends = {str(p): max(r.offset for r in records if r.partition == p)
            for p in {r.partition for r in records}}

    async def counted() -> bool:
        return (await figures.get("/api/stats/summary")).json().get("positions") == ends

    await eventually(counted, timeout=90, what=f"the figures to count the log to {ends}")
    lines = [feed_line(record, TZ) for record in records]
    loop = asyncio.get_running_loop()

    def metrics_api(target: str) -> tuple[int, str, bytes]:
        answer = asyncio.run_coroutine_threadsafe(figures.get(target), loop).result(30)
        return answer.status_code, answer.headers["content-type"], answer.content

    site = OpenDataSite(lines, published_days(lines, DEMO_PUBLISHED_THROUGH),
                        elsewhere=metrics_api)
    with serving_site(site) as city:
        report = await asyncio.to_thread(verifier.verify, city, timezone_name="Asia/Shanghai")
    assert report.ok, verifier.render(report)
    assert report.positions == ends and report.counted_lines == len(records)
    assert len(report.checks) > 2000


async def test_the_demo_city_verifies_through_the_open_data_service_itself(
        settings: CommonSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole path a journalist takes: the demo city in the log, the real metrics and
    open-data services reading it, the open-data service publishing the demo's past days, and
    the verifier reading the days, the feed and the figures over HTTP from one address."""
    monkeypatch.setenv("ZAIBAN_OPENDATA_SETTLE_S", "1")
    monkeypatch.setenv("ZAIBAN_OPENDATA_PUBLISH_EVERY_S", "0.5")
    envelopes = [record.envelope for record in demo_records()]
    await publish_envelopes(settings, envelopes)
    records = await logged_records(settings)
    ends = {str(p): max(r.offset for r in records if r.partition == p)
            for p in {r.partition for r in records}}
    last_demo_day = max(e.recorded_at for e in envelopes).astimezone(TZ).date().isoformat()
    metrics, opendata = build("metrics", settings), build("opendata", settings)
    async with running(metrics), running(opendata), \
            serving(build_app([metrics, opendata], title="a city")) as city, \
            httpx.AsyncClient(base_url=city) as http:

        async def published() -> bool:
            head_day = (await http.get("/open-data/days.json")).json()["head_day"]
            return head_day is not None and head_day >= last_demo_day

        async def counted() -> bool:
            return (await http.get("/api/stats/summary")).json().get("positions") == ends

        await eventually(published, timeout=120, what=f"the days through {last_demo_day}")
        await eventually(counted, timeout=90, what=f"the figures to count the log to {ends}")
        report = await asyncio.to_thread(verifier.verify, city)
        manifest = (await http.get("/open-data/days.json")).json()
    assert report.ok, verifier.render(report)
    assert report.chain_break is None and report.head == manifest["head"]
    assert report.timezone == "Asia/Shanghai"
    assert report.counted_lines == len(records) == len(envelopes)
    assert len(report.days) == len(manifest["days"]) >= 42  # the demo's six weeks, day by day
    assert sum(day["events"] for day in manifest["days"]) >= len(records) * 0.9
