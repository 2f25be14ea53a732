"""An admin changes the city in the staff console's "City" tab, while it runs.

The story: the admin opens the City tab and sees the configuration at version 0 (the initial
one). They add a category, shared bikes, named in three languages, with a question; a
resident's form offers it at once. They move the water rule to the housing bureau. A
district with a latitude that is not a number, and a department whose code has a space, are
refused with the problem next to the field. A change made while another admin changed the
city is refused, and the tab shows the current version. The general class's resolution limit
becomes five working days; the consumer category keeps its own ten when its icon changes;
two local holidays join the official calendar.
An officer has no City tab.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from browser.webpages import DESK, Web, collect_errors, sign_in, staff_token, texts
from playwright.async_api import Browser, Page, expect

from contracts.facts import Role

pytestmark = pytest.mark.stack


async def saved(console: Page, version: int) -> None:
    await expect(console.locator("#panel-city")).to_have_attribute(
        "data-version", str(version), timeout=15_000)
    await expect(console.locator("#city-form")).to_have_count(0)


async def test_an_admin_adds_a_category_and_moves_a_rule_and_sees_what_is_wrong(
        web: Web, browser: Browser, screenshots: Path) -> None:
    words = texts("en")
    desk = await browser.new_context(locale="en-GB", **DESK)
    try:
        console = await sign_in(desk, web.base_url, staff_token(Role.ADMIN, subject="admin-zhang"),
                                "en")
        errors = collect_errors(console)
        await console.click("#tab-city")
        await expect(console.locator("#panel-city")).to_have_attribute("data-version", "0")
        await expect(console.locator("#city-version")).to_contain_text("version 0")
        rules = console.locator("section[data-kind=rules]")
        await expect(rules.locator("tr[data-item='water@*']")).to_contain_text("water-co")

        # a new category, in three languages, with one question and its choices
        await console.click("button[data-add=categories]")
        form = console.locator("#city-form")
        await form.locator("[name=code]").fill("bikes")
        for language, name in (("zh-Hans", "共享单车"), ("zh-Hant", "共享單車"),
                               ("en", "Shared bikes")):
            await form.locator(f"[name='names.{language}']").fill(name)
            await form.locator(f"[name='description.{language}']").fill(name + " …")
        await form.locator("[name=priority]").select_option("general")
        await form.locator("[name=address_public]").check()
        await form.locator("#city-attribute-add").click()
        await form.locator("[name='attributes.0.code']").fill("parked")
        await form.locator("[name='attributes.0.datatype']").select_option("singlevaluelist")
        for language, question in (("zh-Hans", "停放情况"), ("zh-Hant", "停放情況"),
                                   ("en", "How are they parked?")):
            await form.locator(f"[name='attributes.0.description.{language}']").fill(question)
        await form.locator("[name='attributes.0.values']").fill(
            "blocking: 堵路 / 堵路 / Blocking the way\npiled: 堆放 / 堆放 / Piled up")
        await form.locator("[name=note]").fill("new category for the summer")
        await form.locator("button[type=submit]").click()
        await saved(console, 1)
        await expect(console.locator("#city-version")).to_contain_text("admin-zhang")
        bikes = console.locator("section[data-kind=categories] tr[data-item=bikes]")
        await expect(bikes).to_contain_text("Shared bikes")
        await expect(bikes).to_contain_text("questions: 1")

        # a resident's form offers it, without a restart
        resident = await desk.new_page()
        await resident.goto(f"{web.base_url}/?lang=en")
        await expect(resident.locator("label[for=category-bikes]")).to_contain_text(
            "Shared bikes")
        await resident.close()

        # the water rule now leads to the housing bureau
        await rules.locator("tr[data-item='water@*'] button", has_text=words["city.edit"]).click()
        await form.locator("[name=lead]").select_option("housing")
        await form.locator("button[type=submit]").click()
        await saved(console, 2)
        await expect(rules.locator("tr[data-item='water@*']")).to_contain_text("housing")

        # refused, next to the field
        await console.click("button[data-add=districts]")
        await form.locator("[name=code]").fill("xinzheng")
        for language in ("zh-Hans", "zh-Hant", "en"):
            await form.locator(f"[name='names.{language}']").fill("新郑")
        await form.locator("[name='center.0']").fill("north")
        await form.locator("[name='center.1']").fill("113.7")
        await form.locator("button[type=submit]").click()
        latitude = form.locator("[data-where='center.0']")
        await expect(latitude).to_have_class("field has-error")
        await expect(latitude.locator(".error")).to_contain_text("number")
        await console.screenshot(path=screenshots / "staff-city-en.png", full_page=True)
        await form.locator("button", has_text=words["city.cancel"]).click()

        await console.click("button[data-add=departments]")
        await form.locator("[name=code]").fill("Bad Co")
        for language in ("zh-Hans", "zh-Hant", "en"):
            await form.locator(f"[name='names.{language}']").fill("坏公司")
        await form.locator("button[type=submit]").click()
        await expect(form.locator("[data-where=code] .error")).to_contain_text("lower-case")
        await expect(console.locator("#panel-city")).to_have_attribute("data-version", "2")
        # another admin changed the city meanwhile: the change made against version 2 is
        # refused, the tab says so and shows the current version
        departments = console.locator("section[data-kind=departments]")
        await departments.locator("tr[data-item=water-co] button",
                                  has_text=words["city.edit"]).click()
        await form.locator("[name='names.en']").fill("Water Works")
        async with httpx.AsyncClient(base_url=web.base_url) as http:
            meanwhile = await http.put(
                "/api/admin/city/departments/newsroom", json={"expected_version": 2, "item": {
                    "code": "newsroom", "contact": "0371-0000-0110", "names": {
                        "zh-Hans": "郑在办编辑部", "zh-Hant": "鄭在辦編輯部", "en": "The Newsroom"}}},
                headers={"Authorization": f"Bearer {staff_token(Role.ADMIN, subject='admin-li')}"})
            assert meanwhile.status_code == 200, meanwhile.text
        await form.locator("button[type=submit]").click()
        await expect(form.locator(".form-status")).to_contain_text(words["city.stale"])
        await expect(console.locator("#panel-city")).to_have_attribute("data-version", "3")
        await expect(departments.locator("tr[data-item=water-co]")).to_contain_text(
            "Water Supply Company")
        await expect(console.locator("#city-version")).to_contain_text("admin-li")

        # the time limits: a class's are edited, never removed; a category's own are kept
        # when the category is edited for something else
        limits = console.locator("section[data-kind=limits]")
        general = limits.locator("tr[data-item=general]")
        await expect(general).to_contain_text("Resolution 7 days")
        await expect(limits.locator("button", has_text=words["city.remove"])).to_have_count(0)
        await general.locator("button", has_text=words["city.edit"]).click()
        await form.locator("[name=resolution]").fill("5 working days")
        await form.locator("button[type=submit]").click()
        await saved(console, 4)
        await expect(general).to_contain_text("Resolution 5 working days")
        consumer = console.locator("section[data-kind=categories] tr[data-item=consumer]")
        await expect(consumer).to_contain_text("Resolution 10 working days")
        await consumer.locator("button", has_text=words["city.edit"]).click()
        await expect(form.locator("[name='deadlines.resolution']")).to_have_value(
            "10 working days")
        await form.locator("[name=icon]").fill("🧾")
        await form.locator("button[type=submit]").click()
        await saved(console, 5)
        await expect(consumer).to_contain_text("🧾")
        await expect(consumer).to_contain_text("Resolution 10 working days")
        # a local holiday: the city's changes to the official calendar, one item, edited
        calendar = console.locator("section[data-kind=calendar] tr[data-item=changes]")
        await expect(calendar).to_contain_text("extra days off: 0")
        await calendar.locator("button", has_text=words["city.edit"]).click()
        await form.locator("[name=holidays]").fill("2026-12-24\n2026-12-25")
        await form.locator("button[type=submit]").click()
        await saved(console, 6)
        await expect(calendar).to_contain_text("extra days off: 2")

        # the browser logs the refusals (422, 409) it was answered; nothing else went wrong
        assert [e for e in errors if "status of 422" not in e and "status of 409" not in e] \
            == [], errors

        officer = await sign_in(desk, web.base_url, staff_token(Role.OFFICER), "en")
        await expect(officer.locator("#tab-city")).to_be_hidden()
    finally:
        await desk.close()
