"""A supervisor sees, in the staff console, the case a department's webhook refused: which
department, which case, how many attempts, the error — in their language; a department does
not get the view."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser.webpages import DESK, Web, collect_errors, sign_in, staff_token, texts
from notifyfixtures import Receiver, accepted_signal_case
from playwright.async_api import Browser, expect

from contracts.facts import Role
from zaiban.departments import register_webhook

pytestmark = pytest.mark.stack


async def test_a_supervisor_sees_a_dead_webhook_delivery_in_the_console(
        web: Web, browser: Browser, screenshots: Path) -> None:
    receiver = Receiver(answers=[410])  # the department's URL is gone
    secret = await register_webhook(web.settings, "signal-co", receiver.url)
    assert isinstance(secret, str)
    receiver.secret = secret
    words = texts("zh-Hant")
    async with receiver.serving():
        case_id = await accepted_signal_case(web.settings)
        desk = await browser.new_context(locale="zh-TW", **DESK)
        try:
            console = await sign_in(desk, web.base_url, staff_token(Role.SUPERVISOR), "zh-Hant")
            errors = collect_errors(console)
            await console.click("#tab-webhooks")
            card = console.locator(f"#panel-webhooks li.work-item[data-case='{case_id}']")
            for _ in range(20):  # the console refreshes every 15 s; ask again meanwhile
                if await card.count():
                    break
                await console.click("#refresh")
                await console.wait_for_timeout(500)
            await expect(card).to_have_attribute("data-webhook", "dead")
            await expect(card).to_contain_text(words["staff.webhook_dead"])
            await expect(card).to_contain_text("HTTP 410")
            await expect(card).to_contain_text(words["staff.webhook_attempts"].replace("{n}", "1"))
            await expect(console.locator("#count-webhooks")).to_have_text("1")
            await console.screenshot(path=screenshots / "staff-webhooks-zh-Hant.png",
                                     full_page=True)
            assert errors == []
            department = await sign_in(desk, web.base_url,
                                       staff_token(Role.DEPARTMENT, "signal-co"), "zh-Hant")
            await expect(department.locator("#tab-webhooks")).to_be_hidden()
        finally:
            await desk.close()
    assert len(receiver.requests) == 1
