"""The pages that list cases name their Atom feeds: in the head, where feed readers and
browsers look for `<link rel="alternate" type="application/atom+xml">`, and as links a
reader sees. The case list of a district is that district's page."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
from fastapi import FastAPI
from helpers import client_for

from services.common.catalogue import load_city
from services.common.settings import CommonSettings
from services.web import web_routes

SETTINGS = CommonSettings(environment="test")
WATER = next(c for c in load_city(SETTINGS.config_dir).categories
             if c.code == "water").names.in_("zh-Hant")


class Links(HTMLParser):
    """The feeds a page names in its head, and the links to them in its body."""

    def __init__(self) -> None:
        super().__init__()
        self.head: list[tuple[str, str]] = []
        self.body: list[str] = []
        self.in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.in_head = self.in_head or tag == "head"
        if tag == "body":
            self.in_head = False
        if found.get("type") != "application/atom+xml":
            return
        if tag == "link" and self.in_head and found.get("rel") == "alternate":
            self.head.append((str(found.get("title")), str(found.get("href"))))
        elif tag == "a" and not self.in_head:
            self.body.append(str(found.get("href")))


async def feeds_of(path: str) -> Links:
    app = FastAPI()
    app.include_router(web_routes(SETTINGS))
    async with client_for(app) as http:
        answer: httpx.Response = await http.get(path)
    assert answer.status_code == 200
    links = Links()
    links.feed(answer.text)
    return links


async def test_a_districts_case_list_names_its_feeds_and_the_citys() -> None:
    links = await feeds_of("/cases?district=jinshui&lang=en")
    assert links.head == [
        ("Jinshui: new cases", "/feeds/districts/jinshui/new.atom?lang=en"),
        ("Jinshui: resolved cases", "/feeds/districts/jinshui/resolved.atom?lang=en"),
        ("Zhengzhou: new cases", "/feeds/new.atom?lang=en"),
        ("Zhengzhou: resolved cases", "/feeds/resolved.atom?lang=en"),
    ]
    assert links.body == [href for _, href in links.head]  # and shows them


async def test_a_category_and_a_department_have_theirs_in_the_readers_language() -> None:
    links = await feeds_of("/cases?category=water&department=water-co&lang=zh-Hant")
    titles = [title for title, _ in links.head]
    assert titles[:4] == [f"{WATER}：新訴求", f"{WATER}：已辦結的訴求", "自來水公司：新訴求",
                          "自來水公司：已辦結的訴求"]
    hrefs = [href for _, href in links.head]
    assert hrefs[:4] == ["/feeds/categories/water/new.atom?lang=zh-Hant",
                         "/feeds/categories/water/resolved.atom?lang=zh-Hant",
                         "/feeds/departments/water-co/new.atom?lang=zh-Hant",
                         "/feeds/departments/water-co/resolved.atom?lang=zh-Hant"]


async def test_the_dashboard_names_the_citys_feeds_and_an_unknown_code_names_none() -> None:
    dashboard = await feeds_of("/dashboard?lang=zh-Hans")
    assert [href for _, href in dashboard.head] == ["/feeds/new.atom?lang=zh-Hans",
                                                    "/feeds/resolved.atom?lang=zh-Hans"]
    assert dashboard.head[0][0] == "郑州市：新诉求"
    unknown = await feeds_of("/cases?district=%22%3E%3Cscript%3E&lang=en")
    assert [href for _, href in unknown.head] == ["/feeds/new.atom?lang=en",
                                                  "/feeds/resolved.atom?lang=en"]
    submit = await feeds_of("/?lang=en")
    assert submit.head == [] and submit.body == []
