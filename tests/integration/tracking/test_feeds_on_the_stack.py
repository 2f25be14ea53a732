"""The area alerts on the real stack: cases go into the case event log, and come out in the
Atom feeds of their district, category, department and city — and in no other feed.

Each story publishes recorded histories (`Case.record`, as intake and routing record
them), runs tracking against Kafka and the document store, and reads the feeds over
HTTP as a feed reader would.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import httpx
import pytest
from helpers import eventually, publish_envelopes
from unit.tracking.tracking_stories import (
    EMAIL,
    PHONE,
    PRIVATE_ADDRESS,
    PRIVATE_DETAILS,
    RING,
    ROADS_OFFICE,
    SYSTEM,
    a_long_handling,
    accepted,
    day,
    reference_case,
    routed,
    submitted,
    water_case,
)

from contracts import case_events as ev
from services.common.catalogue import LANGUAGES
from services.common.settings import CommonSettings
from services.lifecycle.history import History
from services.tracking.atom import ATOM

pytestmark = pytest.mark.stack


@pytest.fixture(autouse=True)
def every_request_reads_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """These stories watch a feed change as events arrive: no instance keeps a feed's cases
    (`RecentFeeds`, tested on its own in the unit tests)."""
    monkeypatch.setenv("ZAIBAN_TRACKING_FEED_CACHE_S", "0")

NS = {"a": ATOM}


def cases_in(body: bytes) -> list[str]:
    """The case numbers of a feed's entries, in order (from each entry's link)."""
    feed = ET.fromstring(body)
    assert feed.tag == f"{{{ATOM}}}feed"
    return [str(link.get("href")).split("/cases/")[1].split("?")[0]
            for link in feed.findall("a:entry/a:link[@rel='alternate']", NS)]


async def feed(http: httpx.AsyncClient, path: str, **params: str) -> list[str]:
    answer = await http.get(path, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    return cases_in(answer.content)


async def until_listed(http: httpx.AsyncClient, path: str, wanted: list[str]) -> None:
    async def probe() -> bool:
        return await feed(http, path) == wanted

    await eventually(probe, what=f"{path} lists {wanted}")


def a_pothole_in_erqi(case_id: str = "ZB261009-ERQI-0005") -> History:
    """A road case in another district, resolved by the roads office."""
    return (
        History(case_id)
        .given(day("10-09", 8), submitted(case_id, category="roads", district="erqi",
                                          street="大学路", address="大学路与陇海路交叉口"))
        .given(day("10-09", 9), accepted(category="roads", district="erqi"))
        .given(day("10-09", 10), routed("roads-office", day("10-16", 10), by=SYSTEM))
        .given(day("10-10", 16), ev.CaseResolved(by=ROADS_OFFICE, resolution="坑已填平", on_time=True))
    )


def a_chatty_resident(case_id: str = "ZB261010-CHAT-0006") -> History:
    """A resident who typed their phone number and email into the description."""
    return History(case_id).given(day("10-10", 8), submitted(
        case_id, category="water", street="文化路", address=PRIVATE_ADDRESS,
        description=f"停水三天了，请联系我 {PHONE} 或 {EMAIL}"))


async def test_cases_show_up_in_the_feeds_of_their_place_category_and_department_only(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    lights, water, pothole, chatty = (reference_case(), water_case(), a_pothole_in_erqi(),
                                      a_chatty_resident())
    await publish_envelopes(settings, lights.envelopes + water.envelopes + pothole.envelopes
                            + chatty.envelopes, keys=RING)
    newest_first = [chatty.case_id, pothole.case_id, water.case_id, lights.case_id]
    await until_listed(http, "/feeds/new.atom", newest_first)

    expected = {
        "/feeds/resolved.atom": [lights.case_id, pothole.case_id],  # resolved 10-12, 10-10
        "/feeds/districts/jinshui/new.atom": [chatty.case_id, water.case_id, lights.case_id],
        "/feeds/districts/jinshui/resolved.atom": [lights.case_id],
        "/feeds/districts/erqi/new.atom": [pothole.case_id],
        "/feeds/districts/erqi/resolved.atom": [pothole.case_id],
        "/feeds/districts/zhongyuan/new.atom": [],
        "/feeds/categories/water/new.atom": [chatty.case_id, water.case_id],
        "/feeds/categories/water/resolved.atom": [],
        "/feeds/categories/traffic-signals/resolved.atom": [lights.case_id],
        "/feeds/categories/roads/new.atom": [pothole.case_id],
        "/feeds/departments/signal-co/new.atom": [lights.case_id],
        "/feeds/departments/signal-co/resolved.atom": [lights.case_id],
        "/feeds/departments/roads-office/resolved.atom": [pothole.case_id],
        "/feeds/departments/water-co/new.atom": [],
    }
    for path, cases in expected.items():
        assert await feed(http, path) == cases, path

    # a feed's alternate link, the case list narrowed the same way, lists the same cases
    alternate = ET.fromstring((await http.get("/feeds/departments/signal-co/new.atom")).content)
    link = alternate.find("a:link[@rel='alternate']", NS)
    assert link is not None and link.get("href") == \
        "http://zaiban.test/cases?department=signal-co&lang=zh-Hans"
    listed = (await http.get("/api/cases", params={"department": "signal-co"})).json()
    assert [c["case_id"] for c in listed["items"]] == [lights.case_id]

    english = ET.fromstring((await http.get("/feeds/districts/erqi/resolved.atom",
                                            params={"lang": "en"})).content)
    assert english.findtext("a:title", namespaces=NS) == "Erqi: resolved cases"
    assert english.findtext("a:entry/a:title", namespaces=NS) == \
        "Roads · 大学路, Erqi (Resolved)"


async def test_no_feed_ever_shows_a_residents_contact_or_private_address(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    water, chatty = water_case(), a_chatty_resident()
    await publish_envelopes(settings, water.envelopes + chatty.envelopes, keys=RING)
    await until_listed(http, "/feeds/new.atom", [chatty.case_id, water.case_id])

    paths = ["/feeds/new.atom", "/feeds/resolved.atom",
             *[f"/feeds/{scope}/{code}/{kind}.atom"
               for scope, code in (("districts", "jinshui"), ("categories", "water"))
               for kind in ("new", "resolved")]]
    for path in paths:
        for language in LANGUAGES:
            text = (await http.get(path, params={"lang": language})).text
            for private in (*PRIVATE_DETAILS, "金水区文化路97号"):
                assert private not in text, (path, language, private)
            assert "34.7995" not in text and "media.example.org" not in text
    chatty_feed = (await http.get("/feeds/categories/water/new.atom")).text
    assert "138****5678" in chatty_feed  # the description is there, masked as on its page


async def test_a_reopened_case_leaves_the_resolved_feed_until_resolved_again(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    history = a_long_handling()
    path = "/feeds/departments/water-co/resolved.atom"
    await publish_envelopes(settings, history.envelopes[:14], keys=RING)  # resolved on 10-10
    await until_listed(http, path, [history.case_id])
    first_id = ET.fromstring((await http.get(path)).content).findtext("a:entry/a:id",
                                                                      namespaces=NS)

    await publish_envelopes(settings, history.envelopes[14:16])  # not fixed: reopened
    await until_listed(http, path, [])
    await publish_envelopes(settings, history.envelopes[16:17])  # resolved again, by roads
    await until_listed(http, path, [history.case_id])  # water-co leads the case still
    assert await feed(http, "/feeds/departments/roads-office/resolved.atom") == []
    again = ET.fromstring((await http.get(path)).content).findtext("a:entry/a:id", namespaces=NS)
    assert again != first_id  # news again for a reader that has seen the first resolution


async def test_a_feed_reader_polling_gets_not_modified_until_something_changes(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    history = a_pothole_in_erqi()
    await publish_envelopes(settings, history.envelopes[:3], keys=RING)  # routed, not resolved
    path = "/feeds/districts/erqi/new.atom"
    await until_listed(http, path, [history.case_id])

    first = await http.get(path)
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    assert datetime.strptime(last_modified, "%a, %d %b %Y %H:%M:%S GMT").replace(
        tzinfo=UTC) == day("10-09", 10).astimezone(UTC)
    same = await http.get(path, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    since = await http.get(path, headers={"If-Modified-Since": last_modified})
    assert since.status_code == 304
    other_language = await http.get(path, params={"lang": "en"}, headers={"If-None-Match": etag})
    assert other_language.status_code == 200  # another document, another ETag

    await publish_envelopes(settings, history.envelopes[3:])  # resolved
    async def changed() -> httpx.Response | None:
        answer = await http.get(path, headers={"If-None-Match": etag})
        return answer if answer.status_code == 200 else None

    answer = await eventually(changed, what="the feed changes once the case is resolved")
    assert answer.headers["etag"] != etag
    assert "坑已填平" in answer.text  # the latest public step


async def test_unknown_feeds_are_404_with_what_exists(http: httpx.AsyncClient) -> None:
    for path, said in (("/feeds/districts/atlantis/new.atom", "no district 'atlantis'"),
                       ("/feeds/categories/unicorns/resolved.atom", "no category 'unicorns'"),
                       ("/feeds/departments/nobody/new.atom", "no department 'nobody'"),
                       ("/feeds/districts/jinshui/old.atom", "no feed 'old'"),
                       ("/feeds/streets/jinshui/new.atom", "no feeds by 'streets'"),
                       ("/feeds/everything.atom", "no feed 'everything'")):
        answer = await http.get(path)
        assert answer.status_code == 404, path
        assert said in answer.json()["error"], answer.text
    districts = (await http.get("/feeds/districts/atlantis/new.atom")).json()["error"]
    assert "jinshui" in districts  # says which there are
    wrong_language = await http.get("/feeds/new.atom", params={"lang": "klingon"})
    assert wrong_language.status_code == 422 and "lang" in wrong_language.json()["error"]
