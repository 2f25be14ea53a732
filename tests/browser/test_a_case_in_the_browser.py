"""The reference case, as people live it in their browsers, on the real stack.

A resident reports the dark traffic lights from a phone and keeps the case page open. At a
desk, an information officer accepts the case (routing sends it to the signal company by the
dispatch rules), and the signal company acknowledges it and reports it resolved. The
resident's page grows with each step as it happens, without a reload; the resident confirms
the fix and rates it; the public dashboard then counts one case received and one resolved.
"""

from __future__ import annotations

from pathlib import Path

from browser.webpages import (
    DESK,
    PHONE,
    Web,
    a_photo,
    act,
    collect_errors,
    fill_submission,
    sign_in,
    staff_token,
    submit,
    texts,
)
from playwright.async_api import Browser, FilePayload, Page, expect

from contracts.facts import Role


async def timeline_types(page: Page) -> list[str]:
    return await page.locator("#timeline li").evaluate_all(
        "items => items.map(item => item.dataset.type)")


async def test_a_resident_watches_their_case_handled_live(
        web: Web, browser: Browser, screenshots: Path) -> None:
    zh = texts("zh-Hans")
    resident = await browser.new_context(
        locale="zh-CN", geolocation={"latitude": 34.7559, "longitude": 113.6312},
        permissions=["geolocation"], **PHONE)
    desk = await browser.new_context(locale="zh-CN", **DESK)
    try:
        # -- a resident reports the dark lights from a phone --------------------------------
        phone = await resident.new_page()
        errors = collect_errors(phone)
        await phone.goto(web.url("/?lang=zh-Hans"))
        await fill_submission(phone)
        await phone.click("#locate")  # the phone knows where it is
        await expect(phone.locator("#lat")).to_have_value("34.755900")
        photo: FilePayload = {"name": "lights.png", "mimeType": "image/png", "buffer": a_photo()}
        await phone.set_input_files("#photos", files=[photo])
        await expect(phone.locator("#thumbs li:not(.uploading) img")).to_have_count(1)
        await phone.screenshot(path=screenshots / "story-0-submit-zh-Hans.png", full_page=True)
        case_id, code = await submit(phone)
        await phone.screenshot(path=screenshots / "story-1-receipt-zh-Hans.png", full_page=True)

        await phone.click("#receipt-link")
        await expect(phone.locator("#case-id")).to_have_text(case_id, timeout=20_000)
        await expect(phone.locator("#live-state")).to_have_attribute("data-state", "live")
        await expect(phone.locator("#private")).to_be_visible()  # the code came along
        await expect(phone.locator("#case-status")).to_have_text(zh["status.submitted"])
        assert await timeline_types(phone) == ["CaseSubmitted"]
        await expect(phone.locator("#photos img")).to_have_count(1)  # the photo came along
        # a mark on this very page: if the page reloaded, the mark would be gone
        await phone.evaluate("window.__sameVisit = true")

        # -- an officer accepts it; the rules route it to the signal company -------------------
        officer = await sign_in(desk, web.base_url, staff_token(Role.OFFICER, subject="officer-1"))
        await act(officer, case_id, "accept")
        await expect(phone.locator("#timeline li[data-type=CaseRouted]")).to_have_count(
            1, timeout=20_000)
        await expect(phone.locator("#timeline li[data-type=CaseRouted]")).to_contain_text(
            "交通信号设施公司")
        await officer.screenshot(path=screenshots / "story-2-officer-zh-Hans.png", full_page=True)

        # -- the signal company acknowledges and resolves it ----------------------------------------
        company = await sign_in(desk, web.base_url,
                                staff_token(Role.DEPARTMENT, "signal-co", subject="signal-desk"))
        await act(company, case_id, "acknowledge", status_after="acknowledged")
        await expect(phone.locator("#case-status")).to_have_text(zh["status.acknowledged"],
                                                                  timeout=20_000)
        await act(company, case_id, "resolve", {"resolution": "四组信号灯已全部修复，恢复正常。"})
        await expect(phone.locator("#timeline li[data-type=CaseResolved]")).to_contain_text(
            "四组信号灯已全部修复", timeout=20_000)
        await company.screenshot(path=screenshots / "story-3-department-zh-Hans.png",
                                 full_page=True)

        # -- the resident's page followed every step live, in order ---------------------------------
        assert await phone.evaluate("window.__sameVisit === true")
        assert await timeline_types(phone) == [
            "CaseSubmitted", "CaseAccepted", "CaseRouted", "CaseAcknowledged", "CaseResolved"]

        # -- and now asks: is it fixed? --------------------------------------------------------------
        feedback = phone.locator("#feedback")
        await expect(feedback).to_be_visible(timeout=20_000)
        await phone.screenshot(path=screenshots / "story-4-resolved-zh-Hans.png", full_page=True)
        await phone.check("#fixed-yes")
        await phone.check("#satisfied-yes")
        await phone.locator("label[for=rating-5]").click()
        await phone.fill("#comment", "谢谢，四个灯都亮了。")
        await phone.click("#feedback-send")
        await expect(phone.locator("#timeline li[data-type=FeedbackGiven]")).to_have_count(
            1, timeout=20_000)
        await expect(feedback).to_be_hidden()
        await expect(phone.locator("#private-facts")).to_contain_text(zh["feedback.fixed_yes"])
        assert code  # the page used it: the private panel and the answer form need it
        assert errors == [], errors

        # -- the public dashboard counts it: received 1, resolved 1, a resolution rate of 100% ----
        board = await desk.new_page()
        board_errors = collect_errors(board)
        await board.goto(web.url("/dashboard?lang=zh-Hans"))
        await expect(board.locator("#fig-received")).to_have_text("1", timeout=20_000)
        await expect(board.locator("#fig-resolved")).to_have_text("1", timeout=20_000)
        await expect(board.locator("#fig-resolution-rate")).to_have_text("100.0%")
        await expect(board.locator("#article-line")).to_contain_text(
            "共收到诉求 1 件，办结 1 件，办结率 100%")
        await expect(board.locator("#chart-category svg")).to_contain_text("交通信号灯")
        # one case is too few to rank a department on (ZAIBAN_METRICS_RANKING_MIN_CASES): said
        await expect(board.locator("#ranking-skipped")).to_contain_text("交通信号设施公司")
        await expect(board.locator("#ranking tbody tr")).to_have_count(0)
        await board.screenshot(path=screenshots / "story-5-dashboard-zh-Hans.png", full_page=True)
        assert board_errors == [], board_errors
    finally:
        await resident.close()
        await desk.close()
