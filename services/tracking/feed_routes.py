"""The public Atom feeds over HTTP (`feeds.py` says which feeds there are and what they hold).

A feed is read from the tracking read model by one query an index serves (the latest
50 of a district, category or department, or of the city: `store.FeedQuery`), in the
language of `?lang=` (zh-Hans, zh-Hant or en; the site's, simplified Chinese, when
not asked: a feed's address says all it is, whoever polls it). Feed readers poll: an
answer carries an `ETag` (of its bytes) and a `Last-Modified` (the feed's `updated`),
and a conditional GET that names them gets `304 Not Modified` with no body.

Readers poll, many of them the same feeds, so an instance reads each feed's cases at most
once every `tracking_feed_cache_s` seconds (`RecentFeeds`), and requests that arrive
together share one read: the feeds cost the store a bounded number of queries whatever
the number of subscribers. That matters most on FerretDB 1.24, which reads no index but
`_id`'s (`services/common/store.py`): there each query reads the whole collection.
"""

# No `from __future__ import annotations` here: FastAPI reads the route signatures.

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response

from services.common.catalogue import Language
from services.common.cityconfig import LiveCity
from services.common.i18n import DEFAULT_LANGUAGE, UnknownLanguage, pick_language
from services.tracking import atom
from services.tracking.feeds import FeedSpec, UnknownFeed, feed_of, feed_spec
from services.tracking.store import TimelineStore
from services.tracking.timeline import CaseView

CONTENT_TYPE = f"{atom.MEDIA_TYPE}; charset=utf-8"
CACHE_CONTROL = "public, max-age=60"
"""A minute: feed readers poll far less often, and a new case can wait that long."""

FeedLang = Annotated[str | None, Query(max_length=20,
                                       description="zh-Hans, zh-Hant or en; zh-Hans if not "
                                                   "given.")]
FeedCode = Annotated[str, Path(max_length=64, description="A code of the city's catalogue.")]
IfNoneMatch = Annotated[str | None, Header()]
IfModifiedSince = Annotated[str | None, Header()]

FEED_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {atom.MEDIA_TYPE: {}}, "description": "An Atom 1.0 feed (RFC 4287)."},
    304: {"description": "Not modified since the ETag or date the reader sent."},
    404: {"description": "No such feed (an unknown kind, or a code the catalogue lacks)."},
}


def etag_of(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def not_modified(etag: str, last_modified: datetime, if_none_match: str | None,
                 if_modified_since: str | None) -> bool:
    """Whether a conditional GET may be answered 304 (RFC 9110 13.1: If-None-Match, by weak
    comparison, wins over If-Modified-Since)."""
    if if_none_match is not None:
        sent = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in sent or etag in sent
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, OverflowError):
        return False  # a date that does not parse is ignored, as RFC 9110 says
    if since.tzinfo is None:
        return False
    return last_modified.replace(microsecond=0) <= since


def feed_language(lang: str | None) -> Language:
    try:
        return pick_language(lang, None) if lang else DEFAULT_LANGUAGE
    except UnknownLanguage as error:
        raise HTTPException(422, f"lang: {error}") from error


class RecentFeeds:
    """The cases of each feed, read from the store at most once per `ttl` seconds; callers
    that ask while a read is under way share it. A failed read is not kept. The feeds are
    the catalogue's (a few dozen), so what is kept stays small."""

    def __init__(self, store: TimelineStore, ttl: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ttl = ttl
        self.clock = clock
        self.kept: dict[FeedSpec, tuple[float, asyncio.Task[list[CaseView]]]] = {}

    async def latest(self, spec: FeedSpec) -> list[CaseView]:
        now = self.clock()
        kept = self.kept.get(spec)
        if kept is None or now - kept[0] >= self.ttl or self._failed(kept[1]):
            kept = (now, asyncio.ensure_future(self.store.latest(spec.query())))
            self.kept[spec] = kept
        # shielded: a reader that hangs up does not cancel the read the others wait for
        return await asyncio.shield(kept[1])

    @staticmethod
    def _failed(read: asyncio.Task[list[CaseView]]) -> bool:
        return read.done() and (read.cancelled() or read.exception() is not None)


@dataclass(frozen=True)
class Poll:
    """What a feed reader's request asks besides the feed: its language, and what it has."""

    language: Language
    base_url: str
    if_none_match: str | None
    if_modified_since: str | None


async def poll(request: Request, lang: FeedLang = None, if_none_match: IfNoneMatch = None,
               if_modified_since: IfModifiedSince = None) -> Poll:
    return Poll(feed_language(lang), str(request.base_url).rstrip("/"), if_none_match,
                if_modified_since)


Polled = Annotated[Poll, Depends(poll)]
Kind = Annotated[str, Path(max_length=20, description="new or resolved")]
Scope = Annotated[str, Path(max_length=20, description="districts, categories or departments")]


def install_feed_routes(router: APIRouter, *, store: TimelineStore, city: LiveCity,
                        cache_s: float) -> None:
    recent = RecentFeeds(store, cache_s)

    async def answer(spec: FeedSpec, asked: Poll) -> Response:
        feed = feed_of(spec, await recent.latest(spec), asked.language, city.current,
                       asked.base_url)
        body = atom.to_bytes(feed)
        etag = etag_of(body)
        headers = {"ETag": etag,
                   "Last-Modified": format_datetime(feed.updated.astimezone(UTC), usegmt=True),
                   "Cache-Control": CACHE_CONTROL, "Content-Language": asked.language,
                   "X-Content-Type-Options": "nosniff"}
        if not_modified(etag, feed.updated, asked.if_none_match, asked.if_modified_since):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=CONTENT_TYPE, headers=headers)

    def spec_or_404(kind: str, scope: str | None = None, code: str | None = None) -> FeedSpec:
        try:
            return feed_spec(city.current, kind, scope, code)
        except UnknownFeed as error:
            raise HTTPException(404, str(error)) from error

    @router.get("/feeds/{kind}.atom", tags=["feeds"], response_class=Response,
                responses=FEED_RESPONSES,
                summary="The whole city's new or resolved cases (Atom; public data only)")
    async def city_feed(kind: Kind, asked: Polled) -> Response:
        return await answer(spec_or_404(kind), asked)

    @router.get("/feeds/{scope}/{code}/{kind}.atom", tags=["feeds"], response_class=Response,
                responses=FEED_RESPONSES,
                summary="New or resolved cases of a district, category or department "
                        "(Atom; public data only)")
    async def area_feed(scope: Scope, code: FeedCode, kind: Kind, asked: Polled) -> Response:
        return await answer(spec_or_404(kind, scope, code), asked)
