"""A form that cannot be sent says what is wrong, next to the field, in the reader's language.

What the page can check itself it says at once; what only the city knows (a point outside
its bounds, an unknown tracking code) comes back from the API as a 422/404 naming the field,
and the page puts the message next to that field.
"""

from __future__ import annotations

from pathlib import Path

from browser.webpages import PHONE, Web, collect_errors, fill_submission, texts
from playwright.async_api import Browser, expect


async def test_an_empty_submission_is_explained_field_by_field(
        web: Web, browser: Browser, screenshots: Path) -> None:
    zh = texts("zh-Hans")
    context = await browser.new_context(locale="zh-CN", **PHONE)
    try:
        page = await context.new_page()
        errors = collect_errors(page)
        await page.goto(web.url("/?lang=zh-Hans"))
        await expect(page.locator("#submit-form[data-ready=true]")).to_have_count(1)
        await page.click("#send")

        expected = {
            "category": zh["error.category"],
            "description": zh["error.description_short"].format(min=5),
            "location.district": zh["error.district"],
            "location": zh["error.where"],
        }
        for where, message in expected.items():
            slot = page.locator(f"[data-where='{where}'] > .error")
            await expect(slot).to_be_visible()
            await expect(slot).to_have_text(message)
        # the field says it is invalid and points at its message (screen readers read both)
        description = page.locator("#description")
        await expect(description).to_have_attribute("aria-invalid", "true")
        described = await description.get_attribute("aria-describedby") or ""
        slot_id = await page.locator("[data-where=description] > .error").get_attribute("id")
        assert slot_id in described.split()
        # the summary at the top takes the focus; its links lead to the fields, by keyboard too
        summary = page.locator(".error-summary")
        await expect(summary).to_be_focused()
        await summary.get_by_role("link", name=expected["description"]).focus()
        await page.keyboard.press("Enter")
        await expect(description).to_be_focused()
        await page.screenshot(path=screenshots / "submit-errors-zh-Hans.png", full_page=True)
        await page.keyboard.type("红绿灯不亮了，很危险。")
        assert errors == [], errors
    finally:
        await context.close()


async def test_a_point_outside_the_city_is_refused_by_the_api_and_shown_by_the_point(
        web: Web, browser: Browser) -> None:
    en = texts("en")
    context = await browser.new_context(locale="en-GB", **PHONE)
    try:
        page = await context.new_page()
        await page.goto(web.url("/?lang=en"))
        await fill_submission(page, lat="39.9042", lon="116.4074")  # Beijing, not Zhengzhou
        async with page.expect_response(lambda r: r.url.endswith("/api/cases")) as answer:
            await page.click("#send")
        assert (await answer.value).status == 422
        slot = page.locator("[data-where='location.point'] > .error")
        await expect(slot).to_have_text(en["error.point_outside"].format(city="Zhengzhou"))
        await expect(page.locator("#lat")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#receipt")).to_be_hidden()
    finally:
        await context.close()


async def test_an_unknown_tracking_code_is_said_next_to_the_code(web: Web, browser: Browser) -> None:
    hant = texts("zh-Hant")
    context = await browser.new_context(locale="zh-TW", **PHONE)
    try:
        page = await context.new_page()
        await page.goto(web.url("/track?lang=zh-Hant"))
        await page.fill("#code", "ABCD-EFGH-JKMN-PQRS")
        await page.keyboard.press("Enter")  # the form is sent from the keyboard
        slot = page.locator("[data-where=code] > .error")
        await expect(slot).to_have_text(hant["error.code_unknown"])
        await page.fill("#code", "abc")
        await page.click("#track-open")
        await expect(slot).to_have_text(hant["error.code_shape"])
    finally:
        await context.close()


async def test_asking_to_be_told_needs_the_address_of_each_channel_and_sends_the_consent(
        web: Web, browser: Browser) -> None:
    en = texts("en")
    context = await browser.new_context(locale="en-GB", **PHONE)
    try:
        page = await context.new_page()
        errors = collect_errors(page)
        await page.goto(web.url("/?lang=en"))
        await fill_submission(page)
        await page.fill("#email", "")
        await page.check("#notify")
        await page.check("#notify-sms")
        await page.fill("#phone", "")
        await page.click("#send")
        await expect(page.locator("[data-where='contact.email'] > .error")).to_have_text(
            en["error.notify_email"])
        await expect(page.locator("[data-where='contact.phone'] > .error")).to_have_text(
            en["error.notify_phone"])

        await page.fill("#email", "li@example.org")
        await page.uncheck("#notify-sms")
        async with page.expect_request(lambda r: r.url.endswith("/api/cases")) as sent:
            await page.click("#send")
        contact = (await sent.value).post_data_json["contact"]
        assert (contact["email"], contact["notify"], contact["channels"]) == (
            "li@example.org", True, ["email"])
        await expect(page.locator("#receipt")).to_be_visible()
        assert errors == [], errors
    finally:
        await context.close()
