"""`zaiban bench opendata`: the public history at the article's volume — how big, how fast.

A history of `cases` cases (the article's 30,148 with `--cases 30148`, 25,807/30,148 of
them resolved) is published to the case event log; the open-data service projects it as
production runs it (its consumer group, a line per event); then, timed:

- *serving*: a reader takes the whole feed through the HTTP routes, page by page along each
  answer's `Link` (`limit=5000`), as a journalist's verifier does. Baseline: the same
  lines read straight from the store in one pass (`_id` order, no paging, no HTTP): the
  floor of what serving them costs;
- *publishing*: every day of the history published as the next morning would publish it
  (the files gzipped, stored, the chain made), with the bytes each event costs in the
  files.

Sizes are figures, not targets: the issue asks for them (bytes per event, events served per
second); the feed's target is to stay a fair share of the store's own read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from services.common.kafka import ADMIN
from services.composition import app_of, build
from services.opendata.publishing import FILES, CaseLogEnds, Publisher, PublishingPolicy
from services.opendata.service import OpenDataService
from services.opendata.store import EVENTS
from zaiban.bench.env import Bench
from zaiban.bench.projections import load, through_service
from zaiban.bench.report import Result, latency_summary, rate, ratio

PAGE = 5000
TARGET_OF_BASELINE = 0.5
"""The feed over HTTP, paged and merged across partitions, against one raw read of the
store: at least half its speed."""


@dataclass(frozen=True)
class Sizes:
    cases: int = 3000
    resolved_share: float = 25_807 / 30_148
    timeout_s: float = 900.0


async def read_feed(service: OpenDataService) -> tuple[int, int, list[float]]:
    """The whole feed along its `Link`s: lines, bytes, and the seconds each page took."""
    lines = size = 0
    took: list[float] = []
    transport = httpx.ASGITransport(app=app_of(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                 timeout=120) as http:
        url = f"/open-data/events.ndjson?limit={PAGE}"
        while True:
            started = time.monotonic()
            answer = await http.get(url)
            took.append(time.monotonic() - started)
            answer.raise_for_status()
            if not answer.content:
                return lines, size, took
            lines += answer.content.count(b"\n")
            size += len(answer.content)
            url = answer.links["next"]["url"]


async def read_raw(service: OpenDataService) -> int:
    """The same lines straight from the store: how many."""
    lines = 0
    async for doc in service.db[EVENTS].find({}, {"text": 1}):
        lines += len(doc["text"]) > 0
    return lines


async def publish_all(service: OpenDataService) -> dict[str, Any]:
    """Every day of the history, published as the day after its last would: the figures."""
    ends = CaseLogEnds(service.settings, ADMIN, service.topics.case_events)
    try:
        publisher = Publisher(service.db, PublishingPolicy(tz=service.tz, settle_s=0),
                              service.clock, ends)
        started = time.monotonic()
        days = await publisher.publish_due(service.clock.now() + timedelta(days=1, hours=1))
        took = time.monotonic() - started
    finally:
        await ends.stop()
    gz = 0
    async for doc in service.db[FILES].find({}, {"data": 1}):
        gz += len(doc.get("data", b""))
    return {"days": len(days), "seconds": took, "gzip_bytes": gz}


async def run(bench: Bench, sizes: Sizes = Sizes()) -> Result:
    result = Result("opendata", params=vars(sizes).copy())
    made = await load(bench, sizes.cases, round(sizes.cases * sizes.resolved_share), result)
    service = build("opendata", bench.settings)
    assert isinstance(service, OpenDataService)
    projected_s = await through_service(bench, "opendata", made.events, sizes.timeout_s, {},
                                        make=lambda: service)
    result.add("projection (open-data service)", events=made.events, seconds=projected_s,
               events_per_s=rate(made.events, projected_s))
    service = build("opendata", bench.settings)  # a fresh one: its store client is open
    assert isinstance(service, OpenDataService)
    try:
        step = bench.steps.start("baseline: the lines straight from the store", made.events)
        started = time.monotonic()
        raw_lines = await read_raw(service)
        raw_s = time.monotonic() - started
        step.done()
        step = bench.steps.start("the feed over HTTP, page by page", made.events)
        started = time.monotonic()
        lines, size, took = await read_feed(service)
        feed_s = time.monotonic() - started
        step.done()
        step = bench.steps.start("publishing every day", made.events)
        published = await publish_all(service)
        step.done()
    finally:
        await service.mongo.close()
    if lines != made.events or raw_lines != made.events:
        result.note(f"the feed held {lines} lines and the store {raw_lines}, for "
                    f"{made.events} events published")
    result.add("baseline (the store, one pass)", lines=raw_lines, seconds=raw_s,
               lines_per_s=rate(raw_lines, raw_s))
    result.add("feed over HTTP", lines=lines, pages=len(took), seconds=feed_s,
               lines_per_s=rate(lines, feed_s), of_baseline=ratio(rate(lines, feed_s),
                                                                 rate(raw_lines, raw_s)),
               **latency_summary(took, "page_"))
    result.add("feed size", bytes_per_event=size / max(lines, 1), megabytes=size / 1e6,
               gzip_bytes_per_event=published["gzip_bytes"] / max(lines, 1))
    result.add("publishing the days", days=published["days"], seconds=published["seconds"],
               events_per_s=rate(lines, published["seconds"]),
               gzip_megabytes=published["gzip_bytes"] / 1e6)
    result.check("feed / baseline lines per second",
                 ratio(rate(lines, feed_s), rate(raw_lines, raw_s)), TARGET_OF_BASELINE)
    return result
