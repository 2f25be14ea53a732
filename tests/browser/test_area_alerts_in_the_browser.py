"""Following a district from the case list: the address given in the browser, the
confirmation email at a real SMTP server on loopback, its link opened and confirmed in the
browser — in the reader's language."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from browser.webpages import PHONE, Web, collect_errors, texts
from helpers import eventually
from notifyfixtures import MailBox
from playwright.async_api import Browser, expect


@pytest.fixture(scope="module", autouse=True)
def mailbox() -> Iterator[MailBox]:
    """A mail server the platform (the module's `web`, built after this) sends through."""
    with MailBox() as box, pytest.MonkeyPatch.context() as env:
        env.setenv("ZAIBAN_SMTP_URL", box.url())
        env.setenv("ZAIBAN_NOTIFY_SWEEP_S", "0.2")
        yield box


async def test_following_a_district_from_the_case_list_is_confirmed_by_the_emailed_link(
        mailbox: MailBox, web: Web, browser: Browser) -> None:
    hant = texts("zh-Hant")
    context = await browser.new_context(locale="zh-TW", **PHONE)
    try:
        page = await context.new_page()
        errors = collect_errors(page)
        await page.goto(web.url("/cases?lang=zh-Hant&district=jinshui"))
        await expect(page.locator("#alerts-area")).to_have_value("district:jinshui")
        await page.fill("#alerts-email", "neighbour@example.net")
        await page.click("#alerts-send")
        await expect(page.locator("#alerts-status")).to_have_text(hant["alerts.check_email"])

        async def confirmation() -> list[object] | None:
            return mailbox.messages() or None

        [mail] = await eventually(confirmation, what="the confirmation email")
        assert mail.message["Subject"] == "請確認訂閱：金水區"
        [link] = [word for word in mail.text.split() if "/confirm?" in word]
        parts = urlsplit(link)
        await page.goto(web.url(f"{parts.path}?{parts.query}"))
        await page.get_by_role("button", name="確認訂閱").click()
        await expect(page.locator("main p")).to_contain_text("已確認")
        assert errors == [], errors
    finally:
        await context.close()
