"""The public Atom feeds: valid Atom (RFC 4287) a feed reader opens, public data only, in
each of our languages; which feeds exist; the queries an index serves; conditional GET."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from unit.tracking.tracking_stories import (
    CITY,
    EMAIL,
    PHONE,
    PRIVATE_ADDRESS,
    PRIVATE_DETAILS,
    a_long_handling,
    day,
    reference_case,
    submitted,
    water_case,
)

from services.common.catalogue import LANGUAGES, Language
from services.lifecycle.history import History
from services.tracking import atom
from services.tracking.feed_routes import RecentFeeds, etag_of, not_modified
from services.tracking.feeds import KINDS, SCOPES, FeedSpec, UnknownFeed, feed_of, feed_spec
from services.tracking.store import FeedQuery, case_rows, row_fields
from services.tracking.timeline import CaseView, fold

NS = {"a": atom.ATOM}
BASE = "https://zaiban.example.org"


def project(history: History, events: int | None = None) -> CaseView:
    view = fold(None, history.envelopes[:events])
    assert view is not None
    return view


def parsed(spec: FeedSpec, views: list[CaseView], language: Language = "zh-Hans") -> ET.Element:
    return ET.fromstring(atom.to_bytes(feed_of(spec, views, language, CITY, BASE)))


def rfc3339(text: str | None) -> datetime:
    assert text is not None and text.endswith("Z"), text
    return datetime.fromisoformat(text)


def a_chatty_case() -> History:
    """A resident who typed their phone number and email into the description."""
    case_id = "ZB261009-CHAT-0004"
    return History(case_id).given(day("10-09", 8), submitted(
        case_id, category="water", street="文化路", address=PRIVATE_ADDRESS,
        description=f"停水三天了 <b>急</b> & 请联系我 {PHONE} 或 {EMAIL}"))


# -- valid Atom ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_feed_has_every_element_rfc_4287_requires(language: Language) -> None:
    spec = feed_spec(CITY, "new", "districts", "jinshui")
    views = [project(reference_case()), project(water_case())]

    feed = parsed(spec, views, language)

    assert feed.tag == f"{{{atom.ATOM}}}feed"
    assert feed.get(atom.XML_LANG) == language
    for name in ("id", "title", "updated"):  # exactly one each (4.1.1)
        assert len(feed.findall(f"a:{name}", NS)) == 1, name
    assert feed.findtext("a:id", namespaces=NS, default="").startswith("urn:uuid:")
    rfc3339(feed.findtext("a:updated", namespaces=NS))
    links = {link.get("rel"): link for link in feed.findall("a:link", NS)}
    assert links["self"].get("href") == f"{BASE}/feeds/districts/jinshui/new.atom?lang={language}"
    assert links["self"].get("type") == "application/atom+xml"
    assert links["alternate"].get("href") == f"{BASE}/cases?district=jinshui&lang={language}"
    assert feed.findtext("a:author/a:name", namespaces=NS)

    entries = feed.findall("a:entry", NS)
    assert len(entries) == 2
    for entry in entries:
        for name in ("id", "title", "updated", "summary", "content", "published"):
            assert len(entry.findall(f"a:{name}", NS)) == 1, name
        assert entry.findtext("a:id", namespaces=NS, default="").startswith("urn:uuid:")
        rfc3339(entry.findtext("a:updated", namespaces=NS))
        [link] = entry.findall("a:link[@rel='alternate']", NS)
        assert link.get("href", "").startswith(f"{BASE}/cases/ZB")
        assert entry.findtext("a:author/a:name", namespaces=NS)
        content = entry.find("a:content", NS)
        assert content is not None and content.get("type") == "html"
    updated = [rfc3339(e.findtext("a:updated", namespaces=NS)) for e in entries]
    assert rfc3339(feed.findtext("a:updated", namespaces=NS)) == max(updated)


def test_titles_and_words_follow_the_language_asked() -> None:
    spec = feed_spec(CITY, "resolved", "districts", "jinshui")
    view = project(reference_case())
    titles = {language: parsed(spec, [view], language).findtext("a:title", namespaces=NS)
              for language in LANGUAGES}
    assert titles == {"zh-Hans": "金水区：已办结的诉求", "zh-Hant": "金水區：已辦結的訴求",
                      "en": "Jinshui: resolved cases"}
    entry = parsed(spec, [view], "en").find("a:entry", NS)
    assert entry is not None
    assert entry.findtext("a:title", namespaces=NS) == "Traffic signals · 沙口路, Jinshui (Closed)"
    assert "Latest step: Closed after the resident confirmed (2026-10-12)" in \
        entry.findtext("a:content", namespaces=NS, default="")


def test_an_empty_feed_is_still_valid_and_the_same_every_time() -> None:
    spec = feed_spec(CITY, "new", "departments", "water-co")
    first = atom.to_bytes(feed_of(spec, [], "en", CITY, BASE))
    assert first == atom.to_bytes(feed_of(spec, [], "en", CITY, BASE))
    feed = ET.fromstring(first)
    assert feed.findall("a:entry", NS) == []
    assert feed.findtext("a:updated", namespaces=NS) == "1970-01-01T00:00:00Z"


def test_markup_in_a_description_stays_text() -> None:
    spec = feed_spec(CITY, "new")
    feed = parsed(spec, [project(a_chatty_case())])
    entry = feed.find("a:entry", NS)
    assert entry is not None
    assert "<b>急</b> &" in entry.findtext("a:summary", namespaces=NS, default="")
    # the html content, once unescaped by the reader, shows the markup as text again
    assert "&lt;b&gt;急&lt;/b&gt; &amp;" in entry.findtext("a:content", namespaces=NS, default="")


# -- entry ids ----------------------------------------------------------------------------------


def ids(spec: FeedSpec, views: list[CaseView], language: Language = "zh-Hans") -> list[str]:
    return [e.findtext("a:id", namespaces=NS, default="")
            for e in parsed(spec, views, language).findall("a:entry", NS)]


def test_an_entry_keeps_its_id_in_every_feed_language_and_rendering() -> None:
    view = project(reference_case())
    resolved = [ids(feed_spec(CITY, "resolved", scope, code), [view], language)
                for scope, code in ((None, None), ("districts", "jinshui"),
                                    ("categories", "traffic-signals"),
                                    ("departments", "signal-co"))
                for language in LANGUAGES]
    assert all(found == resolved[0] for found in resolved)
    assert ids(feed_spec(CITY, "new"), [view]) != resolved[0]  # a submission is not a resolution


def test_a_case_resolved_again_after_a_reopen_is_a_new_entry_of_the_resolved_feed() -> None:
    history = a_long_handling()
    first = project(history, 14)  # resolved on 10-10
    reopened = project(history, 16)
    again = project(history, 17)  # resolved again on 10-11
    assert first.facts.resolved_at and again.facts.resolved_at
    assert reopened.facts.resolved_at is None
    spec = feed_spec(CITY, "resolved")
    assert ids(spec, [first]) != ids(spec, [again])
    assert ids(spec, [again]) == ids(spec, [project(history)])  # closing changes no id


def test_the_read_model_keeps_the_resolution_in_force_for_the_resolved_feeds() -> None:
    history = a_long_handling()
    assert row_fields(project(history, 13))["resolved_at"] is None
    assert row_fields(project(history, 14))["resolved_at"] == day("10-10", 15)
    assert row_fields(project(history, 16))["resolved_at"] is None  # reopened
    assert row_fields(project(history))["resolved_at"] == day("10-11", 10)  # and closed


# -- public data only ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_feed_carries_personal_data(language: Language) -> None:
    views = [project(reference_case()), project(water_case()), project(a_long_handling()),
             project(a_chatty_case())]
    for kind in KINDS:
        text = atom.to_bytes(feed_of(feed_spec(CITY, kind), views, language, CITY,
                                     BASE)).decode()
        for private in PRIVATE_DETAILS:
            assert private not in text, private
        for view in views:
            assert view.tracking_code_hash not in text
        assert "34.7995" not in text and "113.639" not in text  # no point on the map
        assert "media.example.org" not in text  # nor photos
        assert "还是在漏水" not in text  # the resident's own comment
        assert "班组人手不足" not in text  # an internal note
    new = atom.to_bytes(feed_of(feed_spec(CITY, "new"), views, language, CITY, BASE)).decode()
    assert "138****5678" in new and "li***@example.com" in new  # masked, as on the case page


# -- which feeds there are ----------------------------------------------------------------------


def test_every_code_of_the_catalogue_has_its_feeds_and_nothing_else_does() -> None:
    assert feed_spec(CITY, "new", "districts", "jinshui").path == \
        "/feeds/districts/jinshui/new.atom"
    assert feed_spec(CITY, "resolved").path == "/feeds/resolved.atom"
    for department in CITY.departments:
        feed_spec(CITY, "resolved", "departments", department.code)
    with pytest.raises(UnknownFeed, match=r"no district 'atlantis'.*jinshui"):
        feed_spec(CITY, "new", "districts", "atlantis")
    with pytest.raises(UnknownFeed, match="no feed 'old'"):
        feed_spec(CITY, "old", "districts", "jinshui")
    with pytest.raises(UnknownFeed, match="no feeds by 'streets'"):
        feed_spec(CITY, "new", "streets", "jinshui")
    with pytest.raises(UnknownFeed):  # a category's code is not a district's
        feed_spec(CITY, "new", "districts", "water")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scope", [None, *SCOPES])
def test_each_feed_query_is_answered_from_the_rows_sets_alone(kind: str,
                                                              scope: str | None) -> None:
    """The equality and the time range of a feed are planned from the rows' sets and
    sorted times, exactly: no row is tested one by one (`rowindex.py`)."""
    query = FeedSpec(kind, scope, "x" if scope else None).query()
    _, exact = case_rows()._plan(query.filter())
    assert exact
    assert query.limit == 50


# -- conditional GET ----------------------------------------------------------------------------


def test_a_reader_that_has_the_feed_gets_not_modified() -> None:
    etag = etag_of(b"<feed/>")
    updated = datetime(2026, 10, 12, 10, 1, 30, 500_000, tzinfo=UTC)
    http_date = "Mon, 12 Oct 2026 10:01:30 GMT"
    assert not_modified(etag, updated, etag, None)
    assert not_modified(etag, updated, f'"other", W/{etag}', None)
    assert not_modified(etag, updated, "*", None)
    assert not not_modified(etag, updated, '"other"', None)
    assert not_modified(etag, updated, None, http_date)
    assert not not_modified(etag, updated + timedelta(seconds=1), None, http_date)
    assert not not_modified(etag, updated, '"other"', http_date)  # If-None-Match wins
    assert not not_modified(etag, updated, None, "not a date")
    assert not not_modified(etag, updated, None, None)


# -- many readers, few reads ----------------------------------------------------------------------


class CountingStore:
    """A store that counts its reads; `fail` makes the next read fail."""

    def __init__(self) -> None:
        self.reads = 0
        self.fail = False
        self.gate = asyncio.Event()

    async def latest(self, query: FeedQuery) -> list[CaseView]:
        self.reads += 1
        await self.gate.wait()
        if self.fail:
            self.fail = False
            raise RuntimeError("the store is away")
        return [project(reference_case())] if query.resolved else []


async def test_readers_polling_one_feed_share_one_read_per_interval() -> None:
    store, now = CountingStore(), [100.0]
    recent = RecentFeeds(store, ttl=10, clock=lambda: now[0])  # type: ignore[arg-type]
    resolved, new = feed_spec(CITY, "resolved"), feed_spec(CITY, "new")

    together = [asyncio.ensure_future(recent.latest(resolved)) for _ in range(20)]
    await asyncio.sleep(0)
    store.gate.set()
    answers = await asyncio.gather(*together)
    assert store.reads == 1 and all(len(found) == 1 for found in answers)

    now[0] += 9.9
    await recent.latest(resolved)
    assert store.reads == 1  # still fresh
    await recent.latest(new)
    assert store.reads == 2  # another feed, its own read
    now[0] += 0.1
    await recent.latest(resolved)
    assert store.reads == 3  # ten seconds on: read again

    store.fail = True
    now[0] += 10
    with pytest.raises(RuntimeError):
        await recent.latest(resolved)
    assert len(await recent.latest(resolved)) == 1  # a failed read is not kept
    assert store.reads == 5


async def test_with_no_interval_every_request_reads() -> None:
    store = CountingStore()
    store.gate.set()
    recent = RecentFeeds(store, ttl=0)  # type: ignore[arg-type]
    for _ in range(3):
        await recent.latest(feed_spec(CITY, "new"))
    assert store.reads == 3
