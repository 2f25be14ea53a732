"""Area alerts: public Atom feeds of the new and the resolved cases of a district, a
category, a department, or the whole city. Pure: the routes (`feed_routes.py`) read
the cases and answer.

    /feeds/new.atom                               /feeds/resolved.atom
    /feeds/districts/{code}/new.atom              /feeds/districts/{code}/resolved.atom
    /feeds/categories/{code}/new.atom             /feeds/categories/{code}/resolved.atom
    /feeds/departments/{code}/new.atom            /feeds/departments/{code}/resolved.atom

*new*: the latest submitted cases (a department's: those it handles now);
*resolved*: the cases with a resolution in force (辦結, as the figures count it:
resolved, or closed after a resolution), the latest resolved first. A reopened case
leaves the resolved feeds until it is resolved again, and then comes back as a new
entry (an entry's id names the resolution), so a reader shows it again.

An entry says what the public page of the case says, and nothing more: it is made
from `render.summary`, the public row of the case list (the description masked, the
street and district only, the latest public step of the timeline), never from the
case's personal data, exact address, point on the map or photos.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from services.common.catalogue import CityConfig, Language
from services.tracking import atom
from services.tracking.messages import message
from services.tracking.render import (
    category_name,
    department_name,
    district_name,
    local_date,
    summary,
)
from services.tracking.store import FeedQuery
from services.tracking.timeline import CaseView

FEED_SIZE = 50
"""Entries in a feed: the latest 50, as feed readers poll and keep what they saw."""

KINDS = ("new", "resolved")
SCOPES: dict[str, str] = {"districts": "district", "categories": "category",
                          "departments": "department"}
"""A feed's scope in its URL, and the case's field it narrows to."""


class UnknownFeed(LookupError):
    """No such feed: an unknown kind, scope, or a code the city's catalogue does not have."""


@dataclass(frozen=True)
class FeedSpec:
    """One feed: `kind` (new or resolved) of the whole city, or of one `code` of `scope`."""

    kind: str
    scope: str | None = None
    code: str | None = None

    @property
    def path(self) -> str:
        if self.scope is None:
            return f"/feeds/{self.kind}.atom"
        return f"/feeds/{self.scope}/{self.code}/{self.kind}.atom"

    @property
    def field(self) -> str | None:
        return SCOPES[self.scope] if self.scope is not None else None

    def query(self, limit: int = FEED_SIZE) -> FeedQuery:
        return FeedQuery(resolved=self.kind == "resolved", field=self.field, code=self.code,
                         limit=limit)

    def list_path(self, language: Language) -> str:
        """The case list showing the same cases: the feed's page on the web."""
        narrowed = [(self.field, self.code)] if self.field and self.code else []
        return f"/cases?{urlencode([*narrowed, ('lang', language)])}"


def feed_spec(city: CityConfig, kind: str, scope: str | None = None,
              code: str | None = None) -> FeedSpec:
    """The feed at this address, or `UnknownFeed` saying what exists instead."""
    if kind not in KINDS:
        raise UnknownFeed(f"no feed {kind!r}: the feeds are {' and '.join(KINDS)} (.atom)")
    if scope is None:
        return FeedSpec(kind)
    if scope not in SCOPES:
        raise UnknownFeed(f"no feeds by {scope!r}: by {', '.join(SCOPES)}")
    codes = [item.code for item in _items(city, scope)]
    if code not in codes:
        raise UnknownFeed(f"no {SCOPES[scope]} {code!r} in {city.city.code}'s catalogue; "
                          f"the {scope} are: {', '.join(codes)}")
    return FeedSpec(kind, scope, code)


def _items(city: CityConfig, scope: str) -> Sequence[Any]:
    return {"districts": city.districts, "categories": city.categories,
            "departments": city.departments}[scope]


def area_name(spec: FeedSpec, city: CityConfig, language: Language) -> str:
    """What the feed is about, in the reader's words: "金水区", "Water supply", "郑州市"."""
    lookup = {"district": district_name, "category": category_name,
              "department": department_name}
    if spec.field is None:
        return city.city.names.in_(language)
    return lookup[spec.field](city, spec.code, language)


def feed_title(spec: FeedSpec, city: CityConfig, language: Language) -> str:
    return message(language, f"feed.{spec.kind}").format(area=area_name(spec, city, language))


def _separators(language: Language) -> tuple[str, str]:
    """Between the parts of a list, and after a label."""
    return (", ", ": ") if language == "en" else ("，", "：")


def _place(row: dict[str, Any], language: Language) -> str:
    location = row.get("location") or {}
    parts = [location.get("street"), location.get("district_name")]
    return _separators(language)[0].join(p for p in parts if p)


def _content(row: dict[str, Any], language: Language, city: CityConfig,
             submitted: datetime, resolved: datetime | None) -> str:
    """The entry's body as HTML: the public row, every text escaped."""
    colon = _separators(language)[1]

    def item(key: str, value: str | None) -> str:
        if not value:
            return ""
        return f"<li>{html.escape(message(language, key))}{colon}{html.escape(value)}</li>"

    last = row.get("last_entry")
    named = {name: (row.get(name) or {}).get("name") for name in ("category", "department")}
    return "".join([
        f"<p>{html.escape(row['description'])}</p>",
        "<ul>",
        item("feed.case", row["case_id"]),
        item("feed.status", row["status_name"]),
        item("feed.category", named["category"]),
        item("feed.place", _place(row, language)),
        item("feed.department", named["department"]),
        item("feed.submitted", local_date(submitted, city)),
        item("feed.resolved_at", local_date(resolved, city) if resolved else None),
        item("feed.latest", f"{last['text']} ({last['date']})" if last else None),
        "</ul>",
    ])


def _entry(view: CaseView, spec: FeedSpec, language: Language, city: CityConfig,
           base_url: str) -> atom.Entry:
    row = summary(view, language, city)  # the public row: masked, no personal data
    resolved_at = view.facts.resolved_at if spec.kind == "resolved" else None
    # an entry is the submission, or one resolution: a case resolved again is news again
    name = f"{view.case_id}/submitted" if resolved_at is None \
        else f"{view.case_id}/resolved/{atom.timestamp(resolved_at)}"
    place = _place(row, language) or area_name(spec, city, language)
    title = message(language, "feed.entry").format(
        category=(row.get("category") or {}).get("name", ""), place=place,
        status=row["status_name"])
    categories = tuple(
        atom.Category(term=code, label=label, scheme=f"{base_url}/feeds/{scope}")
        for scope, code, label in (
            ("categories", view.facts.category, category_name(city, view.facts.category,
                                                              language)),
            ("districts", view.facts.district, district_name(city, view.facts.district,
                                                             language)))
        if code)
    return atom.Entry(
        id=atom.stable_id(city.city.code, name),
        title=title,
        link=f"{base_url}/cases/{view.case_id}?{urlencode([('lang', language)])}",
        updated=view.updated_at or view.facts.submitted_at,
        published=resolved_at or view.facts.submitted_at,
        summary=row["description"],
        content_html=_content(row, language, city, view.facts.submitted_at, resolved_at),
        categories=categories,
    )


def feed_of(spec: FeedSpec, views: Sequence[CaseView], language: Language, city: CityConfig,
            base_url: str) -> atom.Feed:
    """The feed `spec` of these cases (the latest first), for a reader of `language`;
    `base_url` (`https://host`) makes the links absolute, as feed readers need them."""
    city_name = city.city.names.in_(language)
    return atom.Feed(
        id=atom.stable_id(city.city.code, f"feed{spec.path}/{language}"),
        title=feed_title(spec, city, language),
        subtitle=message(language, "feed.subtitle").format(city=city_name),
        language=language,
        self_link=f"{base_url}{spec.path}?{urlencode([('lang', language)])}",
        alternate_link=f"{base_url}{spec.list_path(language)}",
        author=message(language, "feed.author").format(city=city_name),
        author_uri=f"{base_url}/",
        entries=tuple(_entry(view, spec, language, city, base_url) for view in views),
    )
