"""Every list equals a full scan, on the real stack: given three dozen cases driven through
intake and routing (submitted on three city days by web, app and hotline, accepted with
corrections, rejected, merged, routed by the rules or by a reporter, acknowledged, handed to
handlers, returned, reassigned, resolved, answered by their residents — closed, reopened,
disputed — escalated and overdue), when a resident, an officer, a supervisor, a reporter, a
department's staff or an Open311 client asks for a list, then the answer is exactly what a
full scan of tracking's `cases` filtered and sorted here gives: the same cases, in the same
order, with the same total, page by page; and still after live updates, after events
delivered twice, and after tracking's read model is replayed while it serves.

The expected answers come from `Oracle`, written here from the rules the lists state (newest
= submitted_at then case number, both descending; a department's inbox = late first, then the
soonest deadline, then the case number; text = a piece of the description as the reader sees
it, ignoring case, or the case number), never from tracking's own query code: the point is an
independent check of however tracking answers. A search for words lists the most relevant
first, a weighing that is the text index's own: there the answer must hold exactly the cases
the oracle finds, its pages must be its order cut in pieces, and equally relevant cases (the
same searched text) must come newest first (`rank_differs`).

Keyset paging (`after=<cursor>`, `"next"` in each page) and the public list's period
(`since`/`until`, city dates) are checked to the same oracle.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient
from helpers import (
    as_admin,
    client_for,
    eventually,
    publish_envelopes,
    read_events,
    running,
)
from servicefixtures import settings_in, token
from stackfixtures import a_namespace

from contracts.facts import Role
from services.common.catalogue import CityConfig, load_city
from services.common.clock import ManualClock
from services.common.http import build_app
from services.common.kafka import ADMIN
from services.common.replay import LogReader
from services.common.settings import CommonSettings
from services.common.store import make_client, service_db, unpack_row
from services.composition import build
from services.intake.service import IntakeService
from services.intake.settings import IntakeSettings
from services.routing.service import RoutingService
from services.tracking.replay import rebuild
from services.tracking.timeline import staff_hash
from zaiban.infra import StackInfo

pytestmark = pytest.mark.stack

CITY = ZoneInfo("Asia/Shanghai")
Doc = dict[str, Any]
Params = dict[str, Any]

OFFICER = token(Role.OFFICER, subject="officer-zhao")
SUPERVISOR = token(Role.SUPERVISOR, subject="supervisor-qian")


def at(month_day: tuple[int, int], hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month_day[0], month_day[1], hour, minute, tzinfo=CITY)


# ---- the oracle: what a full scan says each list must answer -------------------------------

CLOSED_FOR_OPEN311 = {"resolved", "closed", "rejected", "merged"}
"""GeoReport's `closed`: resolved (a department's resolution is one), closed, rejected, merged."""
ENDED = {"closed", "rejected", "merged"}
"""What is no longer open (`open=false`)."""
HELD = {"routed", "acknowledged"}
"""The statuses in which a department holds a case: its inbox."""
OPEN311_WINDOW = timedelta(days=90)
"""`GET requests` without both dates: the 90 days up to now, or from the one given."""


@dataclass(frozen=True)
class Reader:
    """Who asks: the public (no role), or a member of staff with their token."""

    role: Role | None = None
    department: str | None = None
    subject: str = "tester"
    coordinator: bool = False

    @property
    def headers(self) -> dict[str, str]:
        if self.role is None:
            return {}
        return token(self.role, self.department, subject=self.subject,
                     coordinator=self.coordinator)


PUBLIC = Reader()


def city_day(moment: datetime) -> date:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(CITY).date()


def as_list(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def flag(value: str | None) -> bool | None:
    return None if value is None else value == "true"


@dataclass
class Oracle:
    """The lists as a full scan of tracking's `cases` gives them, filtered and sorted here."""

    docs: list[Doc]
    city: CityConfig

    def matches(self, doc: Doc, params: Params, reader: Reader) -> bool:
        """Whether the case is in the list `params` asks for, for `reader` (`/api/cases`
        for the public, `/api/staff/cases` for staff)."""
        staff = reader.role is not None
        statuses = as_list(params.get("status"))
        if statuses and doc["status"] not in statuses:
            return False
        for name in ("category", "district", "channel"):
            if params.get(name) is not None and doc[name] != params[name]:
                return False
        if reader.role is Role.DEPARTMENT:  # its own cases: led or assisted
            if reader.department not in (doc["department"], *doc.get("assisting", ())):
                return False
        elif params.get("department") is not None and doc["department"] != params["department"]:
            return False
        for name in ("overdue", "escalated"):
            wanted = flag(params.get(name))
            if wanted is not None and bool(doc[name]) is not wanted:
                return False
        wanted = flag(params.get("open"))
        if wanted is not None and (doc["status"] not in ENDED) is not wanted:
            return False
        if params.get("mine") == "true" and not self.mine(doc, reader):
            return False
        if (text := params.get("q")) is not None:
            searched = doc.get("text" if staff else "public_text") or ""
            if text.lower() not in searched.lower() and doc["_id"] != text:
                return False
        submitted = city_day(doc["submitted_at"])
        if params.get("since") is not None and submitted < date.fromisoformat(params["since"]):
            return False
        return not (params.get("until") is not None
                    and submitted > date.fromisoformat(params["until"]))

    @staticmethod
    def mine(doc: Doc, reader: Reader) -> bool:
        if reader.role is Role.REPORTER:
            return doc.get("reporter") == staff_hash(reader.subject)
        return (doc.get("handler") == staff_hash(reader.subject)
                and doc["department"] == reader.department)

    def listed(self, params: Params, reader: Reader = PUBLIC) -> list[Doc]:
        return newest(d for d in self.docs if self.matches(d, params, reader))

    def inbox(self, params: Params, reader: Reader) -> list[Doc]:
        department = reader.department if reader.role is Role.DEPARTMENT else params["department"]
        found = [d for d in self.docs if d["department"] == department and d["status"] in HELD
                 and (params.get("mine") != "true" or self.mine(d, reader))]
        found.sort(key=lambda d: d["_id"])
        found.sort(key=lambda d: d["deadline"])
        found.sort(key=lambda d: d["late"], reverse=True)
        return found

    def open311(self, params: Params, now: datetime) -> list[Doc]:
        if params.get("service_request_id"):
            wanted = set(params["service_request_id"].split(","))
            return newest(d for d in self.docs if d["_id"] in wanted)
        start = datetime.fromisoformat(params["start_date"]) if "start_date" in params else None
        end = datetime.fromisoformat(params["end_date"]) if "end_date" in params else None
        if start is None and end is None:
            start, end = now - OPEN311_WINDOW, now  # the 90 days up to now
        elif end is None:
            assert start is not None
            end = start + OPEN311_WINDOW
        elif start is None:
            start = end - OPEN311_WINDOW
        codes = params["service_code"].split(",") if params.get("service_code") else []
        statuses = params["status"].split(",") if params.get("status") else []

        def kept(doc: Doc) -> bool:
            submitted = aware(doc["submitted_at"])
            if not start <= submitted <= end:
                return False
            if codes and doc["category"] not in codes:
                return False
            shown = "closed" if doc["status"] in CLOSED_FOR_OPEN311 else "open"
            return not statuses or shown in statuses

        return newest(d for d in self.docs if kept(d))

    def on_map(self, params: Params, reader: Reader, bbox: tuple[float, ...] | None
               ) -> dict[str, Any]:
        """A map's points (newest first), how many it placed, the total, and the rest by
        district; the public sees public places only, staff their open cases."""
        asked = {k: v for k, v in params.items() if k in ("status", "category", "district",
                                                            "department")}
        if reader.role is not None:
            asked["open"] = "true"
        matching = [d for d in self.docs if self.matches(d, asked, reader)]
        bounds = self.city.city.bounds
        lo_lon, lo_lat, hi_lon, hi_lat = bbox or (bounds.min_lon, bounds.min_lat,
                                                  bounds.max_lon, bounds.max_lat)
        public = {c.code for c in self.city.categories if c.address_public}
        shown = [d for d in matching if d.get("lat") is not None and d.get("lon") is not None
                 and lo_lat <= d["lat"] <= hi_lat and lo_lon <= d["lon"] <= hi_lon
                 and (reader.role is not None or d["category"] in public)]
        counts = {dist.code: sum(d["district"] == dist.code for d in matching) -
                  sum(d["district"] == dist.code for d in shown) for dist in self.city.districts}
        return {"features": ids(newest(shown))[:int(params.get("limit", 500))],
                "placed": len(shown), "total": len(matching),
                "elsewhere": [(code, n) for code, n in counts.items() if n > 0]}


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def newest(docs: Iterable[Doc]) -> list[Doc]:
    """Newest submitted first; among cases submitted at once, the greater case number first."""
    return sorted(docs, key=lambda d: (aware(d["submitted_at"]), d["_id"]), reverse=True)


def ids(docs: Iterable[Doc]) -> list[str]:
    return [d["_id"] for d in docs]


# ---- the platform and the story --------------------------------------------------------------

STREETS = ("沙口路", "金水路", "大学路", "建设路", "航海路", "农业路")
PROBLEMS = {
    "traffic-signals": "路口的红绿灯不亮了，买菜的老人过马路很危险。",
    "roads": "人行道上的井盖缺失，晚上看不清，已经有人摔倒。",
    "water": "小区停水两天了，家里老人做饭都困难。",
    "heating": "家里暖气不热，室内只有十四度。",
    "inquiry": "想打听一下附近的公交站什么时候恢复。",
    "rights": "的工地老板拖欠工资三个月，工友们很着急。",
    "consumer": "一家健身房预付卡办了就关门，要求退款。",
    "power": "晚上经常停电，LED路灯也不亮。",
}
CATEGORIES = ("traffic-signals", "roads", "water", "heating", "inquiry", "rights", "consumer",
              "power", "roads")
DISTRICTS = ("zhongyuan", "jinshui", "erqi", "guancheng", "gaoxin")
CHANNELS = ("web", "app", "hotline")
SUBMITTED = (at((10, 5), 0, 20), at((10, 5), 9), at((10, 5), 23, 30), at((10, 6), 9),
             at((10, 6), 14), at((10, 7), 8))
"""When the cases come in (city time), six at each moment: ties on `submitted_at`, and the
edges of city days (00:20 and 23:30 fall on other UTC days)."""
CASES = 6 * len(SUBMITTED)
PHONE = "13912345678"

LEFT_SUBMITTED = (5, 29, 35)
REJECTED = (3, 17)
MERGED = {10: 1, 22: 13}
WITH_REPORTER = {8: "reporter-0042", 20: "reporter-0077"}
CORRECTED: dict[int, dict[str, str]] = {2: {"district": "jinshui"}, 9: {"category": "roads"},
                                        14: {"priority": "emergency"}}


def request(i: int) -> dict[str, Any]:
    """The i-th resident's request: categories, districts and channels in turn, a point for
    most (kept in clear only for a public place), one description with a phone number."""
    category = CATEGORIES[i % len(CATEGORIES)]
    description = f"{STREETS[i % len(STREETS)]}{PROBLEMS[category]}"
    if i == 7:
        description += f"我的电话是{PHONE}。"
    location: dict[str, Any] = {"district": DISTRICTS[i % len(DISTRICTS)],
                                "street": f"{STREETS[i % len(STREETS)]}{i}号附近"}
    if i % 4 != 3:
        location.update(lat=round(34.70 + i * 0.004, 6), lon=round(113.60 + i * 0.004, 6))
    body: dict[str, Any] = {"category": category, "description": description,
                            "location": location, "channel": CHANNELS[i % len(CHANNELS)]}
    if category == "traffic-signals":
        body["attributes"] = {"signal_state": "dark"}
    return body


@dataclass
class Platform:
    """Intake, routing and tracking on the module's topics and databases, on a manual clock."""

    settings: CommonSettings
    clock: ManualClock
    http: httpx.AsyncClient
    routing: RoutingService
    store: Any  # tracking's `cases` collection, read here only to scan it whole
    city: CityConfig
    intake: IntakeService
    codes: dict[str, str] = field(default_factory=dict)
    """Each case's tracking code (the resident's), by case number."""
    order: list[str] = field(default_factory=list)
    """The case numbers in the order submitted."""

    async def scan(self) -> Oracle:
        return Oracle([unpack_row(doc) async for doc in self.store.find({})], self.city)

    async def act(self, path: str, reader: Reader | dict[str, str], body: Any = None) -> Any:
        """A command over HTTP, repeated while the service that takes it has not yet read
        what came before (404, 409); anything else than success fails the test."""
        headers = reader.headers if isinstance(reader, Reader) else reader

        for _attempt in range(100):
            answer = await self.http.post(path, headers=headers, json=body or {})
            if answer.status_code not in (404, 409):
                break
            await asyncio.sleep(0.1)
        assert answer.status_code in (200, 201, 202), (path, answer.text)
        return answer.json()

    async def submit(self, i: int) -> str:
        body = request(i)
        if body["channel"] == "hotline":
            receipt = await self.act("/api/hotline/cases", OFFICER, body)
        else:
            receipt = await self.act("/api/cases", {}, body)
        self.codes[receipt["case_id"]] = receipt["tracking_code"]
        return str(receipt["case_id"])

    async def settled(self) -> None:
        """Wait until routing and tracking have both consumed the whole case log, and the log
        has not grown meanwhile: routing records its reactions (a case routed on acceptance)
        before it commits what it reacted to, so nothing more is on its way."""
        groups = [f"{self.settings.topic_prefix}zaiban-{name}" for name in ("routing", "tracking")]
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap,
                                    **as_admin(self.settings))
        await admin.start()
        try:
            async with LogReader(self.settings, ADMIN) as log:
                async def consumed() -> bool:
                    _, ends = await log.bounds()
                    for group in groups:
                        committed = await admin.list_consumer_group_offsets(group)
                        if any(committed.get(tp) is None or committed[tp].offset < end
                               for tp, end in ends.items() if end > 0):
                            return False
                    _, again = await log.bounds()
                    return again == ends

                await eventually(consumed, timeout=30, every=0.1,
                                 what="routing and tracking to consume the whole case log")
        finally:
            await admin.close()

    def case(self, i: int) -> str:
        return self.order[i]


async def moved_on(platform: Platform, moment: datetime) -> None:
    """The clock set to `moment`, and what its deadlines mean recorded and projected."""
    platform.clock.set(moment)
    await platform.intake.sweep_deadlines()  # a case awaiting triage is intake's
    await platform.routing.sweep()
    await platform.settled()


async def drive_the_story(platform: Platform) -> None:
    """Three dozen cases through triage, routing, handling, the residents' answers,
    supervision and the deadlines; every status and flag occurs."""
    act, clock = platform.act, platform.clock
    for moment, group in itertools.groupby(range(CASES), key=lambda i: SUBMITTED[i // 6]):
        clock.set(moment)
        platform.order.extend(await asyncio.gather(*(platform.submit(i) for i in group)))

    # 10-07: the officers triage
    clock.set(at((10, 7), 10))
    case = platform.case
    triage = []
    for i in range(CASES):
        path = f"/api/cases/{case(i)}"
        if i in LEFT_SUBMITTED:
            continue
        if i in REJECTED:
            triage.append(act(f"{path}/reject", OFFICER, {"reason": "不属于受理范围"}))
        elif i in MERGED:
            triage.append(act(f"{path}/merge", OFFICER, {"into_case_id": case(MERGED[i])}))
        elif i in WITH_REPORTER:
            triage.append(act(f"{path}/accept", OFFICER, {"reporter_id": WITH_REPORTER[i]}))
        else:
            triage.append(act(f"{path}/accept", OFFICER, CORRECTED.get(i, {})))
    await asyncio.gather(*triage)
    await platform.settled()

    # a reporter routes one of theirs; the departments start on theirs
    clock.set(at((10, 7), 11))
    reporter = Reader(Role.REPORTER, subject=WITH_REPORTER[8])
    await act(f"/api/cases/{case(8)}/route", reporter, {})
    await platform.settled()
    scan = await platform.scan()
    routed = sorted((d for d in scan.docs if d["status"] == "routed"),
                    key=lambda d: platform.order.index(d["_id"]))
    returned = next(d for d in routed if d["category"] == "water")
    reassigned = next(d for d in routed if d["category"] == "consumer")
    rest = [d for d in routed if d is not returned and d is not reassigned]
    acknowledged, untouched = rest[::2], rest[1::2]

    def lead(doc: Doc, **more: Any) -> Reader:
        return Reader(Role.DEPARTMENT, doc["department"], **more)

    def desk(doc: Doc) -> Reader:
        return lead(doc, subject=f"{doc['department']}-desk")

    await asyncio.gather(
        act(f"/api/cases/{returned['_id']}/return", desk(returned), {"reason": "不是我们的管线"}),
        act(f"/api/cases/{reassigned['_id']}/reassign", SUPERVISOR,
            {"department": "housing", "reason": "物业问题，转住房部门"}),
        act(f"/api/cases/{case(4)}/reporter", OFFICER, {"reporter_id": WITH_REPORTER[8]}),
        *(act(f"/api/cases/{d['_id']}/acknowledge", desk(d), {"note": "已派人查看"})
          for d in acknowledged),
    )
    await asyncio.gather(*(
        act(f"/api/cases/{d['_id']}/handler", lead(d, subject="chen", coordinator=True),
            {"handler": f"{d['department']}-wang"})
        for d in [*acknowledged[::2], *untouched[::3]]))
    resolved = acknowledged[1::2]
    await asyncio.gather(*(act(f"/api/cases/{d['_id']}/resolve", desk(d),
                               {"resolution": "已处理完毕，恢复正常。"}) for d in resolved))
    await asyncio.gather(*(act(f"/api/cases/{d['_id']}/escalate", SUPERVISOR,
                               {"note": "督办"}) for d in untouched[1::3]))
    await platform.settled()

    # the residents answer: fixed and satisfied, not fixed, fixed but not satisfied
    clock.set(at((10, 7), 16))
    answers = ({"fixed": True, "satisfied": True, "rating": 5},
               {"fixed": False, "satisfied": False, "rating": 1},
               {"fixed": True, "satisfied": False, "rating": 2})
    await asyncio.gather(*(
        act(f"/api/cases/{d['_id']}/feedback", {"X-Tracking-Code": platform.codes[d["_id"]]},
            answer) for d, answer in zip(resolved, answers, strict=False)))
    await platform.settled()

    # two days on: the deadlines that ran out are marked
    await moved_on(platform, at((10, 9), 20))


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def platform(stack: StackInfo) -> AsyncIterator[Platform]:
    async with a_namespace(stack) as namespace, settings_in(namespace) as settings:
        clock = ManualClock(at((10, 5), 0, 20))
        # the triage deadlines are marked when the story says (`moved_on`), not while officers
        # triage: intake, which knows a case the moment it records it, sweeps no sooner
        services = [IntakeService(IntakeSettings.from_common(settings, sweep_every_s=3600),
                                  clock),
                    *(build(name, settings, clock) for name in ("routing", "tracking"))]
        intake, routing = services[:2]
        assert isinstance(intake, IntakeService) and isinstance(routing, RoutingService)
        client = make_client(settings)
        try:
            async with running(*services), client_for(build_app(services, title="zaiban")
                                                      ) as http:
                made = Platform(settings, clock, http, routing,
                                service_db(client, settings, "tracking")["cases"],
                                load_city(settings.config_dir), intake)
                await drive_the_story(made)
                yield made
        finally:
            await client.close()



# ---- the lists asked, and their answers compared with the oracle's --------------------------

OPEN311 = "/open311/v2/requests.json"


@dataclass(frozen=True)
class Ask:
    """One list as somebody asks for it; `paged`: also read page by page (limit, offset)."""

    path: str
    params: Params = field(default_factory=dict)
    reader: Reader = PUBLIC
    paged: bool = False

    def __str__(self) -> str:
        who = f" as {self.reader.role.value} {self.reader.department or ''} " \
              f"{self.reader.subject}" if self.reader.role else ""
        return f"GET {self.path} {self.params}{who}"


def public_asks(oracle: Oracle, first: str) -> list[Ask]:
    """The public list with each of its filters; `first`: a case number to search for."""
    asked: list[Params] = [
        {}, {"status": "submitted"}, {"status": ["routed", "acknowledged"]},
        {"status": "closed"}, {"status": "merged"}, {"category": "roads"},
        {"district": "jinshui"}, {"department": "signal-co"}, {"department": "roads-office"},
        {"q": "红绿灯"}, {"q": "井盖"}, {"q": "led"}, {"q": "停"}, {"q": PHONE}, {"q": first},
        {"q": "不存在的事"}, {"category": "water", "status": "routed"},
        {"district": "jinshui", "q": "井盖"}, {"category": "heating", "district": "erqi"},
    ]
    return [Ask("/api/cases", p, paged=not p or p == {"q": "停"}) for p in asked]


def staff_asks(oracle: Oracle, first: str) -> list[Ask]:
    """The staff list for an officer, a supervisor, reporters and departments' staff."""
    officer = Reader(Role.OFFICER, subject="officer-zhao")
    asked: list[Params] = [
        {}, {"status": "submitted"}, {"status": ["accepted", "awaiting_dispatch"]},
        {"department": "signal-co"}, {"district": "gaoxin"}, {"category": "heating"},
        {"channel": "hotline"}, {"channel": "app", "open": "true"}, {"overdue": "true"},
        {"overdue": "false"}, {"escalated": "true"}, {"open": "true"}, {"open": "false"},
        {"q": PHONE}, {"q": "红绿灯"}, {"q": "LED"}, {"q": first},
        {"status": "routed", "overdue": "true"}, {"open": "true", "escalated": "true"},
    ]
    asks = [Ask("/api/staff/cases", p, officer, paged=p in ({}, {"open": "true"}))
            for p in asked]
    asks.append(Ask("/api/staff/cases", {"overdue": "true", "open": "true"},
                    Reader(Role.SUPERVISOR, subject="supervisor-qian")))
    asks += [Ask("/api/staff/cases", {"mine": "true"}, Reader(Role.REPORTER, subject=who))
             for who in (*WITH_REPORTER.values(), "reporter-0099")]
    for department in departments(oracle):
        staff = Reader(Role.DEPARTMENT, department, subject=f"{department}-desk")
        handler = Reader(Role.DEPARTMENT, department, subject=f"{department}-wang")
        asks += [Ask("/api/staff/cases", {}, staff),
                 Ask("/api/staff/cases", {"open": "true", "status": "routed"}, staff),
                 Ask("/api/staff/cases", {"mine": "true"}, handler)]
    asks.append(Ask("/api/staff/cases", {"q": "井盖"},
                    Reader(Role.DEPARTMENT, "roads-office", subject="roads-office-desk")))
    return asks


def inbox_asks(oracle: Oracle) -> list[Ask]:
    """Each department's inbox, for its coordinator, a supervisor, and its handlers."""
    asks = []
    for department in departments(oracle):
        coordinator = Reader(Role.DEPARTMENT, department, subject="chen", coordinator=True)
        handler = Reader(Role.DEPARTMENT, department, subject=f"{department}-wang")
        asks += [Ask("/api/staff/inbox", {}, coordinator, paged=True),
                 Ask("/api/staff/inbox", {"department": department},
                     Reader(Role.SUPERVISOR, subject="supervisor-qian")),
                 Ask("/api/staff/inbox", {"mine": "true"}, handler)]
    return asks


def open311_asks(oracle: Oracle) -> list[Ask]:
    some = [d["_id"] for d in oracle.docs][:40:7]
    asked: list[Params] = [
        {}, {"status": "open"}, {"status": "closed"}, {"status": "open,closed"},
        {"service_code": "roads"}, {"service_code": "roads,water", "status": "open"},
        {"start_date": "2026-10-05T09:00:00+08:00", "end_date": "2026-10-06T09:00:00+08:00"},
        {"start_date": "2026-10-06T00:00:00+08:00"}, {"end_date": "2026-10-05T23:30:00+08:00"},
        {"service_request_id": ",".join([*some, "ZB000000-NONE-0000"])},
    ]
    return [Ask(OPEN311, p) for p in asked]


MAP_BOX = (113.6, 34.7, 113.68, 34.78)


def map_asks(oracle: Oracle) -> list[Ask]:
    box = ",".join(str(x) for x in MAP_BOX)
    asks = [Ask("/api/cases/map", p) for p in (
        {}, {"category": "roads"}, {"status": "routed"}, {"bbox": box}, {"limit": "3"},
        {"district": "jinshui", "department": "jinshui-roads"})]
    officer = Reader(Role.OFFICER, subject="officer-zhao")
    asks += [Ask("/api/staff/cases/map", {}, officer),
             Ask("/api/staff/cases/map", {"bbox": box, "category": "water"}, officer),
             Ask("/api/staff/cases/map", {},
                 Reader(Role.DEPARTMENT, "roads-office", subject="roads-office-desk"))]
    return asks


def every_ask(oracle: Oracle, first: str) -> list[Ask]:
    return [*public_asks(oracle, first), *staff_asks(oracle, first), *inbox_asks(oracle),
            *open311_asks(oracle), *map_asks(oracle)]


def departments(oracle: Oracle) -> list[str]:
    return sorted({d["department"] for d in oracle.docs if d["department"]})


async def get(http: httpx.AsyncClient, ask: Ask, **more: Any) -> Any:
    answer = await http.get(ask.path, headers=ask.reader.headers,
                            params={**ask.params, **more})
    assert answer.status_code == 200, (str(ask), answer.text)
    return answer.json()


def expected(oracle: Oracle, ask: Ask, now: datetime) -> Any:
    """What the oracle says `ask` answers: (case numbers in order, total), or a map."""
    if ask.path == OPEN311:
        return ids(oracle.open311(ask.params, now)), None
    if ask.path.endswith("/map"):
        bbox = tuple(float(x) for x in ask.params["bbox"].split(",")) \
            if "bbox" in ask.params else None
        return oracle.on_map(ask.params, ask.reader, bbox)
    found = expected_rows(oracle, ask)
    return ids(found), len(found)


def expected_rows(oracle: Oracle, ask: Ask) -> list[Doc]:
    """The cases a list (the public's, staff's, an inbox) holds, in its order."""
    if ask.path == "/api/staff/inbox":
        return oracle.inbox(ask.params, ask.reader)
    return oracle.listed(ask.params, ask.reader)


async def answered(http: httpx.AsyncClient, ask: Ask, **more: Any) -> Any:
    """What the service answers `ask`, in the oracle's shape."""
    body = await get(http, ask, **more)
    if ask.path == OPEN311:
        return [row["service_request_id"] for row in body], None
    if ask.path.endswith("/map"):
        return {"features": [f["id"] for f in body["features"]], "placed": body["placed"],
                "total": body["total"],
                "elsewhere": [(row["district"], row["count"]) for row in body["elsewhere"]]}
    return [item["case_id"] for item in body["items"]], body["total"]


def ranked(ask: Ask) -> bool:
    """A search for words: the most relevant cases first, then the newest."""
    return "q" in ask.params and ask.path in ("/api/cases", "/api/staff/cases")


def rank_differs(oracle: Oracle, ask: Ask, want: list[str], got: list[str]) -> str | None:
    """How a search's answer differs from the oracle's: how relevant a case is, is the text
    index's to weigh, so the answer must hold the very cases the oracle finds, and cases whose
    searched texts are the same (as relevant as each other, however weighed) newest first."""
    if sorted(got) != sorted(want):
        return f"other cases: {sorted(set(got) ^ set(want))}"
    field = "text" if ask.reader.role is not None else "public_text"
    texts = {doc["_id"]: doc.get(field) for doc in oracle.docs}
    for text in {texts[case] for case in want}:
        alike = [[case for case in order if texts[case] == text] for order in (want, got)]
        if alike[0] != alike[1]:
            return f"equally relevant cases not newest first: {alike[1]}, not {alike[0]}"
    return None


PAGE = 4
ASKED_AT_ONCE = 6


async def differences(platform: Platform, asks: Callable[[Oracle], list[Ask]]) -> list[str]:
    """Every answer that differs from the oracle's on a scan taken just before."""
    oracle = await platform.scan()
    now = platform.clock.now()
    gate = asyncio.Semaphore(ASKED_AT_ONCE)

    async def compared(ask: Ask, want: Any, **more: Any) -> str | None:
        async with gate:
            got = await answered(platform.http, ask, **more)
        return None if got == want else f"{ask} {more}: expected {want}, got {got}"

    async def searched(ask: Ask, want: tuple[list[str], int]) -> str | None:
        async with gate:
            got, total = await answered(platform.http, ask, limit=100)
        wrong = rank_differs(oracle, ask, want[0], got) or (
            f"total {total}, not {want[1]}" if total != want[1] else None)
        if wrong:
            return f"{ask}: {wrong}; expected {want} (by relevance), got {(got, total)}"
        pages = [compared(ask, (got[offset:offset + PAGE], total), limit=PAGE, offset=offset)
                 for offset in range(0, len(got) + 1, PAGE) if ask.paged]
        return "; ".join(filter(None, await asyncio.gather(*pages))) or None

    comparisons = []
    for ask in asks(oracle):
        want = expected(oracle, ask, now)
        if ranked(ask):
            comparisons.append(searched(ask, want))
            continue
        more = {} if ask.path == OPEN311 or ask.path.endswith("/map") else {"limit": 100}
        comparisons.append(compared(ask, want, **more))
        if ask.paged:
            in_order, total = want
            comparisons += [compared(ask, (in_order[offset:offset + PAGE], total),
                                     limit=PAGE, offset=offset)
                            for offset in range(0, len(in_order) + 1, PAGE)]
    return [found for found in await asyncio.gather(*comparisons) if found]


async def equal_to_scans(platform: Platform, asks: Callable[[Oracle], list[Ask]] | None = None,
                         timeout: float = 15.0) -> None:
    """Every list asked equals the oracle's answer on a full scan (tracking may take a moment
    to show what it has written: asked again until `timeout`)."""
    first = platform.case(0)
    chosen = asks or (lambda oracle: every_ask(oracle, first))
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await differences(platform, chosen)
        if not found or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.5)
    assert not found, f"{len(found)} lists differ from a full scan:\n" + "\n".join(found)


async def test_the_story_has_every_status_and_flag(platform: Platform) -> None:
    scan = await platform.scan()
    statuses = {d["status"] for d in scan.docs}
    assert statuses == {"submitted", "accepted", "awaiting_dispatch", "routed", "acknowledged",
                        "resolved", "closed", "rejected", "merged"}
    for name in ("overdue", "escalated", "late"):
        assert {bool(d[name]) for d in scan.docs} == {True, False}, name
    assert any(d["assisting"] for d in scan.docs)
    assert any(d["handler"] for d in scan.docs) and any(d["reporter"] for d in scan.docs)
    assert {d["channel"] for d in scan.docs} == set(CHANNELS)


async def test_every_list_equals_a_full_scan(platform: Platform) -> None:
    await equal_to_scans(platform)


# ---- the public list's period: city dates, submitted within, both ends included -------------

PERIODS: list[Params] = [
    {"since": "2026-10-06"}, {"until": "2026-10-05"},
    {"since": "2026-10-05", "until": "2026-10-05"},  # 00:20 in the city is the day before in UTC
    {"since": "2026-10-06", "until": "2026-10-06"},
    {"since": "2026-10-05", "until": "2026-10-06", "category": "roads"},
    {"since": "2026-10-07", "status": ["routed", "acknowledged"]},
    {"since": "2026-10-06", "q": "停"}, {"since": "2026-10-08"}, {"until": "2026-10-04"},
]


async def test_the_public_list_of_a_period_equals_a_full_scan(platform: Platform) -> None:
    await equal_to_scans(platform, lambda _: [Ask("/api/cases", p, paged=p is PERIODS[0])
                                              for p in PERIODS], timeout=5)
    for name in ("since", "until"):
        answer = await platform.http.get("/api/cases", params={name: "2026-13-01"})
        assert answer.status_code == 422 and name in answer.text, (name, answer.text)


# ---- keyset paging: `after` the cursor of the page before ------------------------------------


async def walk(http: httpx.AsyncClient, ask: Ask, limit: int,
               between: Callable[[], Awaitable[None]] | None = None) -> list[str]:
    """The case numbers of a list read page by page, each page after the `next` cursor of the
    one before, until a page says there is none; `between`: what happens between pages."""
    seen: list[str] = []
    after: str | None = None
    for _page in range(200):
        body = await get(http, ask, limit=limit, **({"after": after} if after else {}))
        assert "next" in body, f"{ask}: the page has no `next` cursor: {sorted(body)}"
        seen += [item["case_id"] for item in body["items"]]
        after = body["next"]
        if after is None:
            return seen
        if between is not None:
            await between()
    raise AssertionError(f"{ask}: still a `next` cursor after 200 pages")


def cursor_asks(oracle: Oracle) -> list[Ask]:
    officer = Reader(Role.OFFICER, subject="officer-zhao")
    busiest = max(departments(oracle), key=lambda code: len(
        oracle.inbox({"department": code}, Reader(Role.SUPERVISOR))))
    return [Ask("/api/cases"), Ask("/api/cases", {"q": "停"}),
            Ask("/api/cases", {"status": ["routed", "acknowledged"], "since": "2026-10-05"}),
            Ask("/api/staff/cases", {}, officer), Ask("/api/staff/cases", {"open": "true"}, officer),
            Ask("/api/staff/cases", {}, Reader(Role.DEPARTMENT, "housing", subject="h-desk")),
            Ask("/api/staff/inbox", {"department": busiest}, Reader(Role.SUPERVISOR)),
            Ask("/api/staff/inbox", {}, Reader(Role.DEPARTMENT, busiest, subject="chen"))]


async def test_pages_after_a_cursor_are_the_whole_list_in_order(platform: Platform) -> None:
    oracle = await platform.scan()
    for ask in cursor_asks(oracle):
        in_order, _ = expected(oracle, ask, platform.clock.now())
        if ranked(ask):  # in the order of relevance the service weighs (checked here)
            ranking, _ = await answered(platform.http, ask, limit=100)
            assert rank_differs(oracle, ask, in_order, ranking) is None, (str(ask), ranking)
            in_order = ranking
        for limit in (1, 3, 100):
            assert await walk(platform.http, ask, limit) == in_order, (str(ask), limit)
    for path, who in (("/api/cases", PUBLIC), ("/api/staff/cases", Reader(Role.OFFICER)),
                      ("/api/staff/inbox", Reader(Role.SUPERVISOR))):
        answer = await platform.http.get(path, headers=who.headers, params={
            "after": "not-a-cursor", "department": "signal-co"})
        assert answer.status_code == 422 and "after" in answer.text, (path, answer.text)


# ---- the lists after live updates, redeliveries and a replay ---------------------------------


def desk(doc: Doc) -> Reader:
    """The staff of the department that leads the case."""
    return Reader(Role.DEPARTMENT, doc["department"], subject=f"{doc['department']}-desk")


@dataclass
class Moves:
    """Commands on the cases as a scan found them, each taking a case not moved yet."""

    platform: Platform
    oracle: Oracle
    taken: set[str] = field(default_factory=set)

    def pick(self, status: str, department: str | None = None, *,
             where: Callable[[Doc], bool] = lambda _: True) -> Doc | None:
        for doc in newest(self.oracle.docs):
            if doc["status"] == status and doc["_id"] not in self.taken and where(doc) and (
                    department is None or doc["department"] == department):
                self.taken.add(doc["_id"])
                return doc
        return None

    async def on(self, doc: Doc | None, command: str, reader: Reader, body: Params) -> None:
        if doc is not None:
            await self.platform.act(f"/api/cases/{doc['_id']}/{command}", reader, body)

    async def acknowledge(self) -> None:
        doc = self.pick("routed")
        await self.on(doc, "acknowledge", desk(doc) if doc else PUBLIC, {"note": "收到"})

    async def resolve(self, department: str | None = None) -> None:
        doc = self.pick("acknowledged", department)
        await self.on(doc, "resolve", desk(doc) if doc else PUBLIC, {"resolution": "已修好。"})

    async def accept(self) -> None:
        await self.on(self.pick("submitted"), "accept", Reader(Role.OFFICER), {})

    async def reject(self) -> None:
        await self.on(self.pick("submitted"), "reject", Reader(Role.OFFICER),
                      {"reason": "重复提交"})

    async def escalate(self) -> None:
        await self.on(self.pick("routed", where=lambda doc: not doc["escalated"]), "escalate",
                      Reader(Role.SUPERVISOR), {"note": "督办"})

    async def submit(self) -> None:
        platform = self.platform
        platform.order.append(await platform.submit(len(platform.order)))


async def test_lists_stay_equal_after_live_updates_and_redeliveries(platform: Platform) -> None:
    # live: more commands on cases already listed, and new cases
    await moved_on(platform, at((10, 10), 9))
    moves = Moves(platform, await platform.scan())
    await asyncio.gather(moves.acknowledge(), moves.acknowledge(), moves.resolve(),
                         moves.resolve(), moves.accept(), moves.escalate(), moves.submit(),
                         moves.submit(), moves.submit())
    await platform.settled()
    await equal_to_scans(platform)

    # events delivered again (a producer that lost its answer, a consumer that crashed before
    # committing): nothing changes
    before = (await platform.scan()).docs
    log = await read_events(platform.settings)
    await publish_envelopes(platform.settings, [*log[::len(log) // 8], log[-1]])
    await platform.settled()
    assert (await platform.scan()).docs == before
    await equal_to_scans(platform)


async def test_lists_stay_equal_after_a_replay_while_serving(platform: Platform) -> None:
    before = {doc["_id"]: doc for doc in (await platform.scan()).docs}
    moves = Moves(platform, Oracle(list(before.values()), platform.city))
    rebuilt = asyncio.create_task(rebuild(platform.settings))
    await asyncio.gather(moves.acknowledge(), moves.resolve(), moves.reject(), moves.submit())
    report = await rebuilt
    await platform.settled()
    await equal_to_scans(platform)
    after = (await platform.scan()).docs
    assert report.cases == len(after)
    # the cases nothing happened to are as they were: the replay rebuilt them the same
    still = [doc for doc in after if doc["_id"] in before and doc["_id"] not in moves.taken]
    assert still and all(doc == before[doc["_id"]] for doc in still)


async def test_walking_pages_while_cases_change(platform: Platform) -> None:
    """Page after page with `after` while new cases come in and others move: no case twice,
    and every case that matched before and still matches afterwards on some page. Each walk
    moves cases in ways that keep its order's keys (a case's place in an inbox moves with
    its deadline; what comes in or leaves is what the walk must cope with)."""
    await moved_on(platform, at((10, 11), 9))
    officer = Reader(Role.OFFICER, subject="officer-zhao")
    oracle = await platform.scan()
    moves = Moves(platform, oracle)
    busiest = max(departments(oracle), key=lambda code: len(
        oracle.inbox({"department": code}, Reader(Role.SUPERVISOR))))
    walks: list[tuple[Ask, list[Callable[[], Awaitable[None]]]]] = [
        (Ask("/api/cases", {"status": ["routed", "acknowledged"]}),
         [moves.acknowledge, moves.resolve, moves.submit, moves.accept]),
        (Ask("/api/staff/cases", {"open": "true"}, officer),
         [moves.submit, moves.reject, moves.resolve, moves.escalate]),
        (Ask("/api/staff/inbox", {"department": busiest}, Reader(Role.SUPERVISOR)),
         [lambda: moves.resolve(busiest), moves.accept, moves.submit]),
    ]
    for ask, changes in walks:
        await platform.settled()
        start = set(ids(expected_rows(await platform.scan(), ask)))
        turns = itertools.cycle(changes)

        async def change(turns: Iterator[Callable[[], Awaitable[None]]] = turns) -> None:
            await next(turns)()
            await platform.settled()

        walked = await walk(platform.http, ask, limit=4, between=change)
        await platform.settled()
        end = set(ids(expected_rows(await platform.scan(), ask)))
        assert len(walked) == len(set(walked)), f"{ask}: a case on two pages: {walked}"
        assert start & end <= set(walked), f"{ask}: missed {sorted(start & end - set(walked))}"

