"""Atom 1.0 documents (RFC 4287), written with the standard library. Pure.

A `Feed` holds what RFC 4287 requires of a feed (`id`, `title`, `updated`, an author
for its entries) and what a feed reader needs to subscribe and to go to the page (a
`self` and an `alternate` link); each `Entry` has its `id`, `title`, `updated`, an
`alternate` link, a `summary` and an HTML `content`. Ids are `urn:uuid:` URIs made from
names (`stable_id`), so an entry keeps its id whenever and wherever it is rendered.

`to_bytes` escapes every text (ElementTree does), so a text can hold `<`, `&` or
markup without ever becoming markup of the feed; an HTML `content` is itself escaped
text, as RFC 4287 3.1.1.2 wants for `type="html"`.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MEDIA_TYPE = "application/atom+xml"

ET.register_namespace("", ATOM)


def stable_id(namespace: str, name: str) -> str:
    """A `urn:uuid:` (RFC 4122 version 5) for `name`, the same every time it is asked."""
    return uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, namespace), name).urn


def timestamp(moment: datetime) -> str:
    """An RFC 3339 date-time in UTC, to the second: `2026-10-06T01:12:00Z`."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Category:
    term: str
    label: str
    scheme: str


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    link: str
    updated: datetime
    published: datetime
    summary: str
    content_html: str
    categories: tuple[Category, ...] = ()


@dataclass(frozen=True)
class Feed:
    id: str
    title: str
    subtitle: str
    language: str
    self_link: str
    alternate_link: str
    author: str
    author_uri: str
    entries: tuple[Entry, ...]
    empty_updated: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    """`updated` of a feed without entries (RFC 4287 wants one): fixed, so that an empty
    feed's answer, and its ETag, stay the same until something is in it."""

    @property
    def updated(self) -> datetime:
        """The latest `updated` of its entries: the feed changes when one of them does."""
        return max((entry.updated for entry in self.entries), default=self.empty_updated)


def _text(parent: ET.Element, name: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{name}", attributes)
    element.text = text
    return element


def _link(parent: ET.Element, rel: str, href: str, media_type: str) -> None:
    ET.SubElement(parent, f"{{{ATOM}}}link", {"rel": rel, "href": href, "type": media_type})


def _author(parent: ET.Element, name: str, uri: str) -> None:
    author = ET.SubElement(parent, f"{{{ATOM}}}author")
    _text(author, "name", name)
    _text(author, "uri", uri)


def to_bytes(feed: Feed) -> bytes:
    """The feed as an Atom document, UTF-8, with its XML declaration."""
    root = ET.Element(f"{{{ATOM}}}feed", {XML_LANG: feed.language})
    _text(root, "id", feed.id)
    _text(root, "title", feed.title, type="text")
    _text(root, "subtitle", feed.subtitle, type="text")
    _text(root, "updated", timestamp(feed.updated))
    _link(root, "self", feed.self_link, MEDIA_TYPE)
    _link(root, "alternate", feed.alternate_link, "text/html")
    _author(root, feed.author, feed.author_uri)
    _text(root, "generator", "zaiban")
    for entry in feed.entries:
        element = ET.SubElement(root, f"{{{ATOM}}}entry")
        _text(element, "id", entry.id)
        _text(element, "title", entry.title, type="text")
        _text(element, "updated", timestamp(entry.updated))
        _text(element, "published", timestamp(entry.published))
        _link(element, "alternate", entry.link, "text/html")
        _author(element, feed.author, feed.author_uri)
        for category in entry.categories:
            ET.SubElement(element, f"{{{ATOM}}}category",
                          {"term": category.term, "label": category.label,
                           "scheme": category.scheme})
        _text(element, "summary", entry.summary, type="text")
        _text(element, "content", entry.content_html, type="html")
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
