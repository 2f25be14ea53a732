"""The reference case of BRIEF.md, end to end through the HTTP API on the real stack.

10-06 a resident reports that the traffic lights at the gate of the Wangfufen
vegetable market on Shakou Road are dark; an officer accepts it the same day and
hands it to a reporter. 10-07 the reporter visits and passes the case to the
signal company. A story is published. 10-12 the lights work again: resolved, and
the resident confirms. The public timeline shows each step, in order, with its
date and without personal data; the figures count the case once.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from helpers import client_for, eventually, running
from servicefixtures import token

from contracts.facts import Role
from services.common.clock import ManualClock
from services.common.http import build_app
from services.common.settings import CommonSettings
from services.composition import SERVICES, build

CST = timezone(timedelta(hours=8))
OFFICER = token(Role.OFFICER, subject="officer-li")
REPORTER = token(Role.REPORTER, subject="reporter-zhang")
SIGNAL_CO = token(Role.DEPARTMENT, "signal-co", subject="signal-desk")
RESIDENT_NAME, RESIDENT_PHONE = "王女士", "13700000000"
EXACT_ADDRESS = "沙口路王府坟菜市场正门东侧"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=CST)


async def timeline(http: httpx.AsyncClient, case_id: str) -> list[dict[str, Any]]:
    answer = await http.get(f"/api/cases/{case_id}", params={"lang": "zh-Hans"})
    return answer.json()["timeline"] if answer.status_code == 200 else []


async def has_entry(http: httpx.AsyncClient, case_id: str, kind: str) -> bool:
    return any(entry["type"] == kind for entry in await timeline(http, case_id))


async def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()  # type: ignore[no-any-return]


async def test_the_wangfufen_traffic_lights(settings: CommonSettings) -> None:
    clock = ManualClock(at(6, 8, 40))
    services = [build(name, settings, clock) for name in SERVICES]
    app = build_app(services, title="zaiban")
    async with running(*services), client_for(app) as http:
        # 10-06: the resident reports, in one step
        receipt = await ok(await http.post("/api/cases", json={
            "category": "traffic-signals",
            "description": "沙口路王府坟菜市场门口的红绿灯不亮了，买菜的老人和孩子过马路很危险。",
            "location": {"district": "zhongyuan", "street": "沙口路王府坟菜市场门口",
                         "address": EXACT_ADDRESS},
            "attributes": {"signal_state": "dark"},
            "contact": {"name": RESIDENT_NAME, "phone": RESIDENT_PHONE},
        }))
        case_id, code = receipt["case_id"], receipt["tracking_code"]
        await eventually(lambda: has_entry(http, case_id, "CaseSubmitted"), what="the case page")

        # 10-06: an officer accepts it the same day and hands it to a reporter
        clock.set(at(6, 10, 15))
        await ok(await http.post(f"/api/cases/{case_id}/accept", headers=OFFICER,
                                 json={"reporter_id": "reporter-zhang", "note": "安排记者现场了解"}))
        await eventually(lambda: has_entry(http, case_id, "ReporterAssigned"),
                         what="routing to hand the case to the reporter")

        # 10-07: the reporter visits the site and passes the case to the signal company
        clock.set(at(7, 9, 30))
        await ok(await http.post(f"/api/cases/{case_id}/site-visits", headers=REPORTER, json={
            "note": "记者到现场查看：菜市场门口四组信号灯均不亮，已联系信号灯维护单位。"}))
        clock.set(at(7, 10))
        await ok(await http.post(f"/api/cases/{case_id}/route", headers=REPORTER,
                                 json={"department": "signal-co"}))
        clock.set(at(7, 15))
        await ok(await http.post(f"/api/cases/{case_id}/acknowledge", headers=SIGNAL_CO,
                                 json={"note": "已派维修人员排查"}))

        # the story: 《王府墳菜市場門口紅綠燈何時能點亮?》
        clock.set(at(8, 18))
        await ok(await http.post(f"/api/cases/{case_id}/stories", headers=REPORTER, json={
            "title": "王府坟菜市场门口红绿灯何时能点亮？", "column": "inquiry",
            "url": "https://news.example.org/zhengzaiban/wangfufen-traffic-lights"}))

        # 10-12: all four lights work; resolved, and the resident confirms
        clock.set(at(12, 9))
        await ok(await http.post(f"/api/cases/{case_id}/resolve", headers=SIGNAL_CO, json={
            "resolution": "已更换信号机电源模块，四组信号灯恢复正常。"}))
        clock.set(at(12, 10, 30))
        await ok(await http.post(f"/api/cases/{case_id}/site-visits", headers=REPORTER,
                                 json={"note": "记者回访：四组信号灯全部正常工作。"}))
        clock.set(at(12, 16))
        await ok(await http.post(f"/api/cases/{case_id}/feedback",
                                 headers={"X-Tracking-Code": code},
                                 json={"fixed": True, "satisfied": True, "rating": 5,
                                       "comment": "灯亮了，谢谢！"}))
        await eventually(lambda: has_entry(http, case_id, "CaseClosed"), what="the closed case")

        # the public timeline: these steps, in this order, on these days
        public = await http.get(f"/api/cases/{case_id}")
        steps = [(entry["type"], entry["date"]) for entry in public.json()["timeline"]]
        assert steps == [
            ("CaseSubmitted", "2026-10-06"),
            ("CaseAccepted", "2026-10-06"),
            ("ReporterAssigned", "2026-10-06"),
            ("SiteVisited", "2026-10-07"),
            ("CaseRouted", "2026-10-07"),
            ("CaseAcknowledged", "2026-10-07"),
            ("StoryPublished", "2026-10-08"),
            ("CaseResolved", "2026-10-12"),
            ("SiteVisited", "2026-10-12"),
            ("FeedbackGiven", "2026-10-12"),
            ("CaseClosed", "2026-10-12"),
        ]
        routed = next(e for e in public.json()["timeline"] if e["type"] == "CaseRouted")
        assert "交通信号设施公司" in routed["text"]
        for private in (RESIDENT_NAME, RESIDENT_PHONE, code):
            assert private not in public.text

        # the figures: received once, resolved once
        async def figures() -> dict[str, Any] | None:
            answer = await http.get("/api/stats/summary")
            body = answer.json() if answer.status_code == 200 else None
            return body if body and body.get("resolved") == 1 else None

        summary = await eventually(figures, what="the metrics to count the case")
        assert summary["received"] == 1 and summary["resolved"] == 1
        assert summary["resolution_rate_pct"] == 100.0
