"""The public feed over HTTP: pages of lines, and the same lines live.

- `GET /open-data/events.ndjson?after=<cursor>&limit=<n>`: up to `limit` lines after the
  cursor, one per line of the body, each the stored canonical text. The `Link` header
  always names the next page (`rel="next"`): a reader follows it until a page comes back
  empty — then it has caught up, and polls the same link for what comes next.
- `GET /open-data/events.sse?after=<cursor>`: the same lines as server-sent events,
  `id:` the cursor after the line, `data:` the line; a browser's EventSource reconnects with
  `Last-Event-ID` and misses nothing. Each stream polls the store (any instance may have
  projected what it sends), sends a comment line now and then so proxies keep it, and ends
  after a while (the client reconnects from where it was).

No token: the lines are public by construction (`lines.py`). A cursor or limit that cannot
be read is a 422 naming the parameter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse

from services.common.sse import HEARTBEAT, Pace
from services.opendata.settings import OpenDataSettings
from services.opendata.store import BadCursor, Cursor, FeedStore, StoredLine

NDJSON = "application/x-ndjson; charset=utf-8"
FEED_PATH = "/open-data/events.ndjson"
DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000
SSE_PAGE = 500

CursorText = Annotated[str | None, Query(
    max_length=20_000, description="Where to resume: `p-o.p-o...`, per partition of the log "
                                   "the offset of the last line read (from a `Link` or an "
                                   "event id); absent: from the first line.")]


def cursor_of(text: str | None, name: str) -> Cursor:
    """The cursor in `text`, or 422 naming the parameter it came in."""
    try:
        return Cursor.parse(text.strip() if text else None)
    except BadCursor as error:
        raise HTTPException(422, f"{name}: {error}") from error


def next_link(cursor: Cursor, limit: int) -> str:
    after = quote(str(cursor), safe="-.")
    return f'<{FEED_PATH}?after={after}&limit={limit}>; rel="next"'


def body_of(lines: list[StoredLine]) -> bytes:
    return "".join(f"{line.text}\n" for line in lines).encode()


def sse_line(line: StoredLine, cursor: Cursor) -> str:
    return f"id: {cursor}\ndata: {line.text}\n\n"


async def follow(
    cursor: Cursor,
    page: Callable[[Cursor, int], Awaitable[tuple[list[StoredLine], Cursor]]],
    *,
    poll: float,
    heartbeat: float = 15.0,
    max_age: float = 3600.0,
    disconnected: Callable[[], Awaitable[bool]] | None = None,
    retry_ms: int = 2000,
) -> AsyncGenerator[str, None]:
    """The event stream of the feed after `cursor`, for `max_age` seconds."""
    pace = Pace(heartbeat=heartbeat, max_age=max_age)
    yield f"retry: {retry_ms}\n\n"
    while True:
        lines, after_them = await page(cursor, SSE_PAGE)
        for line in lines:
            cursor = cursor.after([line])
            yield sse_line(line, cursor)
            pace.sent()
        cursor = after_them  # past the records that make no line, too
        if len(lines) == SSE_PAGE:
            continue  # catching up: no pause
        if await pace.over(disconnected):
            return
        if pace.heartbeat_due():
            yield HEARTBEAT
        await asyncio.sleep(poll)


def install_routes(router: APIRouter, *, store: FeedStore, settings: OpenDataSettings) -> None:
    @router.get(
        FEED_PATH, tags=["open data"], summary="The public history, one line per case event",
        response_class=Response,
        responses={200: {"content": {NDJSON: {}},
                         "description": "One FeedLine (contracts/schemas/opendata) a line; "
                                        "the next page in the Link header (rel=\"next\")."}},
    )
    async def events_page(
        after: CursorText = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT,
                                    description="Lines at most.")] = DEFAULT_LIMIT,
    ) -> Response:
        cursor = cursor_of(after, "after")
        lines, after_them = await store.page(cursor, limit)
        return Response(body_of(lines), media_type=NDJSON,
                        headers={"Link": next_link(after_them, limit),
                                 "Cache-Control": "no-cache"})

    @router.get(
        "/open-data/events.sse", tags=["open data"],
        summary="The public history live (server-sent events)",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}},
                         "description": "`id: <cursor after the line>`, `data: <the line>`"}},
    )
    async def events_live(
        request: Request,
        after: CursorText = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        if last_event_id is not None and last_event_id.strip():
            cursor = cursor_of(last_event_id, "Last-Event-ID")
        else:
            cursor = cursor_of(after, "after")
        stream = follow(cursor, store.page, poll=settings.opendata_poll_s,
                        heartbeat=settings.opendata_live_heartbeat_s,
                        max_age=settings.opendata_live_max_age_s,
                        disconnected=request.is_disconnected)
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})
