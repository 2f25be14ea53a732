"""Supervision (督辦) in the browser: a case under supervision shows on the board; the
supervisor assigns a reporter; the reporter links the published story, which the public
case page then shows; a supervisor reassigns a case to another department."""

from __future__ import annotations

from pathlib import Path

import httpx
from browser.webpages import DESK, PHONE, Web, act, sign_in, staff_token, texts, work_item
from helpers import eventually
from playwright.async_api import Browser, expect

from contracts.facts import Role

REQUEST = {
    "category": "water",
    "description": "花园路 12 号院从昨天开始停水，至今没有通知什么时候恢复。",
    "location": {"district": "jinshui", "street": "花园路 12 号院"},
}


async def a_case_under_supervision(web: Web) -> str:
    """Submitted, accepted (routed to the water company by the rules), then escalated."""
    officer = {"Authorization": f"Bearer {staff_token(Role.OFFICER)}"}
    supervisor = {"Authorization": f"Bearer {staff_token(Role.SUPERVISOR)}"}
    async with httpx.AsyncClient(base_url=web.base_url, timeout=20) as http:
        case_id: str = (await http.post("/api/cases", json=REQUEST)).json()["case_id"]
        assert (await http.post(f"/api/cases/{case_id}/accept", headers=officer,
                                json={})).status_code == 200

        async def routed() -> bool:
            seen = await http.get(f"/api/cases/{case_id}")
            return seen.status_code == 200 and seen.json()["status"] == "routed"

        await eventually(routed, what="the case routed to the water company by the rules")
        escalated = await http.post(f"/api/cases/{case_id}/escalate", headers=supervisor,
                                    json={"note": "两天未恢复供水"})
        assert escalated.status_code == 200, escalated.text

        async def on_the_board() -> bool:
            seen = await http.get(f"/api/staff/cases/{case_id}", headers=supervisor)
            return seen.status_code == 200 and seen.json()["facts"]["escalated"]

        await eventually(on_the_board, what="the escalation on tracking's timeline")
        return case_id


async def test_a_supervisor_and_a_reporter_follow_a_case_on_the_board(
        web: Web, browser: Browser, screenshots: Path) -> None:
    zh = texts("zh-Hans")
    case_id = await a_case_under_supervision(web)
    desk = await browser.new_context(locale="zh-CN", **DESK)
    resident = await browser.new_context(locale="zh-CN", **PHONE)
    try:
        supervisor = await sign_in(desk, web.base_url,
                                   staff_token(Role.SUPERVISOR, subject="duty-supervisor"))
        await supervisor.click("#tab-supervision")
        card = work_item(supervisor, case_id)
        await expect(card).to_contain_text(zh["staff.badge_escalated"])
        # routed, not yet signed for (签收): by when its department must answer, and resolve
        await expect(card).to_contain_text(zh["staff.response_due_at"].split("{")[0])
        await expect(card).to_contain_text(" · " + zh["staff.due_at"].split("{")[0])
        await act(supervisor, case_id, "reporter", {"reporter_id": "reporter-wang"})
        await expect(work_item(supervisor, case_id)).to_be_visible()
        await supervisor.screenshot(path=screenshots / "supervision-zh-Hans.png", full_page=True)

        reporter = await sign_in(desk, web.base_url,
                                 staff_token(Role.REPORTER, subject="reporter-wang"))
        card = work_item(reporter, case_id)
        await expect(card).to_be_visible()
        # a web address that is not one is said next to its field
        await card.locator("details.action-story > summary").click()
        story = card.locator("details.action-story form")
        await story.locator("[name=title]").fill("花园路为何停水两天？")
        await story.locator("[name=url]").fill("news.example.org/story")
        await story.locator("button[type=submit]").click()
        await expect(story.locator("[data-where=url] > .error")).to_have_text(zh["error.url"])
        await story.locator("[name=url]").fill("https://news.example.org/2026/water")
        await story.locator("button[type=submit]").click()
        await expect(card.locator("details.action-story[open]")).to_have_count(0, timeout=30_000)

        # the story is on the public case page
        phone = await resident.new_page()
        await phone.goto(web.url(f"/cases/{case_id}?lang=zh-Hans"))
        await expect(phone.locator("#stories a")).to_have_text("花园路为何停水两天？",
                                                                timeout=20_000)
        await expect(phone.locator("#facts")).to_contain_text(zh["case.reporter_following"])

        # the supervisor moves the case to another department
        await act(supervisor, case_id, "reassign", {"reason": "小区内部管网由物业负责"},
                  selects={"department": "housing"})
        await expect(phone.locator("#timeline li[data-type=CaseReassigned]")).to_contain_text(
            "住房保障和房地产管理局", timeout=20_000)
    finally:
        await desk.close()
        await resident.close()
