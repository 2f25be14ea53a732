"""A resident erases their personal data from their own case page, for good.

A resident reports a leaking water pipe in their building (a category whose address is
private) with their name, phone, email and a photo, and opens the case with its tracking
code: the page lists what the platform keeps of theirs. They ask to erase it, read what that
means, confirm, and the page says it is erased; the photo is gone. Reopened, the page still
says so and holds nothing of them. At a desk, the officer's console says "personal data
erased" where the resident's contact was.
"""

from __future__ import annotations

from pathlib import Path

from browser.webpages import (
    DESK,
    PHONE,
    Web,
    a_photo,
    collect_errors,
    fill_submission,
    sign_in,
    staff_token,
    submit,
    texts,
    work_item,
)
from helpers import eventually
from playwright.async_api import Browser, FilePayload, expect

from contracts.facts import Role

NAME = "王先生"
PHONE_NUMBER = "13912345678"
EMAIL = "wang.resident@example.cn"
ADDRESS = "金水路12号院3号楼2单元501室"
DETAILS = (NAME, PHONE_NUMBER, EMAIL, ADDRESS)


async def test_a_resident_erases_their_personal_data_from_their_case_page(
        web: Web, browser: Browser, screenshots: Path) -> None:
    zh = texts("zh-Hans")
    resident = await browser.new_context(locale="zh-CN", **PHONE)
    desk = await browser.new_context(locale="zh-CN", **DESK)
    try:
        # -- a resident reports the leak, with their contact, their flat and a photo ----------
        phone = await resident.new_page()
        errors = collect_errors(phone)
        await phone.goto(web.url("/?lang=zh-Hans"))
        await fill_submission(phone, category="water", signal_state=None,
                              description="楼道里的自来水管一直漏水，地面全是水。",
                              district="jinshui", street="金水路12号院", address=ADDRESS,
                              name=NAME, phone=PHONE_NUMBER)
        await phone.fill("#email", EMAIL)
        photo: FilePayload = {"name": "leak.png", "mimeType": "image/png", "buffer": a_photo()}
        await phone.set_input_files("#photos", files=[photo])
        await expect(phone.locator("#thumbs li:not(.uploading) img")).to_have_count(1)
        case_id, code = await submit(phone)

        # -- later, they open it with the tracking code: what the platform keeps of theirs -----
        async def on_the_timeline() -> bool:
            return (await phone.request.get(web.url(f"/api/cases/{case_id}"))).ok

        await eventually(on_the_timeline, what="the case on the public timeline")
        await phone.goto(web.url(f"/cases/{case_id}?code={code}&lang=zh-Hans"))
        personal = phone.locator("#personal")
        await expect(personal).to_be_visible(timeout=20_000)
        for detail in DETAILS:
            await expect(phone.locator("#personal-facts")).to_contain_text(detail)
        await expect(phone.locator("#photos img")).to_have_count(1)
        photo_url = await phone.locator("#photos img").get_attribute("src")
        assert photo_url

        # -- they ask to erase it: the page first says what that means --------------------------
        await phone.click("#erase-open")
        confirmation = phone.locator("#erase-confirm")
        await expect(confirmation).to_be_visible()
        await expect(phone.locator("#erase-open")).to_have_attribute("aria-expanded", "true")
        await expect(phone.locator("#erase-confirm-title")).to_be_focused()
        for key in ("personal.confirm_gone", "personal.confirm_stays",
                    "personal.confirm_unreachable"):
            await expect(confirmation).to_contain_text(zh[key])
        await phone.screenshot(path=screenshots / "erase-0-confirm-zh-Hans.png", full_page=True)
        async with phone.expect_response(lambda r: r.url.endswith("/erase")) as erased:
            await phone.click("#erase-confirm-button")
        assert (await erased.value).status == 200

        # -- the page says it is erased; the case and its timeline go on ------------------------
        await expect(phone.locator("#personal-erased")).to_be_visible()
        await expect(phone.locator("#personal-erased-note")).to_have_text(zh["personal.erased"])
        await expect(phone.locator("#personal-erased-note")).to_be_focused()
        await expect(phone.locator("#personal-kept")).to_be_hidden()
        await expect(phone.locator("#timeline li[data-type=PersonalDataErased]")).to_have_count(
            1, timeout=20_000)
        await expect(phone.locator("#photos img")).to_have_count(0, timeout=20_000)
        assert (await phone.request.get(web.url(photo_url))).status == 404
        await phone.screenshot(path=screenshots / "erase-1-erased-zh-Hans.png", full_page=True)

        # -- reopened, the page still says so, and holds nothing of them ------------------------
        await phone.reload()
        await expect(phone.locator("#case[data-ready=true]")).to_have_count(1, timeout=20_000)
        await expect(phone.locator("#personal-erased")).to_be_visible()
        await expect(phone.locator("#personal-erased-at")).not_to_be_empty()
        await expect(phone.locator("#erase-open")).to_be_hidden()
        await expect(phone.locator("#private")).to_be_visible()  # still theirs to follow
        html = await phone.content()
        assert [detail for detail in DETAILS if detail in html] == []
        assert errors == [], errors

        # -- at a desk, the officer sees that the contact was erased, not that there was none --
        officer = await sign_in(desk, web.base_url, staff_token(Role.OFFICER, subject="officer-1"))
        card = work_item(officer, case_id)
        await expect(card).to_be_visible(timeout=15_000)
        await card.locator("details.timeline-details > summary").click()
        contact = card.locator(".work-contact")
        await expect(contact).to_have_attribute("data-contact", "erased", timeout=15_000)
        await expect(contact).to_contain_text(zh["staff.personal_data_erased"])
        await expect(card.locator(".timeline .entry-PersonalDataErased")).to_have_count(1)
        await officer.screenshot(path=screenshots / "erase-2-officer-zh-Hans.png", full_page=True)
        assert [detail for detail in DETAILS if detail in await officer.content()] == []
    finally:
        await resident.close()
        await desk.close()
