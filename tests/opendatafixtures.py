"""Open data as a city publishes it, for the verifier's tests: feed lines, days, a site.

- `demo_records()`: the demo city, logged;
- `logged(envelopes)`: the envelopes as records of a 3-partition case event log (a case
  keeps its partition; offsets follow the log order);
- `feed_line(record, tz)`: the feed line of a record, in the spec's shape (DESIGN.md, the
  open-data service), with just the public `what` the figures read (the feedback answer,
  the closing reason) — the opendata service's own lines say more; `line_text` its
  canonical text;
- `published_days(lines, through)`: the day files and the manifest with its hash chain;
- `published_figures(records, city, min_cases)`: what the metrics API answers for these
  records, from the metrics service's own fold, report and routes;
- `OpenDataSite`: a real HTTP server on loopback (http.server, in a thread) serving all of
  it at the paths a city serves it: `/open-data/days.json`, the day files, the paged feed
  (`?after=` cursor, `Link: <...>; rel="next"`), and `/api/stats/...`.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import threading
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI
from helpers import client_for
from pydantic import SecretStr

from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.registry import read_event
from services.common.catalogue import CityConfig, load_city
from services.common.cityconfig import LiveCity
from services.common.settings import REPO_ROOT
from services.lifecycle.history import in_log_order
from services.lifecycle.policy import Policy
from services.metrics.api import install_routes
from services.metrics.counters import add_counters
from services.metrics.ledger import fold_envelopes
from services.metrics.periods import Period
from services.metrics.store import FigureStore
from zaiban.demo import generate

CITY = load_city(REPO_ROOT / "deploy" / "config")
TZ = ZoneInfo("Asia/Shanghai")
DEMO_NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
"""The demo city's "now": its days are published through the day before."""
DEMO_PUBLISHED_THROUGH = date(2026, 11, 25)
PARTITIONS = 3
GENESIS = "0" * 64
DIMENSIONS = ("category", "district", "channel", "department", "day")
RANKINGS = ("resolution", "on_time", "satisfaction")


@dataclass(frozen=True)
class Record:
    """An envelope where the log holds it."""

    partition: int
    offset: int
    envelope: Envelope


def logged(envelopes: Iterable[Envelope]) -> list[Record]:
    """The envelopes in log order, each case in its partition (by its key, as Kafka does)."""
    next_offset = [0] * PARTITIONS
    records = []
    for envelope in in_log_order(envelopes):
        partition = zlib.crc32(envelope.key()) % PARTITIONS
        records.append(Record(partition, next_offset[partition], envelope))
        next_offset[partition] += 1
    return records


def demo_records() -> list[Record]:
    """The demo city (`zaiban/demo.py`: 300 cases of six weeks, the reference case) as logged."""
    chronicle = generate(Policy(city=CITY), SecretStr("s"), now=DEMO_NOW, cases=300)
    return logged(chronicle.envelopes)


def public_what(envelope: Envelope) -> dict[str, Any]:
    """The public `what` the figures read: the answer to a resolution, the closing reason."""
    if envelope.type not in (ev.FeedbackGiven.TYPE, ev.CaseClosed.TYPE):
        return {}
    event = read_event(envelope)
    if isinstance(event, ev.FeedbackGiven):
        return {"fixed": event.fixed, "satisfied": event.satisfied, "rating": event.rating}
    if isinstance(event, ev.CaseClosed):
        return {"reason": event.reason}
    return {}


def feed_line(record: Record, tz: tzinfo) -> dict[str, Any]:
    envelope = record.envelope
    return {
        "position": f"{record.partition}:{record.offset}",
        "day": envelope.recorded_at.astimezone(tz).date().isoformat(),
        "event_id": str(envelope.event_id), "case_id": envelope.case_id,
        "type": envelope.type, "schema_version": envelope.schema_version, "seq": envelope.seq,
        "occurred_at": envelope.occurred_at.isoformat(),
        "recorded_at": envelope.recorded_at.isoformat(),
        "facts": json.loads(envelope.facts.model_dump_json()),
        "who": {"role": "system", "department": None},
        "public": True,
        "what": public_what(envelope),
    }


def line_text(line: dict[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def feed_order(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """By (recorded_at, partition, offset): the feed's order and each day file's."""

    def key(line: dict[str, Any]) -> tuple[datetime, int, int]:
        partition, offset = (int(part) for part in line["position"].split(":"))
        return datetime.fromisoformat(line["recorded_at"]), partition, offset

    return sorted(lines, key=key)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chain_head(previous: str, day: str, sha256: str) -> str:
    return sha256_hex(f"{previous}\n{day}\n{sha256}".encode())


@dataclass
class Days:
    """The published days: the manifest (`days.json`) and each day's uncompressed file."""

    manifest: dict[str, Any]
    files: dict[str, bytes]

    def rechain(self) -> None:
        """Recompute every sha256 and head from the files, as a forger covering a change would."""
        previous = GENESIS
        for entry in self.manifest["days"]:
            entry["sha256"] = sha256_hex(self.files[entry["day"]])
            entry["events"] = self.files[entry["day"]].count(b"\n")
            entry["previous"] = previous
            entry["head"] = previous = chain_head(previous, entry["day"], entry["sha256"])
        self.manifest["head"] = previous


def published_days(lines: Sequence[dict[str, Any]], through: date) -> Days:
    """Every day from the first line's to `through`, empty days included, chained."""
    by_day: dict[str, list[str]] = {}
    for line in feed_order(lines):
        by_day.setdefault(line["day"], []).append(line_text(line))
    day = date.fromisoformat(min(by_day))
    files: dict[str, bytes] = {}
    entries = []
    while day <= through:
        text = "".join(t + "\n" for t in by_day.get(day.isoformat(), []))
        files[day.isoformat()] = text.encode()
        entries.append({"day": day.isoformat(), "published_at": f"{day + timedelta(days=1)}T00:10:00+08:00",
                        "file": f"/open-data/days/{day.isoformat()}.ndjson.gz"})
        day += timedelta(days=1)
    days = Days({"days": entries, "head": None, "head_day": through.isoformat(),
                 "chain": "head = SHA-256 hex of previous, day and sha256"}, files)
    days.rechain()
    return days


class CountersRead:
    """The metrics store's reading side, over counters folded in memory (the routes read
    only `counters` and `read`)."""

    def __init__(self, counters: dict[str, int], positions: dict[int, int]) -> None:
        self._counters, self._positions = counters, positions

    async def counters(self, period: Period | None = None) -> dict[str, int]:
        return self._counters

    async def read(self, period: Period | None = None) -> tuple[dict[str, int], dict[int, int]]:
        return self._counters, self._positions


def published_figures(records: Sequence[Record], city: CityConfig, tz: tzinfo,
                      min_cases: int = 1) -> dict[str, Any]:
    """What the metrics API answers for these records, by path: the metrics service's fold
    (each partition its ledger) and its own routes."""
    partitions = sorted({r.partition for r in records})
    ledgers = {p: fold_envelopes([r.envelope for r in records if r.partition == p], tz)
               for p in partitions}
    counters = add_counters(ledger.counters for ledger in ledgers.values())
    router = APIRouter()
    install_routes(router, store=cast(FigureStore, CountersRead(counters, {
        p: ledger.offset for p, ledger in ledgers.items()})), city=LiveCity(city),
        ranking_min_cases=min_cases)
    app = FastAPI()
    app.include_router(router)
    paths = ["/api/stats/summary", "/api/stats/definitions?lang=en",
             *(f"/api/stats/breakdown/{d}" for d in DIMENSIONS),
             *(f"/api/stats/ranking?by={by}" for by in RANKINGS)]

    async def answers() -> dict[str, Any]:
        async with client_for(app) as client:
            return {path: (await client.get(path)).json() for path in paths}

    return asyncio.run(answers())


@dataclass
class OpenDataSite:
    """What a city serves, from memory: `static` JSON by path (with its query), the days,
    and the feed (pages of at most `page_cap` lines, whatever the reader asks)."""

    lines: list[dict[str, Any]]
    days: Days
    static: dict[str, Any] = field(default_factory=dict)
    page_cap: int = 1000
    pages_served: int = 0
    elsewhere: Callable[[str], tuple[int, str, bytes]] | None = None
    """What answers the paths the site does not hold (a live metrics service)."""

    def __post_init__(self) -> None:
        self.lines = feed_order(self.lines)

    def feed_page(self, query: dict[str, list[str]]) -> tuple[bytes, str]:
        cursor: dict[int, int] = {}
        for part in filter(None, query.get("after", [""])[0].split(".")):
            partition, _, offset = part.partition("-")
            cursor[int(partition)] = int(offset)
        limit = min(int(query.get("limit", ["1000"])[0]), self.page_cap)
        page = []
        for line in self.lines:
            partition, offset = (int(p) for p in line["position"].split(":"))
            if offset > cursor.get(partition, -1):
                page.append(line)
                cursor[partition] = offset
                if len(page) == limit:
                    break
        after = ".".join(f"{p}-{o}" for p, o in sorted(cursor.items()))
        self.pages_served += 1
        body = "".join(line_text(line) + "\n" for line in page).encode()
        return body, f'</open-data/events.ndjson?after={after}&limit={limit}>; rel="next"'

    def answer(self, target: str) -> tuple[int, str, bytes, dict[str, str]]:
        split = urllib.parse.urlsplit(target)
        path, query = split.path, urllib.parse.parse_qs(split.query)
        if path == "/open-data/events.ndjson":
            body, link = self.feed_page(query)
            return 200, "application/x-ndjson; charset=utf-8", body, {"Link": link}
        if path == "/open-data/days.json":
            return 200, "application/json", json.dumps(self.days.manifest).encode(), {}
        if path.startswith("/open-data/days/") and path.endswith(".ndjson.gz"):
            day = path.removeprefix("/open-data/days/").removesuffix(".ndjson.gz")
            if day in self.days.files:
                return 200, "application/gzip", gzip.compress(self.days.files[day], mtime=0), {}
        if target in self.static:
            return 200, "application/json", json.dumps(self.static[target]).encode(), {}
        if self.elsewhere is not None:
            status, kind, body = self.elsewhere(target)
            return status, kind, body, {}
        return 404, "application/json", b'{"detail": "Not Found"}', {}


@contextmanager
def serving(site: OpenDataSite) -> Iterator[str]:
    """`site` on a free loopback port for the block; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, kind, body, headers = site.answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
