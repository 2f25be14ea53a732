"""The open data page says, in each language, what is published and where, what never is,
under which licence (the city's choice), and how anyone verifies it; the dashboard and every
page's navigation lead there."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from helpers import client_for

from services.common.catalogue import LANGUAGES, Language
from services.common.settings import CommonSettings
from services.web import web_routes
from services.web.pages import catalogue

SETTINGS = CommonSettings(environment="test")
PUBLISHED = ("/open-data/events.ndjson", "/open-data/events.sse", "/open-data/days.json",
             "/open-data/days/YYYY-MM-DD.ndjson.gz", "/open-data/cases.csv", "/api/stats",
             "/api/stats/definitions", "contracts/schemas/opendata/FeedLine.json")


async def get(path: str, settings: CommonSettings = SETTINGS) -> httpx.Response:
    app = FastAPI()
    app.include_router(web_routes(settings))
    async with client_for(app) as http:
        return await http.get(path)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_page_in_each_language(language: Language) -> None:
    answer = await get(f"/open-data?lang={language}")
    assert answer.status_code == 200
    page = answer.text
    texts = catalogue(language)
    assert f"<h1 id=\"open-data-title\">{texts['opendata.title']}</h1>" in page
    for url in PUBLISHED:
        assert url in page, url
    assert f'href="/open-data/cases.csv?lang={language}"' in page
    for key in ("opendata.never_personal", "opendata.never_staff", "opendata.never_places"):
        assert texts[key] in page
    assert '<a href="https://creativecommons.org/licenses/by/4.0/" rel="license">CC BY 4.0</a>' \
        in page
    # the verifier's commands name this site (the page's script puts the browser's address)
    assert "python3 verify_open_data.py --from http://zaiban.test" in page
    assert "zaiban verify --from http://zaiban.test" in page
    assert 'href="/open-data" aria-current="page"' in page
    # scripts from this origin only
    assert "script-src 'self'" in answer.headers["content-security-policy"]


async def test_a_city_publishes_under_a_licence_of_its_choice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZAIBAN_OPEN_DATA_LICENCE", "政府数据开放许可 <1.0>")
    monkeypatch.setenv("ZAIBAN_OPEN_DATA_LICENCE_URL", "https://data.example.gov.cn/l?v=1&x=2")
    page = (await get("/open-data?lang=zh-Hans")).text
    assert ('<a href="https://data.example.gov.cn/l?v=1&amp;x=2" rel="license">'
            "政府数据开放许可 &lt;1.0&gt;</a>") in page
    assert "CC BY 4.0" not in page


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_dashboard_and_every_page_lead_to_it(language: Language) -> None:
    texts = catalogue(language)
    dashboard = (await get(f"/dashboard?lang={language}")).text
    assert f'<a href="/open-data">{texts["dashboard.check"]}</a>' in dashboard
    assert 'id="dash-chain"' in dashboard
    for path in ("/", "/cases", "/track", "/staff"):
        page = (await get(f"{path}?lang={language}")).text
        assert f'<a href="/open-data" >{texts["nav.open_data"]}</a>' in page, path
        assert f'<a href="/open-data">{texts["footer.open_data"]}</a>' in page, path
    assert texts["dashboard.check"] == {"zh-Hans": "查核这些数字", "zh-Hant": "查核這些數字",
                                        "en": "Check these figures yourself"}[language]
