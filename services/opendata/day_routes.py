"""The published days over HTTP: the manifest and the daily files (public, no token).

- `GET /open-data/days.json`: every published day, oldest first (day, events, sha256,
  previous, head, published_at, file), the chain's head and its day (the dashboard shows
  them), and the chain's formula in words.
- `GET /open-data/days/<YYYY-MM-DD>.ndjson.gz`: the day's file as published, gzipped; its
  ETag is the day's sha256 (of the uncompressed lines) and it is cached for good — it never
  changes. 404 for a day not published (yet), 422 for something that is not a date.
"""

# No `from __future__ import annotations` here: FastAPI reads the route signatures.

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Response
from fastapi.responses import JSONResponse
from pymongo.asynchronous.database import AsyncDatabase

from services.opendata.days import CHAIN_RULE
from services.opendata.publishing import PublishedDays, manifest_entry

MANIFEST_CACHE = "public, max-age=60"
"""A new day appears once a day: a minute late is fine."""
FILE_CACHE = "public, max-age=31536000, immutable"
"""A published day's file never changes."""

DayParam = Annotated[str, Path(max_length=32, description="The city day, YYYY-MM-DD.")]
IfNoneMatch = Annotated[str | None, Header()]

FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/gzip": {}},
          "description": "The day's lines (ndjson, one feed line each), gzipped."},
    304: {"description": "Not modified: the ETag sent is the day's sha256."},
    404: {"description": "That day is not published (yet)."},
    422: {"description": "`day` is not a date (YYYY-MM-DD)."},
}


def parse_day(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError as error:
        raise HTTPException(422, f"day: {text[:32]!r} is not a date (YYYY-MM-DD)") from error


def day_routes(db: AsyncDatabase[dict[str, Any]], timezone: str) -> APIRouter:
    """The manifest and the files; `timezone` is the city's, whose days they are."""
    router = APIRouter(tags=["open data"])
    published = PublishedDays(db)

    @router.get("/open-data/days.json",
                summary="The published days of the open data and the hash chain's head")
    async def days_manifest() -> JSONResponse:
        entries = [manifest_entry(doc) for doc in await published.entries()]
        last = entries[-1] if entries else None
        body = {"days": entries, "head": last["head"] if last else None,
                "head_day": last["day"] if last else None, "chain": CHAIN_RULE,
                "timezone": timezone}
        return JSONResponse(body, headers={"Cache-Control": MANIFEST_CACHE})

    @router.get("/open-data/days/{day}.ndjson.gz", response_class=Response,
                responses=FILE_RESPONSES,
                summary="One published day's feed lines, gzipped ndjson (never changes)")
    async def day_file(day: DayParam, if_none_match: IfNoneMatch = None) -> Response:
        wanted = parse_day(day)
        entry = await published.entry(wanted)
        if entry is None:
            raise HTTPException(404, f"{wanted.isoformat()} is not published")
        etag = f'"{entry["sha256"]}"'
        headers = {"ETag": etag, "Cache-Control": FILE_CACHE,
                   "Content-Disposition": f'attachment; filename="{wanted.isoformat()}.ndjson.gz"',
                   "X-Content-Type-Options": "nosniff"}
        if if_none_match is not None and etag in [
                tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]:
            return Response(status_code=304, headers=headers)
        body = await published.file(entry)
        if body is None:  # the entry is in, its file not yet (a publisher is writing it)
            raise HTTPException(503, "this day's file is being stored; try again shortly",
                                headers={"Retry-After": "5"})
        return Response(body, media_type="application/gzip", headers=headers)

    return router
