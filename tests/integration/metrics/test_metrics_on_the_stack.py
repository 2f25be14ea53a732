"""Metrics on the real stack: histories go into the case event log, figures come out.

Each story publishes case histories recorded with `Case.record` (as intake and
routing record them), runs the metrics service against Kafka and the document
store, and reads the figures over HTTP, as the public dashboard does.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from helpers import (
    as_admin,
    client_for,
    dead_letter_reasons,
    every_record,
    publish_envelopes,
    publish_raw,
    read_topic,
    running,
)
from helpers import (
    figures_caught_up as caught_up,
)
from unit.metrics.metrics_stories import city_of_cases, lean_cases

from contracts.envelope import Envelope
from contracts.topics import Topics
from services.common.settings import CommonSettings
from services.composition import app_of, build
from services.metrics.ledger import fold_envelopes
from services.metrics.periods import period_of
from services.metrics.reading import CountedDelivery, read_counted
from services.metrics.replay import rebuild
from services.metrics.report import Figures
from services.metrics.service import MetricsService, city_timezone, figure_store
from services.metrics.settings import MetricsSettings
from services.metrics.store import ConcurrentWriters, FigureStore

pytestmark = pytest.mark.stack

DIMENSIONS = ("category", "district", "channel", "department", "day")


@pytest_asyncio.fixture(loop_scope="session")
async def metrics(settings: CommonSettings) -> AsyncIterator[MetricsService]:
    service = build("metrics", settings)
    async with running(service):
        yield service


@pytest_asyncio.fixture(loop_scope="session")
async def http(metrics: MetricsService) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app_of(metrics)) as client:
        yield client


async def everything(http: httpx.AsyncClient) -> dict[str, Any]:
    """Every figure the API publishes (without the log positions)."""
    summary = (await http.get("/api/stats/summary")).json()
    summary.pop("positions")
    found: dict[str, Any] = {"summary": summary}
    for dimension in DIMENSIONS:
        found[dimension] = (await http.get(f"/api/stats/breakdown/{dimension}")).json()
    found["ranking"] = (await http.get("/api/stats/ranking")).json()
    return found


async def publish_quickly(settings: CommonSettings, envelopes: list[Envelope]) -> None:
    """Like `helpers.publish_envelopes`, with bigger batches: ~3x faster for 50k events."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=20,
                                max_batch_size=512 * 1024, **as_admin(settings))
    await producer.start()
    try:
        topic = Topics(settings.topic_prefix).case_events
        sent = [await producer.send(topic, e.to_bytes(), key=e.key()) for e in envelopes]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def parsed_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "a byte-order mark, so Excel reads UTF-8"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def race(first: FigureStore, second: FigureStore, deliveries: list[CountedDelivery]) -> None:
    """Two instances (a rebalance) write the same figures, with overlapping batches."""
    batches = [deliveries[i:i + 97] for i in range(0, len(deliveries), 97)]
    overlapping = [deliveries[max(0, i - 50):i + 61] for i in range(0, len(deliveries), 61)]
    await asyncio.gather(*(first.apply(b) for b in batches),
                         *(second.apply(b) for b in overlapping))


# --- the article's figures ----------------------------------------------------------------------


async def test_4314_cases_received_and_3960_resolved_read_91_8_percent(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    envelopes, expected = city_of_cases(4314, 3960)
    started = time.perf_counter()
    await publish_envelopes(settings, envelopes)
    summary = await caught_up(http, settings, timeout=120)
    print(f"\n4,314 cases, {len(envelopes)} events: published and counted in "
          f"{time.perf_counter() - started:.1f}s")

    assert (summary["received"], summary["resolved"]) == (4314, 3960)
    assert summary["resolution_rate_pct"] == 91.8
    assert summary["resolution_rate_whole"] == 92
    assert summary["resolution_rate"] == 3960 / 4314
    assert summary["on_time"] == expected.on_time
    assert (summary["feedback"], summary["satisfied"]) == (expected.feedback, expected.satisfied)
    assert summary["first_response"]["cases"] >= 3960
    assert summary["resolution_time"]["cases"] == 3960
    assert 0 < summary["first_response"]["median_h"] < summary["resolution_time"]["median_h"]

    # a breakdown sums to the total, and its CSV says the same as its JSON
    for dimension in ("category", "department"):
        table = (await http.get(f"/api/stats/breakdown/{dimension}", params={"lang": "en"})).json()
        assert sum(row["received"] for row in table["rows"]) == 4314
        assert sum(row["resolved"] for row in table["rows"]) == 3960
        exported = await http.get(f"/api/stats/breakdown/{dimension}.csv", params={"lang": "en"})
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        rows = parsed_csv(exported.content)
        assert [r["code"] for r in rows] == [r["code"] for r in table["rows"]]
        for line, row in zip(rows, table["rows"], strict=True):
            assert line["name"] == row["name"]
            for field in ("received", "resolved", "on_time", "feedback", "satisfied"):
                assert int(line[field]) == row[field]
            assert line["resolution_rate_pct"] == (
                "" if row["resolution_rate_pct"] is None else str(row["resolution_rate_pct"]))
    zh = (await http.get("/api/stats/breakdown/category.csv", params={"lang": "zh-Hant"})).content
    assert "交通號誌燈" in zh.decode("utf-8-sig")

    ranked = (await http.get("/api/stats/ranking")).json()["departments"]
    assert len(ranked) == 9 and ranked[0]["rank"] == 1
    rates = [d["resolution_rate"] for d in ranked]
    assert rates == sorted(rates, reverse=True)


async def test_30148_cases_received_and_25807_resolved_read_85_6_percent(
        settings: CommonSettings) -> None:
    made = time.perf_counter()
    envelopes, _ = lean_cases(30148, 25807)
    started = time.perf_counter()
    await publish_quickly(settings, envelopes)
    published = time.perf_counter()
    service = build("metrics", settings)  # started after the log is full: counting alone is timed
    async with running(service), client_for(app_of(service)) as http:
        summary = await caught_up(http, settings, timeout=240)
        counted = time.perf_counter()
        sizes = await service.store.sizes()
    print(f"\n30,148 cases, {len(envelopes)} events: made in {started - made:.1f}s, published in "
          f"{published - started:.1f}s, counted in {counted - published:.1f}s; "
          f"stored bytes {sizes}")

    assert (summary["received"], summary["resolved"]) == (30148, 25807)
    assert (summary["resolution_rate_pct"], summary["resolution_rate_whole"]) == (85.6, 86)


# --- exactness -----------------------------------------------------------------------------------


async def test_the_same_events_published_twice_or_read_twice_change_no_figure(
        settings: CommonSettings, http: httpx.AsyncClient, metrics: MetricsService) -> None:
    envelopes, _ = city_of_cases(400, 300, seed=2)
    await publish_envelopes(settings, envelopes)
    await caught_up(http, settings)
    before = await everything(http)
    assert before["summary"]["received"] == 400 and before["summary"]["resolved"] == 300

    # given every event recorded a second time (a relay that sent its outbox again)
    await publish_envelopes(settings, envelopes)
    await caught_up(http, settings)
    assert await everything(http) == before

    # given the consumer reading the whole log once more (a crash before committing)
    applied = await metrics.store.apply(await every_record(settings, read_counted))
    assert applied.applied == 0 and applied.redelivered == 2 * len(envelopes)
    assert await everything(http) == before


async def test_two_writers_racing_and_a_batch_after_a_hole_still_count_each_event_once(
        settings: CommonSettings) -> None:
    envelopes, _ = city_of_cases(300, 200, seed=3)
    await publish_envelopes(settings, envelopes)
    deliveries = await every_record(settings, read_counted)
    truth = fold_envelopes(envelopes, city_timezone(settings)).counters

    service = build("metrics", settings)  # not started: only its store and database are used
    metrics = MetricsSettings.from_common(settings)
    tz = city_timezone(settings)
    try:
        first = figure_store(service.db["figures_race"], metrics, tz)
        await race(first, figure_store(service.db["figures_race"], metrics, tz), deliveries)
        assert await first.counters() == truth

        # a writer whose next batch starts after a hole reads the hole from the log
        late = figure_store(service.db["figures_hole"], metrics, tz)
        last_of_each = {}
        for delivery in deliveries:
            last_of_each[delivery.partition] = delivery
        applied = await late.apply(list(last_of_each.values()))
        assert applied.gap_records == len(deliveries) - len(last_of_each)
        assert await late.counters() == truth
    finally:
        await service.mongo.close()


async def test_an_unreadable_record_is_dead_lettered_and_the_figures_go_on_past_it(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    envelopes, expected = city_of_cases(40, 30, seed=6)
    first, second = envelopes[:70], envelopes[70:]
    topics = Topics(settings.topic_prefix)
    await publish_envelopes(settings, first)
    # garbage in the partition of a case still to come, and nothing after it for now
    await publish_raw(settings.kafka_bootstrap, topics.case_events, [b"{not an envelope"],
                      key=second[-1].key())
    letters = await read_topic(settings.kafka_bootstrap, topics.dead_letter("metrics"),
                               min_count=1)
    assert "invalid" in dead_letter_reasons(letters)[0]

    # the next batch of that partition starts after a hole: it is read and passed over
    await publish_envelopes(settings, second)
    summary = await caught_up(http, settings)
    assert (summary["received"], summary["resolved"]) == (expected.received, expected.resolved)
    assert "zaiban_metrics_dead_letters_total" in (await http.get("/metrics")).text


async def test_a_replay_rebuilds_the_same_figures_while_the_service_runs(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    envelopes, _ = city_of_cases(300, 250, seed=4)
    await publish_envelopes(settings, envelopes[:600])
    await caught_up(http, settings)
    rebuilt = asyncio.create_task(rebuild(settings))
    await publish_envelopes(settings, envelopes[600:])
    report = await rebuilt
    assert report.events >= 600
    await caught_up(http, settings)
    live = await everything(http)
    assert live["summary"]["received"] == 300 and live["summary"]["resolved"] == 250
    expected = Figures.of(fold_envelopes(envelopes, city_timezone(settings)).counters).overall()
    assert live["summary"]["on_time"] == expected.on_time
    assert live["summary"]["satisfied"] == expected.satisfied


# --- the API -------------------------------------------------------------------------------------


async def test_names_come_in_the_readers_language_and_bad_questions_are_named(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    envelopes, _ = city_of_cases(50, 40, seed=5)
    await publish_envelopes(settings, envelopes)
    await caught_up(http, settings)

    def names(body: dict[str, Any]) -> dict[str, str]:
        return {row["code"]: row["name"] for row in body["rows"]}

    simplified = names((await http.get("/api/stats/breakdown/category")).json())
    traditional = names((await http.get("/api/stats/breakdown/category?lang=zh-Hant")).json())
    english = names((await http.get("/api/stats/breakdown/department?lang=en")).json())
    assert simplified["traffic-signals"] == "交通信号灯"
    assert traditional["traffic-signals"] == "交通號誌燈"
    assert english["signal-co"] == "Traffic Signal Company"

    wrong_dimension = await http.get("/api/stats/breakdown/colour")
    assert wrong_dimension.status_code == 422 and "dimension" in wrong_dimension.json()["error"]
    wrong_csv = await http.get("/api/stats/breakdown/colour.csv")
    assert wrong_csv.status_code == 422 and "dimension" in wrong_csv.json()["error"]
    wrong_language = await http.get("/api/stats/ranking?lang=fr")
    assert wrong_language.status_code == 422 and "lang" in wrong_language.json()["error"]
    wrong_order = await http.get("/api/stats/ranking?by=speed")
    assert wrong_order.status_code == 422 and "by" in wrong_order.json()["error"]

    definitions = (await http.get("/api/stats/definitions?lang=zh-Hant")).json()
    assert {"code": "resolution_rate", "name": "辦結率",
            "definition": "resolved / received."} in definitions

    prometheus = (await http.get("/metrics")).text
    assert 'zaiban_figures_cases{figure="received"} 50.0' in prometheus
    assert "zaiban_metrics_events_total" in prometheus
    # every answer is counted by its route's template, not by the raw path
    assert 'zaiban_http_requests_total{method="GET",route="/api/stats/definitions",status="200"}' \
        in prometheus


async def test_no_personal_data_reaches_the_figures(settings: CommonSettings,
                                                    http: httpx.AsyncClient) -> None:
    from unit.tracking.tracking_stories import EMAIL, NAME, PHONE, PRIVATE_ADDRESS, reference_case

    story = reference_case("ZB261006-MTRX-0001")
    await publish_envelopes(settings, list(story.envelopes))
    summary = await caught_up(http, settings)
    assert (summary["received"], summary["resolved"]) == (1, 1)
    answers = [(await http.get(path)).text for path in (
        "/api/stats/summary", "/api/stats/ranking", "/metrics",
        *(f"/api/stats/breakdown/{d}" for d in DIMENSIONS),
        *(f"/api/stats/breakdown/{d}.csv" for d in DIMENSIONS))]
    for private in (NAME, PHONE, EMAIL, PRIVATE_ADDRESS, "ZB261006-MTRX-0001"):
        assert not any(private in answer for answer in answers)


# --- figures by period ----------------------------------------------------------------------------


def cases_submitted_in(envelopes: list[Envelope], month: str, tz: Any) -> list[Envelope]:
    """The events of the cases submitted in `month` (city time): what its figures recount."""
    from services.metrics.marks import city_day

    return [e for e in envelopes if city_day(e.facts.submitted_at, tz)[:7] == month]


async def test_a_months_figures_recount_its_cases_and_the_months_sum_to_all_time(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    envelopes, _ = city_of_cases(360, 280, seed=41)  # submitted 2026-08-13 .. 2026-10-12
    tz = city_timezone(settings)
    await publish_envelopes(settings, envelopes)
    await caught_up(http, settings)
    whole = (await http.get("/api/stats/summary")).json()
    assert whole["period"] == {"from": None, "to": None} and whole["received"] == 360

    months = ("2026-08", "2026-09", "2026-10")
    summed: dict[str, int] = {}
    for month in months:
        truth = Figures.of(fold_envelopes(cases_submitted_in(envelopes, month, tz), tz).counters)
        summary = (await http.get("/api/stats/summary", params={"period": month})).json()
        assert summary["period"]["from"] == f"{month}-01"
        expected = truth.overall()
        for field in ("received", "resolved", "on_time", "feedback", "satisfied", "open",
                      "reopened"):
            assert summary[field] == getattr(expected, field), (month, field)
            summed[field] = summed.get(field, 0) + summary[field]
        assert summary["resolution_time"] == expected.resolution_time.model_dump()
        by_category = (await http.get("/api/stats/breakdown/category",
                                      params={"from": month, "to": month})).json()
        assert {r["code"]: r["received"] for r in by_category["rows"] if r["received"]} == {
            code: row.received for code, row in truth.breakdown("category") if row.received}
        days = (await http.get("/api/stats/breakdown/day", params={"period": month})).json()
        assert days["rows"] and all(r["code"].startswith(month) for r in days["rows"])
        exported = parsed_csv((await http.get("/api/stats/breakdown/department.csv",
                                              params={"period": month})).content)
        assert sum(int(line["received"]) for line in exported) == expected.received
    for field, total in summed.items():
        assert total == whole[field], field

    # the quarter is its months; a year with no case has no figures
    q3 = (await http.get("/api/stats/summary", params={"period": "2026-Q3"})).json()
    assert q3["received"] == sum(
        1 for e in envelopes if e.type == "CaseSubmitted"
        and e.facts.submitted_at.astimezone(tz).month in (8, 9))
    assert (await http.get("/api/stats/summary", params={"period": "2025"})).json()[
        "received"] == 0

    # the ranking of a month leaves out the departments with too few cases in it, and says so
    ranked = (await http.get("/api/stats/ranking", params={"period": "2026-10"})).json()
    october = (await http.get("/api/stats/breakdown/department",
                              params={"period": "2026-10"})).json()
    few = {r["code"]: r["received"] for r in october["rows"]
           if 0 < r["received"] < 10 and r["code"] != "_none"}
    assert few, "the story has departments with fewer than 10 cases in October"
    assert ranked["min_cases"] == 10
    assert {s["code"]: s["received"] for s in ranked["skipped"]} == few
    assert all(d["received"] >= 10 for d in ranked["departments"])
    assert "fewer than 10" in ranked["skipped"][0]["reason"]


async def test_the_same_events_twice_change_no_figure_of_any_period(
        settings: CommonSettings, http: httpx.AsyncClient, metrics: MetricsService) -> None:
    envelopes, _ = city_of_cases(200, 150, seed=42)
    await publish_envelopes(settings, envelopes)
    await caught_up(http, settings)

    async def by_period() -> list[dict[str, Any]]:
        answers = []
        for period in ("2026-08", "2026-09", "2026-Q4", "2026"):
            body = (await http.get("/api/stats/breakdown/department",
                                   params={"period": period})).json()
            answers.append(body)
        return answers

    before = await by_period()
    assert sum(answer["received"] for answer in before[:3]) == 200
    await publish_envelopes(settings, envelopes)  # a relay sending its outbox again
    await caught_up(http, settings)
    assert await by_period() == before
    await metrics.store.apply(await every_record(settings, read_counted))  # the log read once more
    assert await by_period() == before


async def test_racing_writers_and_a_replay_keep_every_periods_figures(
        settings: CommonSettings) -> None:
    envelopes, _ = city_of_cases(240, 180, seed=43)
    await publish_envelopes(settings, envelopes)
    deliveries = await every_record(settings, read_counted)
    tz = city_timezone(settings)
    truths = {month: fold_envelopes(cases_submitted_in(envelopes, month, tz), tz).counters
              for month in ("2026-08", "2026-09", "2026-10")}
    service = build("metrics", settings)
    metrics = MetricsSettings.from_common(settings)
    try:
        # a writer that stores its months and then never gets its batch counted (it crashes, or
        # loses every race) leaves versions that no one names: they change no figure
        loser = figure_store(service.db["figures_race_days"], metrics, tz)

        async def never_stands(*_: object) -> bool:
            return False

        loser._write = never_stands  # type: ignore[method-assign]
        with pytest.raises(ConcurrentWriters):
            await loser.apply(deliveries[: len(deliveries) // 2])
        assert await loser.days.count_documents({}) > 0

        first = figure_store(service.db["figures_race_days"], metrics, tz)
        await race(first, figure_store(service.db["figures_race_days"], metrics, tz), deliveries)
        for month, truth in truths.items():
            assert await first.counters(period_of(period=month)) == truth, month
    finally:
        await service.mongo.close()

    report = await rebuild(settings)
    assert report.events == len(envelopes)
    service = build("metrics", settings)
    try:
        live = figure_store(service.db[metrics.metrics_collection], metrics, tz)
        for month, truth in truths.items():
            assert await live.counters(period_of(period=month)) == truth, month
    finally:
        await service.mongo.close()


async def test_a_period_that_cannot_be_read_is_refused_naming_its_parameter(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    for path in ("/api/stats/summary", "/api/stats/breakdown/day",
                 "/api/stats/breakdown/day.csv", "/api/stats/ranking"):
        for params, parameter in (({"from": "2026-11", "to": "2026-10"}, "from"),
                                  ({"period": "2026-Q7"}, "period"),
                                  ({"to": "yesterday"}, "to")):
            answer = await http.get(path, params=params)
            assert answer.status_code == 422, (path, params)
            assert f"query.{parameter}" in answer.json()["error"], (path, params)

    # the definitions say how a period selects cases: by the day they were submitted
    definitions = (await http.get("/api/stats/definitions", params={"lang": "en"})).json()
    received = next(d for d in definitions if d["code"] == "received")
    assert "by the day they were submitted" in received["definition"]
