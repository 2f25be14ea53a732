"""Every page, in each of its three languages: it loads without a script error or a missing
text, every field has a label, the language switch is remembered, and a screenshot of it is
kept (artifacts/screenshots/<page>-<language>.png, git-ignored) for people to look at."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from browser.webpages import DESK, PHONE, Web, collect_errors, sign_in, staff_token, texts
from helpers import eventually
from playwright.async_api import Browser, BrowserContext, Page, expect

from contracts.facts import Role

LANGUAGES = ("zh-Hans", "zh-Hant", "en")
LOCALES = {"zh-Hans": "zh-CN", "zh-Hant": "zh-TW", "en": "en-GB"}

# Each page, where a visitor finds it, what says it is ready, and the screen it is made for.
PAGES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "submit": ("/", "#submit-form[data-ready=true]", PHONE),
    "track": ("/track", "#track-form[data-ready=true]", PHONE),
    "cases": ("/cases", "#search-form[data-ready=true]", PHONE),
    "case": ("/cases/{case_id}", "#case[data-ready=true]", PHONE),
    "dashboard": ("/dashboard", "#dashboard[data-ready=true]", DESK),
    "open-data": ("/open-data", "#open-data[data-ready=true]", PHONE),
}

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && !e.closest('[hidden]'))
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby'))
  .map(e => e.id || e.name || e.outerHTML.slice(0, 60))"""

REQUEST = {
    "category": "roads",
    "description": "金水路与花园路交叉口东南角有一个很深的坑，雨天积水，电动车容易摔倒。",
    "location": {"district": "jinshui", "street": "金水路花园路口东南角"},
    "attributes": {"hazard": "yes"},
}


async def a_case_in_progress(web: Web) -> tuple[str, str]:
    """One case accepted and routed (for the case page), one waiting for triage."""
    officer = {"Authorization": f"Bearer {staff_token(Role.OFFICER)}"}
    async with httpx.AsyncClient(base_url=web.base_url, timeout=20) as http:
        first = (await http.post("/api/cases", json=REQUEST)).json()
        waiting = (await http.post("/api/cases", json={
            **REQUEST, "description": "花园路北段人行道砖松动，老人走路容易绊倒。",
            "location": {"district": "jinshui", "street": "花园路北段"}})).json()
        case_id = first["case_id"]
        accepted = await http.post(f"/api/cases/{case_id}/accept", headers=officer, json={})
        assert accepted.status_code == 200, accepted.text

        async def routed() -> bool:
            seen = await http.get(f"/api/cases/{case_id}")
            return seen.status_code == 200 and seen.json()["status"] == "routed"

        await eventually(routed, what="the case routed by the dispatch rules")
        return case_id, waiting["case_id"]


async def visit(context: BrowserContext, url: str, ready: str) -> tuple[Page, list[str]]:
    page = await context.new_page()
    problems = collect_errors(page)
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "warning" and "zaiban" in message.text else None)
    await page.goto(url)
    await expect(page.locator(ready)).to_have_count(1, timeout=20_000)
    return page, problems


async def look_at_page(web: Web, browser: Browser, screenshots: Path, name: str, language: str,
                       case_id: str) -> None:
    """One page in one language: it loads clean, labels every field, and is photographed."""
    path, ready, screen = PAGES[name]
    context = await browser.new_context(locale=LOCALES[language], **screen)
    try:
        url = web.url(path.format(case_id=case_id) + f"?lang={language}")
        page, problems = await visit(context, url, ready)
        await expect(page.locator("html")).to_have_attribute("lang", language)
        await expect(page.locator(".brand-name")).to_have_text(texts(language)["brand.name"])
        if name == "case":
            await expect(page.locator("#timeline li")).to_have_count(3)
            await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
        if name == "open-data":  # a city whose first day is not over: no day published yet
            await expect(page.locator("#chain-state")).to_have_text(
                texts(language)["opendata.chain_none"])
            await expect(page.locator("#verify-cli")).to_have_text(
                f"zaiban verify --from {web.base_url.rstrip('/')}")
        await page.screenshot(path=screenshots / f"{name}-{language}.png", full_page=True)
        assert await page.evaluate(UNLABELLED) == [], (name, language)
        assert problems == [], (name, language, problems)
    finally:
        await context.close()


async def look_at_console(web: Web, browser: Browser, screenshots: Path, language: str,
                          waiting_id: str) -> None:
    """The staff console, as a supervisor sees it (every view), at a desk."""
    desk = await browser.new_context(locale=LOCALES[language], **DESK)
    try:
        console = await sign_in(desk, web.base_url, staff_token(Role.SUPERVISOR, subject="duty"),
                                language)
        await console.click("#tab-triage")
        card = console.locator(f"#panel-triage li.work-item[data-case='{waiting_id}']")
        await expect(card).to_be_visible()
        await card.locator("details.action-accept > summary").click()
        await console.screenshot(path=screenshots / f"staff-{language}.png", full_page=True)
        assert await console.evaluate(UNLABELLED) == [], ("staff", language)
    finally:
        await desk.close()


async def test_every_page_in_every_language(web: Web, browser: Browser, screenshots: Path) -> None:
    case_id, waiting_id = await a_case_in_progress(web)
    for language in LANGUAGES:  # the pages of one language side by side, as separate visitors
        await asyncio.gather(
            *(look_at_page(web, browser, screenshots, name, language, case_id) for name in PAGES),
            look_at_console(web, browser, screenshots, language, waiting_id))

    # the night shift: the console in night colours
    night = await browser.new_context(locale="zh-CN", color_scheme="dark", **DESK)
    try:
        console = await sign_in(night, web.base_url, staff_token(Role.OFFICER, subject="night"))
        await expect(console.locator("html")).to_have_attribute("data-theme", "dark")
        await expect(console.locator(f"li.work-item[data-case='{waiting_id}']")).to_be_visible()
        await console.screenshot(path=screenshots / "staff-night-zh-Hans.png", full_page=True)
    finally:
        await night.close()


async def test_the_language_chosen_is_remembered(web: Web, browser: Browser) -> None:
    context = await browser.new_context(locale="zh-CN", **PHONE)
    try:
        page, _ = await visit(context, web.url("/"), "#submit-form[data-ready=true]")
        await expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")  # Chinese first
        await page.get_by_role("link", name="English").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator("h1")).to_have_text(texts("en")["submit.title"])
        await page.goto(web.url("/track"))  # no ?lang= any more: the choice was kept
        await expect(page.locator("h1")).to_have_text(texts("en")["track.title"])
        await page.get_by_role("link", name="繁體中文").click()
        await page.goto(web.url("/cases"))
        await expect(page.locator("html")).to_have_attribute("lang", "zh-Hant")
        await expect(page.locator("h1")).to_have_text(texts("zh-Hant")["cases.title"])
    finally:
        await context.close()
