"""What a reader gets for a page: a template filled from the catalogue of their language. Pure.

Templates hold no words of their own. Every text is a placeholder filled here,
HTML-escaped, from `i18n/<language>.json`:

    {{t:key}}          the text of `key` in the reader's language
    {{static:file}}    the URL of a file in `static/`, versioned by its content
    {{current:page}}   `aria-current="page"` on the navigation link of the page shown
    {{lang}} {{page}} {{title}} {{main}} {{langs}} {{config}}   filled by `render`
    {{feeds}} {{subscribe}}   the page's Atom feeds: `<link rel="alternate">` in the head,
                       and visible links to subscribe (`feed_links`)
    {{licence}} {{site}}   the open data's licence, linked, and this site's address
                       (the open data page: `open_data_slots`)

The page's scripts get the same catalogue (and the city's names) in a JSON
block (`{{config}}`), so what the browser writes later is translated too.

The reader's language: `?lang=` when it names one of ours (and then it is
remembered in a cookie), else the cookie, else the browser's Accept-Language,
else simplified Chinese, the platform's first language (the tags and the
negotiation are the kit's, `services/common/i18n.py`).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from services.common.catalogue import LANGUAGES, CityConfig, Language
from services.common.i18n import DEFAULT_LANGUAGE, language_of_tag, negotiate

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
CATALOGUES = HERE / "i18n"

LANGUAGE_COOKIE = "zaiban_lang"

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z]+)(?::([A-Za-z0-9_.\-/]+))?\s*\}\}")


LICENCE, LICENCE_URL = "CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/"
"""The open data's licence unless the city names another (`settings.WebSettings`)."""


def open_data_slots(licence: str, licence_url: str, site: str) -> dict[str, str]:
    """The open data page's own slots: its licence as a link, and the address a reader gives
    the verifier (`--from`)."""
    return {"licence": f'<a href="{html.escape(licence_url)}" rel="license">'
                       f"{html.escape(licence)}</a>",
            "site": html.escape(site)}


@dataclass(frozen=True)
class Page:
    """One page: its template (inside the layout), its script, its title's key."""

    name: str
    template: str
    script: str
    title_key: str
    slots: Mapping[str, str] = dataclass_field(default_factory=dict)
    """The page's own placeholders, as HTML, until the route fills them for a request."""


PAGES: dict[str, Page] = {
    page.name: page
    for page in (
        Page("submit", "submit.html", "submit.js", "submit.title"),
        Page("case", "case.html", "case.js", "case.title"),
        Page("cases", "cases.html", "cases.js", "cases.title"),
        Page("track", "track.html", "track.js", "track.title"),
        Page("staff", "staff.html", "staff.js", "staff.title"),
        Page("dashboard", "dashboard.html", "dashboard.js", "dashboard.title"),
        Page("open-data", "open-data.html", "opendata.js", "opendata.title",
             open_data_slots(LICENCE, LICENCE_URL, "https://city.example")),
    )
}


class MissingText(KeyError):
    """A template asked for a key its catalogue does not have: a bug, caught by the tests."""


@cache
def catalogue(language: Language) -> dict[str, str]:
    data = json.loads((CATALOGUES / f"{language}.json").read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"i18n/{language}.json: expected an object of strings")
    return data


@cache
def template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


@cache
def static_version(name: str) -> str:
    """A short hash of a static file's content, so a changed file gets a new URL."""
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def choose_language(asked: str | None, cookie: str | None,
                    accept_language: str | None) -> tuple[Language, bool]:
    """The reader's language, and whether they chose it just now (so it is remembered)."""
    if asked:
        chosen = language_of_tag(asked)
        if chosen is not None:
            return chosen, True
    if cookie in LANGUAGES:
        return cookie, False
    return negotiate(accept_language) or DEFAULT_LANGUAGE, False


def text(language: Language, key: str) -> str:
    found = catalogue(language).get(key)
    if found is None:
        raise MissingText(f"i18n/{language}.json has no {key!r}")
    return found


def script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element."""
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def city_config(city: CityConfig, language: Language) -> dict[str, Any]:
    """What every page's script may need of the city, named in the reader's language."""
    return {
        "name": city.city.names.in_(language),
        "timezone": city.city.timezone,
        "bounds": city.city.bounds.model_dump(),
        "departments": [{"code": d.code, "name": d.names.in_(language)}
                        for d in city.departments],
        "districts": [{"code": d.code, "name": d.names.in_(language)} for d in city.districts],
        "categories": [{"code": c.code, "icon": c.icon, "name": c.names.in_(language),
                        "priority": c.priority.value, "address_public": c.address_public}
                       for c in city.categories],
    }


@dataclass(frozen=True)
class FeedLink:
    """An Atom feed of what a page shows (tracking serves it: `/feeds/...`)."""

    href: str
    title: str


FEED_SCOPES = {"district": "districts", "category": "categories", "department": "departments"}
"""A filter of the case list, and the feeds' word for it in their addresses."""


def feed_links(city: CityConfig, language: Language,
               narrowed: Mapping[str, str | None] | None = None) -> list[FeedLink]:
    """The new and resolved cases' feeds of each district, category or department the page is
    narrowed to (one the catalogue knows), then the whole city's."""
    areas: list[tuple[str, str]] = []
    for field, scope in FEED_SCOPES.items():
        code = (narrowed or {}).get(field)
        found = {"district": city.district, "category": city.category,
                 "department": city.department}[field](code) if code else None
        if found is not None:
            areas.append((f"/feeds/{scope}/{quote(found.code)}", found.names.in_(language)))
    areas.append(("/feeds", city.city.names.in_(language)))
    return [FeedLink(f"{path}/{kind}.atom?lang={language}",
                     text(language, f"feeds.{kind}").replace("{area}", name))
            for path, name in areas for kind in ("new", "resolved")]


def feed_head(feeds: Sequence[FeedLink]) -> str:
    return "".join(f'<link rel="alternate" type="application/atom+xml" '
                   f'title="{html.escape(feed.title)}" href="{html.escape(feed.href)}">\n'
                   for feed in feeds)


def feed_list(feeds: Sequence[FeedLink], language: Language) -> str:
    """Links a reader sees and can copy into a feed reader."""
    if not feeds:
        return ""
    links = "".join(f'<li><a href="{html.escape(feed.href)}" type="application/atom+xml">'
                    f"{html.escape(feed.title)}</a></li>" for feed in feeds)
    return (f'<p class="feeds-label">{html.escape(text(language, "feeds.subscribe"))}</p>'
            f'<ul class="feeds-list">{links}</ul>')


def fill(source: str, language: Language, page: str, slots: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        kind, argument = match.group(1), match.group(2)
        if kind == "t" and argument:
            return html.escape(text(language, argument))
        if kind == "static" and argument:
            return f"/static/{argument}?v={static_version(argument)}"
        if kind == "current" and argument:
            return 'aria-current="page"' if argument == page else ""
        if argument is None and kind in slots:
            return slots[kind]
        raise MissingText(f"unknown placeholder {match.group(0)!r}")

    return _PLACEHOLDER.sub(replace, source)


def render(page_name: str, language: Language, city: CityConfig,
           switch_to: dict[Language, str], feeds: Sequence[FeedLink] = (),
           map_config: Mapping[str, object] | None = None,
           slots: Mapping[str, str] | None = None) -> str:
    """The HTML of a page in `language`; `switch_to` maps each language to this page's URL in it;
    `feeds` are the Atom feeds of what it shows; `map_config` the maps' tiles (`settings.py`);
    `slots` the page's own placeholders, as HTML (`open_data_slots`)."""
    page = PAGES[page_name]
    config = {
        "lang": language,
        "page": page.name,
        "messages": catalogue(language),
        "city": city_config(city, language),
        "map": dict(map_config or {}),
    }
    current = ' aria-current="true"'
    languages = "".join(
        f'<li><a href="{html.escape(switch_to[other])}" hreflang="{other}" lang="{other}"'
        f'{current if other == language else ""}>'
        f"{html.escape(text(other, 'lang.self'))}</a></li>"
        for other in LANGUAGES
    )
    main = fill(template(page.template), language, page.name,
                {**page.slots, **(slots or {}), "lang": language,
                 "subscribe": feed_list(feeds, language)})
    slots = {
        "lang": language,
        "page": page.name,
        "title": html.escape(text(language, page.title_key)),
        "main": main,
        "langs": languages,
        "config": script_json(config),
        "script": f"/static/{page.script}?v={static_version(page.script)}",
        "feeds": feed_head(feeds),
    }
    return fill(template("layout.html"), language, page.name, slots)
