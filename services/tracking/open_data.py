"""The public case list as open data: `GET /open-data/cases.csv`, one row per case.

What a row holds is what the public list shows of a case (`render.summary`): its public
facts, the names of its category, district and department in the asked language, and the
street (or landmark) of its place, which is public for every category (`render.
public_location`). Never the resident's name, phone or email, the exact address or the
point (not even a public place's: the street says where, the map shows the point), the
tracking code, the description, nor who handles the case (staff ids are staff's personal
data).

The file is for spreadsheets first: UTF-8 with a byte-order mark (Excel then reads the
Chinese names), RFC 4180 quoting, CRLF line ends, a header row. A cell a spreadsheet would
take for a formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return: only a
street typed by a resident can) is written with a leading `'`, as OWASP advises.

The whole city's cases (the article's 30,148) are streamed: read from the store a batch at
a time (`TimelineStore.each`, in case number order, which is submission-day order) and sent
as each batch is written; the answer is never held whole in memory.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures.

import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from contracts.facts import Channel
from services.common.catalogue import CityConfig, Language
from services.common.cityconfig import LiveCity
from services.tracking.api import Code, Statuses
from services.tracking.feed_routes import FeedLang, feed_language
from services.tracking.messages import message
from services.tracking.render import (
    category_name,
    department_name,
    district_name,
    public_location,
)
from services.tracking.store import CaseQuery, TimelineStore
from services.tracking.timeline import CaseView

COLUMNS = ("case_id", "category", "category_name", "district", "district_name", "street",
           "channel", "status", "status_name", "department", "department_name", "priority",
           "submitted_at", "accepted_at", "routed_at", "due_at", "first_response_at",
           "resolved_at", "closed_at", "resolved_on_time", "reopened", "merged_into")
"""The columns, in their order; the header row names them so."""

BOM = "\ufeff"
ROWS_PER_CHUNK = 500
"""Rows written and sent together (and read from the store in one batch)."""

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def row_of(view: CaseView, language: Language, city: CityConfig) -> dict[str, str]:
    """One case as a row of the CSV, every value as its cell's text. Pure."""
    facts = view.facts
    place = public_location(view.location, facts.category, city, language)
    values: dict[str, object] = {
        "case_id": view.case_id,
        "category": facts.category,
        "category_name": category_name(city, facts.category, language),
        "district": facts.district,
        "district_name": district_name(city, facts.district, language),
        "street": place.get("street"),
        "channel": facts.channel.value,
        "status": facts.status.value,
        "status_name": message(language, f"status.{facts.status.value}"),
        "department": facts.department,
        "department_name": (department_name(city, facts.department, language)
                            if facts.department else None),
        "priority": facts.priority.value,
        "submitted_at": facts.submitted_at,
        "accepted_at": facts.accepted_at,
        "routed_at": facts.routed_at,
        "due_at": facts.due_at,
        "first_response_at": facts.first_response_at,
        "resolved_at": facts.resolved_at,
        "closed_at": facts.closed_at,
        "resolved_on_time": facts.resolved_on_time,
        "reopened": facts.reopened,
        "merged_into": facts.merged_into,
    }
    return {column: _cell(values[column]) for column in COLUMNS}


def csv_text(rows: Iterable[dict[str, str]], *, header: bool = False) -> str:
    """Rows as CSV text (RFC 4180: quoted where needed, CRLF), the header first if asked."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    writer.writerows([row[column] for column in COLUMNS] for row in rows)
    return out.getvalue()


async def csv_chunks(views: AsyncIterator[CaseView], language: Language,
                     city: CityConfig) -> AsyncIterator[bytes]:
    """The file, a chunk at a time: the byte-order mark and the header, then the rows."""
    yield (BOM + csv_text([], header=True)).encode("utf-8")
    batch: list[dict[str, str]] = []
    async for view in views:
        batch.append(row_of(view, language, city))
        if len(batch) >= ROWS_PER_CHUNK:
            yield csv_text(batch).encode("utf-8")
            batch = []
    if batch:
        yield csv_text(batch).encode("utf-8")


def install_open_data_routes(router: APIRouter, *, store: TimelineStore, city: LiveCity) -> None:

    @router.get("/open-data/cases.csv", tags=["open data"], response_class=StreamingResponse,
                responses={200: {"content": {"text/csv": {}}}},
                summary="The public case list as CSV (UTF-8 with BOM; public fields only)")
    async def cases_csv(
        lang: FeedLang = None,
        status: Statuses = None,
        category: Code = None,
        district: Code = None,
        department: Code = None,
        channel: Annotated[Channel | None, Query()] = None,
    ) -> StreamingResponse:
        language = feed_language(lang)
        query = CaseQuery(statuses=tuple(status or ()), category=category, district=district,
                          department=department,
                          channel=channel.value if channel else None)
        views = store.each(query.filter(), batch=ROWS_PER_CHUNK)
        return StreamingResponse(
            csv_chunks(views, language, city.current), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="zaiban-cases.csv"',
                     "Content-Language": language, "X-Content-Type-Options": "nosniff"})
