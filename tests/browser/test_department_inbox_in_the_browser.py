"""Inside a department, in the browser: the water company's coordinator opens the inbox —
the overdue case on top, then the soonest deadline — and gives a case to a handler; the
handler sees it under "only mine"; a reporter finds the case handed to them under "my
cases". The public case page says the case has a handler, never who."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from browser.webpages import DESK, Web, act, sign_in, staff_token, texts, work_item
from helpers import eventually, publish_envelopes
from playwright.async_api import Browser, expect
from unit.tracking.tracking_stories import RING, accepted, routed, submitted

from contracts.facts import Role
from services.lifecycle.history import History

REQUEST = {
    "category": "water",
    "description": "文化路 8 号院水压很低，高层住户基本没有水。",
    "location": {"district": "jinshui", "street": "文化路 8 号院"},
}
HANDLER = "water-wang-07"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def routed_to_water(http: httpx.AsyncClient) -> str:
    """Submitted and accepted: the rules route it to the water company, due in days."""
    case_id: str = (await http.post("/api/cases", json=REQUEST)).json()["case_id"]
    answer = await http.post(f"/api/cases/{case_id}/accept", json={},
                             headers=bearer(staff_token(Role.OFFICER)))
    assert answer.status_code == 200, answer.text
    return case_id


async def test_the_coordinator_assigns_from_the_inbox_and_the_handler_sees_theirs(
        web: Web, browser: Browser, screenshots: Path) -> None:
    zh = texts("zh-Hans")
    # an overdue case: routed to the water company three days ago, due yesterday
    overdue_id = f"ZB{uuid.uuid4().hex[:6].upper()}-LATE-0001"
    now = datetime.now(UTC)
    overdue = (History(overdue_id)
               .given(now - timedelta(days=3), submitted(overdue_id, category="water"))
               .given(now - timedelta(days=3), accepted(category="water"))
               .given(now - timedelta(days=3), routed("water-co", now - timedelta(days=1))))
    await publish_envelopes(web.settings, overdue.envelopes, keys=RING)
    supervisor = bearer(staff_token(Role.SUPERVISOR))
    async with httpx.AsyncClient(base_url=web.base_url, timeout=20) as http:
        first, second = await routed_to_water(http), await routed_to_water(http)

        async def handed_to_a_reporter() -> bool:  # once routing has the acceptance
            answer = await http.post(f"/api/cases/{second}/reporter", headers=supervisor,
                                     json={"reporter_id": "reporter-li"})
            assert answer.status_code in (200, 404, 409), answer.text  # 404, 409: not yet
            return answer.status_code == 200

        await eventually(handed_to_a_reporter, what="a reporter to follow the second case")

        async def ready() -> bool:  # routed by the rules, and the late one marked by the sweep
            found = await http.get("/api/staff/inbox", headers=supervisor,
                                   params={"department": "water-co"})
            items = found.json()["items"] if found.status_code == 200 else []
            return ([i["case_id"] for i in items][:1] == [overdue_id] and items[0]["overdue"]
                    and {first, second} <= {i["case_id"] for i in items})

        await eventually(ready, timeout=60, what="the three cases in the water company's inbox")

    desk = await browser.new_context(locale="zh-CN", **DESK)
    try:
        coordinator = await sign_in(desk, web.base_url, staff_token(
            Role.DEPARTMENT, "water-co", subject="water-zhou", coordinator=True))
        await expect(coordinator.locator("#whoami")).to_contain_text(zh["staffrole.coordinator"])
        cards = coordinator.locator("#list-inbox li.work-item")
        await expect(cards.first).to_have_attribute("data-case", overdue_id)
        await expect(cards.first).to_contain_text(zh["staff.badge_overdue"])
        await expect(work_item(coordinator, first)).to_contain_text(zh["staff.no_handler"])
        await act(coordinator, first, "handler", {"handler": HANDLER})
        await expect(work_item(coordinator, first)).to_contain_text(
            zh["staff.handler"].format(handler=HANDLER), timeout=15_000)
        await coordinator.screenshot(path=screenshots / "department-inbox-zh-Hans.png",
                                     full_page=True)

        handler = await sign_in(desk, web.base_url, staff_token(
            Role.DEPARTMENT, "water-co", subject=HANDLER))
        # a handler does not assign; they narrow the inbox to their own
        await expect(work_item(handler, first)).to_be_visible()
        await expect(work_item(handler, first).locator("details.action-handler")).to_have_count(0)
        await handler.check("#inbox-mine")
        await expect(handler.locator("#list-inbox li.work-item")).to_have_count(1, timeout=15_000)
        await expect(work_item(handler, first)).to_be_visible()

        reporter = await sign_in(desk, web.base_url,
                                 staff_token(Role.REPORTER, subject="reporter-li"), "en")
        await reporter.click("#tab-mine")
        mine = reporter.locator("#list-mine li.work-item")
        await expect(mine).to_have_count(1, timeout=15_000)
        await expect(mine.first).to_have_attribute("data-case", second)
        await reporter.screenshot(path=screenshots / "my-cases-en.png", full_page=True)

        page = await desk.new_page()
        await page.goto(web.url(f"/cases/{first}?lang=zh-Hans"))
        await expect(page.locator("#timeline li[data-type=HandlerAssigned]")).to_be_visible(
            timeout=20_000)
        assert HANDLER not in await page.content()
    finally:
        await desk.close()
