"""The dashboard by period: a visitor chooses a month, the figures, breakdowns, ranking and CSV
links follow it, and the page's address keeps it, so a link shows the same figures."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from browser.webpages import Web, collect_errors, texts
from helpers import eventually, publish_envelopes
from playwright.async_api import Browser, expect
from unit.metrics.metrics_stories import city_of_cases


async def figures_of(web: Web, **params: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=web.base_url, timeout=20) as http:
        summary = (await http.get("/api/stats/summary", params=params)).json()
        ranking = (await http.get("/api/stats/ranking", params={**params, "lang": "en"})).json()
    return {"summary": summary, "ranking": ranking}


async def test_a_visitor_chooses_a_month_and_the_address_keeps_it(
        web: Web, browser: Browser, screenshots: Path) -> None:
    envelopes, _ = city_of_cases(200, 150, seed=51)  # submitted 2026-08-13 .. 2026-10-10
    await publish_envelopes(web.settings, envelopes)

    async def counted() -> bool:
        return (await figures_of(web))["summary"]["received"] == 200

    await eventually(counted, timeout=60, what="the figures to count 200 cases")
    september = await figures_of(web, period="2026-09")
    assert 0 < september["summary"]["received"] < 200
    en = texts("en")

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        errors = collect_errors(page)
        await page.goto(web.url("/dashboard?lang=en"))
        await expect(page.locator("#fig-received")).to_have_text("200", timeout=20_000)

        # -- she chooses September 2026 --------------------------------------------------------
        await page.select_option("#period-kind", "month")
        await expect(page.locator("#period-month")).to_be_visible()
        await page.fill("#period-month", "2026-09")
        await page.click("#period-apply")
        await expect(page).to_have_url(re.compile(r"[?&]period=2026-09"))
        received = str(september["summary"]["received"])
        await expect(page.locator("#fig-received")).to_have_text(received, timeout=20_000)
        await expect(page.locator("#period-shown")).to_contain_text("September 1, 2026")
        await expect(page.locator("#article-line")).to_contain_text(
            f"{received} requests received")
        for link in await page.locator("#dashboard .csv a, a[hreflang]").all():
            assert "period=2026-09" in (await link.get_attribute("href") or "")
        ranked = september["ranking"]
        await expect(page.locator("#ranking tbody tr")).to_have_count(len(ranked["departments"]))
        if ranked["skipped"]:
            await expect(page.locator("#ranking-skipped")).to_contain_text(
                ranked["skipped"][0]["name"])

        await page.screenshot(path=screenshots / "dashboard-period-month-en.png", full_page=True)

        # -- the address she shares shows the same -----------------------------------------------
        shared = page.url
        other = await context.new_page()
        await other.goto(shared)
        await expect(other.locator("#fig-received")).to_have_text(received, timeout=20_000)
        await expect(other.locator("#period-kind")).to_have_value("month")
        await expect(other.locator("#period-month")).to_have_value("2026-09")

        # -- a custom range, then all time again ---------------------------------------------
        await page.select_option("#period-kind", "custom")
        await page.fill("#period-from", "2026-08-01")
        await page.fill("#period-to", "2026-09-30")
        await page.click("#period-apply")
        await expect(page).to_have_url(re.compile(r"from=2026-08-01&to=2026-09-30"))
        summer = (await figures_of(web, **{"from": "2026-08-01", "to": "2026-09-30"}))["summary"]
        await expect(page.locator("#fig-received")).to_have_text(str(summer["received"]),
                                                                 timeout=20_000)
        await page.select_option("#period-kind", "all")
        await page.click("#period-apply")
        await expect(page.locator("#fig-received")).to_have_text("200", timeout=20_000)
        await expect(page.locator("#period-shown")).to_have_text("")
        assert "period" not in page.url and "from=" not in page.url
        assert en["dashboard.period_all"]
        assert errors == [], errors
    finally:
        await context.close()
