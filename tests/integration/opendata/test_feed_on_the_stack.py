"""The public feed on the real stack: cases go through intake and routing, and anyone reading
`/open-data/events.ndjson` page by page gets every event of the log exactly once.

A reader follows the `Link` header from the first page until a page comes back empty; it may
stop anywhere and resume from the cursor it holds; a live reader gets new events over
server-sent events and resumes from its `Last-Event-ID`. A record delivered twice adds
nothing, and a bad cursor is a 422 that names it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from helpers import (
    WANGFUFEN_REQUEST,
    ServerSentEvents,
    client_for,
    eventually,
    every_record,
    publish_envelopes,
    read_events,
    running,
    serving,
)
from servicefixtures import token

from contracts.facts import Role
from contracts.opendata import FeedLine
from services.common.http import build_app
from services.common.kafka import ADMIN
from services.common.replay import LogReader
from services.common.runtime import ServiceRuntime
from services.common.settings import CommonSettings
from services.composition import app_of, build
from services.opendata.service import OpenDataService

pytestmark = pytest.mark.stack

OFFICER = token(Role.OFFICER, subject="officer-li")
FEED = "/open-data/events.ndjson"
NEXT = re.compile(r'^<(?P<url>/open-data/events\.ndjson\?after=(?P<after>[0-9.-]*)&limit=\d+)>; '
                  r'rel="next"$')


@pytest_asyncio.fixture(loop_scope="session")
async def city(settings: CommonSettings) -> AsyncIterator[dict[str, ServiceRuntime[Any]]]:
    """Intake and routing make the cases; opendata publishes them."""
    services = {name: build(name, settings) for name in ("intake", "routing", "opendata")}
    async with running(*services.values()):
        yield services


@pytest_asyncio.fixture(loop_scope="session")
async def http(city: dict[str, ServiceRuntime[Any]]) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(build_app(list(city.values()), title="zaiban")) as client:
        yield client


async def submit(http: httpx.AsyncClient, description: str) -> str:
    answer = await http.post("/api/cases", json={**WANGFUFEN_REQUEST, "description": description})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["case_id"])


async def accept(http: httpx.AsyncClient, case_id: str, note: str) -> None:
    answer = await http.post(f"/api/cases/{case_id}/accept", headers=OFFICER, json={"note": note})
    assert answer.status_code in (200, 201), answer.text


def next_of(answer: httpx.Response) -> re.Match[str]:
    found = NEXT.match(answer.headers["link"])
    assert found, answer.headers["link"]
    return found


async def read_feed(http: httpx.AsyncClient, url: str = f"{FEED}?limit=4"
                    ) -> tuple[list[FeedLine], list[str], str]:
    """Every line from `url` on, following the Link until an empty page: the lines, the
    cursor after each page, and the link to poll next."""
    lines: list[FeedLine] = []
    cursors: list[str] = []
    while True:
        answer = await http.get(url)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/x-ndjson; charset=utf-8"
        page = [FeedLine.model_validate_json(text) for text in answer.text.splitlines()]
        link = next_of(answer)
        if not page:
            return lines, cursors, link["url"]
        lines += page
        cursors.append(link["after"])
        url = link["url"]


async def projected_to_the_end(opendata: OpenDataService, settings: CommonSettings) -> None:
    """Wait until the service has projected every record the log holds now."""
    async with LogReader(settings, ADMIN) as reader:
        _, ends = await reader.bounds()
    wanted = {where.partition: end - 1 for where, end in ends.items() if end > 0}

    async def caught_up() -> bool:
        progress = await opendata.store.progress_of()
        return all(progress.get(p, (-1,))[0] >= offset for p, offset in wanted.items())

    await eventually(caught_up, timeout=60, what=f"the feed to project the log up to {wanted}")


async def the_whole_log(http: httpx.AsyncClient, settings: CommonSettings
                        ) -> tuple[list[FeedLine], list[str], str]:
    """The feed once it holds every event the log holds now."""
    expected = len({e.event_id for e in await read_events(settings)})

    async def complete() -> tuple[list[FeedLine], list[str], str] | None:
        read = await read_feed(http)
        return read if len(read[0]) >= expected else None

    return await eventually(complete, timeout=60, what=f"{expected} lines in the feed")


async def test_the_feed_page_by_page_is_the_log_each_event_once_resumable_and_redelivery_proof(
        settings: CommonSettings, http: httpx.AsyncClient,
        city: dict[str, ServiceRuntime[Any]]) -> None:
    cases = [await submit(http, f"第{n}个路口的红绿灯不亮了，请回电13812345678") for n in range(6)]
    for case_id in cases[:3]:
        await accept(http, case_id, note="已核实，联系人手机13912345678")

    async def routed() -> bool:
        events = await read_events(settings)
        return sum(e.type == "CaseRouted" for e in events) == 3

    await eventually(routed, timeout=30, what="routing to route the accepted cases")
    await the_whole_log(http, settings)
    lines, cursors, poll = await read_feed(http)  # all there: as any reader now reads it
    log = await read_events(settings)

    # every event of the log exactly once, and each case's events numbered 1..seq
    assert sorted(str(line.event_id) for line in lines) == sorted(str(e.event_id) for e in log)
    assert len({line.position for line in lines}) == len(lines)
    last_seq = {e.case_id: e.seq for e in log}
    assert Counter(line.case_id for line in lines) == Counter(last_seq)
    for case_id, seq in last_seq.items():
        assert [line.seq for line in lines if line.case_id == case_id] == list(range(1, seq + 1))
        assert Counter(line.case_id for line in lines)[case_id] == seq
    # each partition in log order, and the last cursor says where each one ends
    by_partition: dict[int, list[int]] = {}
    for line in lines:
        partition, offset = (int(part) for part in line.position.split(":"))
        by_partition.setdefault(partition, []).append(offset)
    assert all(offsets == sorted(offsets) for offsets in by_partition.values())
    assert cursors[-1] == ".".join(f"{p}-{offsets[-1]}"
                                   for p, offsets in sorted(by_partition.items()))
    # public and masked
    text = "\n".join(line.model_dump_json() for line in lines)
    for private in ("13812345678", "13912345678", WANGFUFEN_REQUEST["contact"]["name"],
                    WANGFUFEN_REQUEST["location"]["address"], "officer-li"):
        assert private not in text
    accepted = [line for line in lines if line.type == "CaseAccepted"]
    assert len(accepted) == 3 and all(line.what["category"] == "traffic-signals"
                                      for line in accepted)

    # resumable: from the cursor after the second page, the rest, exactly
    rest, _, _ = await read_feed(http, f"{FEED}?after={cursors[1]}&limit=4")
    assert rest == lines[8:]
    # caught up: the link to poll gives nothing until something happens
    quiet = await http.get(poll)
    assert quiet.status_code == 200 and quiet.text == ""
    assert next_of(quiet)["url"] == poll

    # the whole log delivered again (a crash before the offsets were committed): no new line
    opendata = city["opendata"]
    assert isinstance(opendata, OpenDataService)
    await opendata.project(await every_record(settings))
    again, _, _ = await read_feed(http)
    assert [line.model_dump_json() for line in again] == [
        line.model_dump_json() for line in lines]
    # an event published twice (a writer that lost its answer sends it again): one line
    copied = log[0]
    await publish_envelopes(settings, [copied])
    await projected_to_the_end(opendata, settings)
    grown, _, _ = await read_feed(http)
    assert [line.model_dump_json() for line in grown] == [
        line.model_dump_json() for line in lines]

    # a cursor or limit that cannot be read: 422, naming it
    for query, named in [({"after": "1-2-3"}, "after"), ({"after": "0-1.0-2"}, "after"),
                         ({"after": "x"}, "after"), ({"limit": "0"}, "limit"),
                         ({"limit": "5001"}, "limit"), ({"limit": "many"}, "limit")]:
        refused = await http.get(FEED, params=query)
        assert refused.status_code == 422, query
        assert named in json.dumps(refused.json()), refused.json()


async def test_a_live_reader_gets_a_new_event_and_resumes_from_its_last_event_id(
        settings: CommonSettings, http: httpx.AsyncClient,
        city: dict[str, ServiceRuntime[Any]]) -> None:
    first = await submit(http, "东风路的路灯不亮")
    _, cursors, _ = await the_whole_log(http, settings)
    caught_up = cursors[-1]
    # another instance serves the stream: it learns of lines from the shared store
    reader = build("opendata", settings)
    try:
        async with serving(app_of(reader)) as base, httpx.AsyncClient(base_url=base) as client:
            async with client.stream("GET", "/open-data/events.sse",
                                     params={"after": caught_up}) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                stream = ServerSentEvents(response)
                second = await submit(http, "南阳路的路灯不亮")
                event = await stream.next_event(lambda fields: "data" in fields)
                line = FeedLine.model_validate_json(event["data"])
                assert (line.case_id, line.type, line.seq) == (second, "CaseSubmitted", 1)
                seen = event["id"]

            await accept(http, first, note="已核实")  # while nobody is listening
            async with client.stream("GET", "/open-data/events.sse",
                                     headers={"Last-Event-ID": seen}) as response:
                stream = ServerSentEvents(response)
                resumed = [FeedLine.model_validate_json(
                    (await stream.next_event(lambda fields: "data" in fields))["data"])
                    for _ in range(2)]
            assert [(line.case_id, line.type) for line in resumed] == [
                (first, "CaseAccepted"), (first, "CaseRouted")]

            bad = await client.get("/open-data/events.sse", headers={"Last-Event-ID": "soon"})
            assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["error"]
    finally:
        await reader.mongo.close()
