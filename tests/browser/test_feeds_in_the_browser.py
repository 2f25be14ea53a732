"""Area alerts, as a neighbour finds them: the case list of their district names its Atom
feeds in the page's head (where feed readers and browsers look) and shows them as links;
the links follow the filters; following one gives the feed, with the case a resident just
reported in it — and without the resident's phone or name.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest
from browser.webpages import PHONE, Web, collect_errors, texts
from helpers import eventually
from playwright.async_api import Browser, expect

from services.tracking.atom import ATOM

REQUEST = {
    "category": "roads",
    "description": "金水路与花园路交叉口东南角有一个很深的坑，雨天积水，电动车容易摔倒。",
    "location": {"district": "jinshui", "street": "金水路花园路口东南角"},
    "attributes": {"hazard": "yes"},
    "contact": {"name": "王建国", "phone": "13912345678"},
}


@pytest.fixture(scope="module", autouse=True)
def every_request_reads_the_store() -> Iterator[None]:
    """The feed is followed until the case is in it: no instance keeps a feed's cases (set
    before the module's `web` is built)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ZAIBAN_TRACKING_FEED_CACHE_S", "0")
        yield


HEAD_FEEDS = 'head link[rel="alternate"][type="application/atom+xml"]'


async def test_the_case_list_of_a_district_links_its_feeds_and_the_feed_has_the_case(
        web: Web, browser: Browser) -> None:
    async with httpx.AsyncClient(base_url=web.base_url, timeout=20) as http:
        submitted = await http.post("/api/cases", json=REQUEST)
        assert submitted.status_code in (200, 201, 202), submitted.text
        case_id = submitted.json()["case_id"]

    context = await browser.new_context(locale="en-GB", **PHONE)
    try:
        page = await context.new_page()
        errors = collect_errors(page)
        await page.goto(web.url("/cases?district=jinshui&lang=en"))
        await expect(page.locator("#search-form[data-ready=true]")).to_be_attached()

        head = page.locator(HEAD_FEEDS)
        titles = await head.evaluate_all("links => links.map(l => l.title)")
        assert titles == ["Jinshui: new cases", "Jinshui: resolved cases",
                          "Zhengzhou: new cases", "Zhengzhou: resolved cases"]
        visible = page.locator("#feeds a")
        await expect(visible.first).to_have_text("Jinshui: new cases")
        await expect(page.locator("#feeds")).to_contain_text(texts("en")["feeds.subscribe"])

        # another filter, other feeds: the head and the links follow
        await page.select_option("#category", "roads")
        await expect(visible).to_have_count(6)
        assert await head.evaluate_all("links => links.map(l => l.title)") == [
            "Jinshui: new cases", "Jinshui: resolved cases", "Roads: new cases",
            "Roads: resolved cases", "Zhengzhou: new cases", "Zhengzhou: resolved cases"]

        href = await head.first.get_attribute("href")
        assert href == "/feeds/districts/jinshui/new.atom?lang=en"

        async def with_the_case() -> str | None:
            answer = await page.request.get(web.url(href))
            assert answer.status == 200
            assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
            text = await answer.text()
            return text if case_id in text else None

        feed = await eventually(with_the_case, what=f"{case_id} in the district's feed")
        root = ET.fromstring(feed)
        assert root.tag == f"{{{ATOM}}}feed"
        assert root.findtext(f"{{{ATOM}}}title") == "Jinshui: new cases"
        assert "13912345678" not in feed and "王建国" not in feed
        assert not errors, errors
    finally:
        await context.close()
