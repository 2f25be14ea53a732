"""Publishing the open data's days on the real store: once, the same whatever happens next,
and in a chain that names the day someone rewrote.

Lines are stored here as the open-data projection stores them (`opendata_events`, one per
case event, its canonical text made once), with its progress (`opendata_progress`); the
publisher is given the case log's end offsets and a clock, and the day routes are read
through HTTP in-process, as a journalist would download them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from helpers import client_for, eventually, settings_for
from pymongo.asynchronous.database import AsyncDatabase
from stackfixtures import Namespace

from contracts.topics import Topics
from services.common.clock import ManualClock
from services.common.http import install_error_handlers
from services.common.kafka import ADMIN, kafka_options
from services.opendata.day_routes import day_routes
from services.opendata.days import (
    GENESIS,
    Break,
    Line,
    Link,
    city_day,
    day_end,
    gzipped,
    line_key,
    ndjson_of,
    sha256_hex,
    verify_chain,
)
from services.opendata.publishing import CaseLogEnds, Publisher, PublishingPolicy
from zaiban.topics import ensure_topics

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = PublishingPolicy(tz=SHANGHAI, grace_s=600, settle_s=30, every_s=0.05)
D = date.fromisoformat
Db = AsyncDatabase[dict[str, Any]]


class Log:
    """The case event log as the publisher sees it, and the projection's lines of it."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.ends: dict[int, int] = {0: 0, 1: 0, 2: 0}

    async def end_offsets(self) -> dict[int, int]:
        return dict(self.ends)

    async def project(self, partition: int, recorded_at: str, *, case: str, type_: str,
                      seq: int, day: date | None = None) -> str:
        """The projection stores the next record of `partition` as a line (day: its city
        day, unless told — a consumer that knew a later day published)."""
        offset = self.ends[partition]
        self.ends[partition] += 1
        at = datetime.fromisoformat(recorded_at)
        line = {"position": f"{partition}:{offset}", "case_id": case, "type": type_,
                "seq": seq, "recorded_at": at.isoformat(),
                "day": (day or city_day(at, SHANGHAI)).isoformat(),
                "what": {"description": "沙口路王府墳菜市場門口紅綠燈不亮"}}
        key = line_key(partition, offset)
        await self.db["opendata_events"].insert_one({
            "_id": key, "partition": partition, "offset": offset, "day": line["day"],
            "recorded_at": at,
            "text": json.dumps(line, ensure_ascii=False, sort_keys=True, separators=(",", ":"))})
        await self.db["opendata_progress"].replace_one(
            {"_id": str(partition)}, {"offset": offset, "at": at}, upsert=True)
        return key


async def the_reference_case(log: Log) -> None:
    """10-06 submitted and accepted, 10-07 routed, 10-08 nothing, 10-09 resolved (city time;
    the 10-07 record at 23:59:59.5 in Shanghai is 15:59 UTC)."""
    await log.project(1, "2026-10-06T09:00:00+08:00", case="ZB-1", type_="CaseSubmitted", seq=1)
    await log.project(1, "2026-10-06T11:30:00+08:00", case="ZB-1", type_="CaseAccepted", seq=2)
    await log.project(0, "2026-10-06T11:30:00+08:00", case="ZB-2", type_="CaseSubmitted", seq=1)
    await log.project(1, "2026-10-07T23:59:59.500+08:00", case="ZB-1", type_="CaseRouted",
                      seq=3)
    await log.project(1, "2026-10-09T10:00:00+08:00", case="ZB-1", type_="CaseResolved", seq=4)


def after_day(day: str, seconds: float = 700) -> datetime:
    return day_end(D(day), SHANGHAI) + timedelta(seconds=seconds)


def publisher(db: Db, log: Log, now: datetime) -> Publisher:
    return Publisher(db, POLICY, ManualClock(now), log.end_offsets)


def routes_app(db: Db) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(day_routes(db, "Asia/Shanghai"))
    return app


async def stored(db: Db) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    days = [doc async for doc in db["opendata_days"].find({})]
    files = [doc async for doc in db["opendata_files"].find({})]
    return (sorted(days, key=lambda d: d["_id"]), sorted(files, key=lambda d: d["_id"]))


async def download(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[date, bytes]]:
    """What a verifier downloads: the manifest, and every day's file, uncompressed."""
    manifest = (await client.get("/open-data/days.json")).json()
    files = {}
    for entry in manifest["days"]:
        answer = await client.get(entry["file"])
        assert answer.status_code == 200, answer.text
        files[D(entry["day"])] = gzip.decompress(answer.content)
    return manifest, files


REFERENCE_DAYS = [D("2026-10-06"), D("2026-10-07"), D("2026-10-08"), D("2026-10-09")]


async def published_reference_case(db: Db) -> tuple[Log, datetime, Publisher]:
    """The reference case projected, and its days published by a publisher (returned)."""
    log = Log(db)
    await the_reference_case(log)
    now = after_day("2026-10-09")
    first = publisher(db, log, now)
    assert await first.publish_due(now) == REFERENCE_DAYS
    return log, now, first


def links_of(manifest: dict[str, Any]) -> list[Link]:
    return [Link(D(e["day"]), e["sha256"], e["previous"], e["head"]) for e in manifest["days"]]


async def test_each_day_is_published_once_and_publishing_again_or_after_a_restart_changes_nothing(
        db: Db) -> None:
    log, now, first = await published_reference_case(db)
    before = await stored(db)
    days = {doc["_id"]: doc for doc in before[0]}
    assert [days[d]["events"] for d in sorted(days)] == [3, 1, 0, 1]  # 10-08: empty, still there
    assert days["2026-10-06"]["previous"] == GENESIS
    assert days["2026-10-07"]["previous"] == days["2026-10-06"]["head"]

    assert await first.publish_due(now + timedelta(hours=5)) == []
    restarted = publisher(db, log, now + timedelta(hours=6))
    assert await restarted.publish_due(now + timedelta(hours=6)) == []
    assert await stored(db) == before

    async with client_for(routes_app(db)) as client:
        manifest, files = await download(client)
    assert verify_chain(links_of(manifest), files) is None
    assert manifest["head"] == days["2026-10-09"]["head"]
    assert manifest["head_day"] == "2026-10-09"
    lines = [json.loads(text) for text in files[D("2026-10-06")].decode().splitlines()]
    # recorded first, then partition: ZB-2's line on partition 0 before ZB-1's accept
    assert [(x["case_id"], x["type"]) for x in lines] == [
        ("ZB-1", "CaseSubmitted"), ("ZB-2", "CaseSubmitted"), ("ZB-1", "CaseAccepted")]
    assert files[D("2026-10-08")] == b""
    # the 23:59:59.5 Shanghai record is the 10-07's last line, not the 10-08's
    assert json.loads(files[D("2026-10-07")])["type"] == "CaseRouted"


async def test_no_day_is_published_before_its_grace_is_over_or_while_the_log_is_unread(
        db: Db) -> None:
    log = Log(db)
    await log.project(1, "2026-10-06T09:00:00+08:00", case="ZB-1", type_="CaseSubmitted", seq=1)
    early, due = after_day("2026-10-06", 599), after_day("2026-10-06", 600)
    assert await publisher(db, log, early).publish_due(early) == []
    assert await publisher(db, log, due).publish_due(due) == [D("2026-10-06")]

    await log.project(1, "2026-10-07T10:00:00+08:00", case="ZB-1", type_="CaseAccepted", seq=2)
    now = after_day("2026-10-07")
    log.ends[2] = 4  # the log holds records of partition 2 the projection has not read yet
    assert await publisher(db, log, now).publish_due(now) == []
    log.ends[2] = 0
    just_projected = now - timedelta(seconds=10)  # caught up, but busy until 10 s ago
    await db["opendata_progress"].update_one({"_id": "1"}, {"$set": {"at": just_projected}})
    assert await publisher(db, log, now).publish_due(now) == []
    assert await publisher(db, log, now).publish_due(now + timedelta(seconds=20)) == [
        D("2026-10-07")]


async def test_a_busy_city_gets_its_day_published_though_its_projection_is_never_idle(
        db: Db) -> None:
    log = Log(db)
    await the_reference_case(log)
    now = after_day("2026-10-09")
    running = publisher(db, log, now)

    async def a_record_a_second(at: datetime) -> None:
        await log.project(2, at.isoformat(), case="ZB-9", type_="CaseSubmitted", seq=1)
        await db["opendata_progress"].update_one({"_id": "2"}, {"$set": {"at": at}})

    await a_record_a_second(now - timedelta(seconds=1))
    assert await running.publish_due(now) == []  # busy: not quiet, and no earlier reading
    await a_record_a_second(now + timedelta(seconds=29))
    log.ends[2] += 1  # and the log is a record ahead of it
    assert await running.publish_due(now + timedelta(seconds=30)) == REFERENCE_DAYS


async def test_two_publishers_at_once_publish_each_day_once(db: Db) -> None:
    log = Log(db)
    await the_reference_case(log)
    now = after_day("2026-10-09")
    one, other = publisher(db, log, now), publisher(db, log, now)
    done = await asyncio.gather(one.publish_due(now), other.publish_due(now))
    assert done[0] == done[1] == REFERENCE_DAYS
    async with client_for(routes_app(db)) as client:
        manifest, files = await download(client)
    assert len(manifest["days"]) == 4
    assert verify_chain(links_of(manifest), files) is None


async def test_a_published_day_is_never_published_differently(db: Db) -> None:
    log, now, _ = await published_reference_case(db)
    before = await stored(db)
    # a stop between a day's entry and its file: the next start stores the same file again
    await db["opendata_files"].delete_one({"_id": "2026-10-09:0"})
    await publisher(db, log, now).publish_due(now)
    assert await stored(db) == before
    # a stored line of 10-06 is changed afterwards, and the 10-06 file lost: nothing serves,
    # and nothing publishes, a 10-06 that differs from the one in the chain
    await db["opendata_events"].update_one(
        {"_id": line_key(0, 0)}, {"$set": {"text": '{"case_id":"ZB-2","forged":true}'}})
    await db["opendata_files"].delete_one({"_id": "2026-10-06:0"})
    await publisher(db, log, now).publish_due(now + timedelta(minutes=5))
    days, files = await stored(db)
    assert days == before[0]
    assert files == [f for f in before[1] if f["_id"] != "2026-10-06:0"]
    async with client_for(routes_app(db)) as client:
        lost = await client.get("/open-data/days/2026-10-06.ndjson.gz")
    assert lost.status_code == 503


async def test_a_rewritten_old_event_breaks_the_chain_on_exactly_its_day(db: Db) -> None:
    log = Log(db)
    await the_reference_case(log)
    await log.project(2, "2026-10-10T08:00:00+08:00", case="ZB-2", type_="CaseAccepted", seq=2)
    now = after_day("2026-10-10")
    await publisher(db, log, now).publish_due(now)
    async with client_for(routes_app(db)) as client:
        manifest, honest = await download(client)
    assert verify_chain(links_of(manifest), honest) is None

    # someone with the store's keys rewrites ZB-1's routing on 10-07 and makes its file again
    events = db["opendata_events"]
    routed = await events.find_one({"_id": line_key(1, 2)})
    assert routed is not None
    await events.update_one({"_id": routed["_id"]}, {"$set": {
        "text": routed["text"].replace("CaseRouted", "CaseRejected")}})
    lines = [Line(doc["partition"], doc["offset"], doc["recorded_at"], doc["text"])
             async for doc in events.find({"day": "2026-10-07"})]
    data = gzipped(ndjson_of(lines))
    await db["opendata_files"].update_one({"_id": "2026-10-07:0"}, {"$set": {"data": data}})

    async with client_for(routes_app(db)) as client:
        manifest, files = await download(client)
    assert files[D("2026-10-07")] != honest[D("2026-10-07")]
    assert verify_chain(links_of(manifest), files) == Break(
        D("2026-10-07"), "its file does not hash to its sha256")


async def test_a_line_for_a_day_already_published_goes_into_the_next_unpublished_day(
        db: Db) -> None:
    log, _, running = await published_reference_case(db)
    before = await stored(db)
    # a late record of 10-09, projected by a consumer that knew 10-09 published: 10-10 ...
    late = await log.project(0, "2026-10-09T23:58:00+08:00", case="ZB-2", type_="CaseAccepted",
                             seq=2, day=D("2026-10-10"))
    # ... and one written by a consumer that had not heard yet: the 10-09 file lacks it
    stale = await log.project(2, "2026-10-09T23:59:00+08:00", case="ZB-3",
                              type_="CaseSubmitted", seq=1, day=D("2026-10-09"))
    assert await running.publish_due(after_day("2026-10-10")) == [D("2026-10-10")]
    days, files = await stored(db)
    assert days[:4] == before[0] and files[:4] == before[1]  # 10-06 .. 10-09 unchanged
    async with client_for(routes_app(db)) as client:
        manifest, downloaded = await download(client)
    tenth = [json.loads(x) for x in downloaded[D("2026-10-10")].decode().splitlines()]
    assert [line["position"] for line in tenth] == ["0:1", "2:0"]
    # the moved line's text is as projected: its "day" is the one it was recorded for
    assert [line["day"] for line in tenth] == ["2026-10-10", "2026-10-09"]
    assert days[4]["lines"] == [late, stale]
    assert verify_chain(links_of(manifest), downloaded) is None


async def test_the_running_publisher_publishes_each_day_once_it_is_due(db: Db) -> None:
    log = Log(db)
    await log.project(1, "2026-10-06T09:00:00+08:00", case="ZB-1", type_="CaseSubmitted", seq=1)
    clock = ManualClock(after_day("2026-10-06"))
    running = asyncio.create_task(Publisher(db, POLICY, clock, log.end_offsets).run_forever())
    try:
        await eventually(lambda: db["opendata_days"].find_one({"_id": "2026-10-06"}),
                         timeout=10, what="10-06 published")
        clock.set(after_day("2026-10-07"))
        await eventually(lambda: db["opendata_days"].find_one({"_id": "2026-10-07"}),
                         timeout=10, what="the quiet 10-07 published once due")
        await log.project(1, "2026-10-08T10:00:00+08:00", case="ZB-1", type_="CaseAccepted",
                          seq=2)
        clock.set(after_day("2026-10-08"))
        await eventually(lambda: db["opendata_days"].find_one({"_id": "2026-10-08"}),
                         timeout=10, what="10-08 published once due")
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    published = {doc["_id"]: doc["events"] async for doc in db["opendata_days"].find({})}
    assert published == {"2026-10-06": 1, "2026-10-07": 0, "2026-10-08": 1}


async def test_the_day_routes_answer_as_documented(db: Db) -> None:
    async with client_for(routes_app(db)) as client:
        empty = (await client.get("/open-data/days.json")).json()
        assert empty["days"] == [] and empty["head"] is None and empty["head_day"] is None
        await published_reference_case(db)

        manifest = await client.get("/open-data/days.json")
        assert manifest.status_code == 200
        body = manifest.json()
        assert [D(e["day"]) for e in body["days"]] == REFERENCE_DAYS
        assert set(body["days"][0]) == {"day", "events", "sha256", "previous", "head",
                                        "published_at", "file"}
        assert body["head"] == body["days"][-1]["head"] and "SHA-256" in body["chain"]

        day = await client.get("/open-data/days/2026-10-06.ndjson.gz")
        assert day.status_code == 200
        assert day.headers["content-type"] == "application/gzip"
        assert day.headers["etag"] == f'"{sha256_hex(gzip.decompress(day.content))}"'
        assert day.headers["etag"] == f'"{body["days"][0]["sha256"]}"'
        assert "immutable" in day.headers["cache-control"]
        again = await client.get("/open-data/days/2026-10-06.ndjson.gz",
                                 headers={"If-None-Match": day.headers["etag"]})
        assert again.status_code == 304 and again.content == b""

        unpublished = await client.get("/open-data/days/2026-10-10.ndjson.gz")
        assert unpublished.status_code == 404
        assert "2026-10-10" in unpublished.json()["error"]
        for bad in ("2026-13-01", "yesterday", "20261006", "2026-10-6"):
            refused = await client.get(f"/open-data/days/{bad}.ndjson.gz")
            assert refused.status_code == 422, bad
            assert refused.json()["error"].startswith("day:"), refused.text


async def test_the_case_logs_end_offsets_come_from_the_broker(namespace: Namespace) -> None:
    settings = settings_for(namespace.bootstrap_servers, namespace.mongo_url, namespace.prefix,
                            namespace.db_name)
    await ensure_topics(settings, [])
    topic = Topics(settings.topic_prefix).case_events
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap,
                                **kafka_options(settings, ADMIN))
    await producer.start()
    try:
        for _ in range(2):
            await producer.send_and_wait(topic, b"{}", partition=1)
    finally:
        await producer.stop()
    ends = CaseLogEnds(settings, ADMIN, topic)
    try:
        assert await ends() == {0: 0, 1: 2, 2: 0}
    finally:
        await ends.stop()
