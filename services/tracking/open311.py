"""Open311 GeoReport v2, tracking's half: `GET requests`, `GET requests/{id}` and
`GET tokens/{token}`, read from tracking's own timelines (intake answers
discovery, services and `POST requests`).

What a GeoReport request says of a case (`request_row`), and what it never says:

- `status`: `closed` when the case is resolved, closed, rejected or merged —
  the spec's "closed: it has been resolved", and a department's resolution is
  that, even while the resident may still say it did not hold (a reopened case
  is `open` again); `open` for everything before.
- `status_notes`: the latest public note of the timeline, as the timeline
  words it in the reader's language: a resolution, a public progress or
  site-visit note, an acknowledgement's note, the reason of a rejection,
  return or reassignment, a merge, a reopening. Internal notes never.
- `service_name`/`service_code`: the case's current category;
  `agency_responsible`: the name of the department that leads it;
  `service_notice`: the deadline class it is handled in (or, for a duplicate,
  the request to follow instead); `expected_datetime`: its deadline.
- `requested_datetime`: submitted; `updated_datetime`: its latest event; all
  in the city's time zone, to the second.
- `address`: the exact address only where the category's `address_public`
  allows it, else the public street or landmark; then the district. `lat` and
  `long` only where the exact address may be public, else omitted (null in
  JSON, an empty element in XML): a point rounded enough to hide a home says
  little more than the district, and the JSON API shows none either.
  `address_id` and `zipcode` are not kept, so always empty.
- `description` and `media_url` (the first photo, as an absolute URL) as the
  public page shows them. The resident's name, phone, email and a private
  address never appear.

Queries (`read_query`): `service_request_id` (comma list) overrides every
other filter; otherwise `service_code` and `status` (comma lists or
repeated), and `requested_datetime` between `start_date` and `end_date`: with
neither, the 90 days up to now; with one, the 90 days after the start or
before the end; both may span at most 90 days (400 otherwise). Newest first,
at most 1,000. An empty parameter is one not sent.

Tokens: POST answers the service_request_id at once, so it hands out no
token; a client that asks `GET tokens/{token}` anyway may use the case
number as the token, and the answer maps it to itself once the case is in the
read model (404 before, and for anything else). A resident's tracking code is
never a token: it opens their private view and stays theirs.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures.

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Query, Request, Response
from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from contracts.facts import CaseStatus, Location
from services.common.catalogue import CityConfig, Language
from services.common.open311 import (
    BASE_PATH,
    MAX_REQUESTS,
    Open311Route,
    answer,
    bad_request,
    check_jurisdiction,
    comma_list,
    format_of,
    not_found,
    parse_w3c,
    pick_language,
    single,
    w3c,
)
from services.tracking.messages import message
from services.tracking.render import category_name, department_name, district_name, render
from services.tracking.store import view_of
from services.tracking.timeline import CaseView

if TYPE_CHECKING:
    from services.tracking.service import TrackingService

WINDOW = timedelta(days=90)
CLOSED = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED, CaseStatus.REJECTED,
                    CaseStatus.MERGED})
STATUSES: dict[str, tuple[CaseStatus, ...]] = {
    "open": tuple(s for s in CaseStatus if s not in CLOSED),
    "closed": tuple(s for s in CaseStatus if s in CLOSED),
}
_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

# Timeline entries whose public fields explain where the case stands.
NOTE_ENTRIES = frozenset({"CaseRejected", "CaseMerged", "CaseAcknowledged", "CaseReturned",
                          "CaseReassigned", "ProgressNoted", "SiteVisited", "CaseResolved",
                          "CaseReopened"})

NOTICE: dict[Language, str] = {
    "zh-Hans": "按“{priority}”类时限办理",
    "zh-Hant": "按「{priority}」類時限辦理",
    "en": "Handled within the deadline of its priority class ({priority})",
}
DUPLICATE: dict[Language, str] = {
    "zh-Hans": "与请求 {into} 重复，请关注该请求",
    "zh-Hant": "與請求 {into} 重複，請關注該請求",
    "en": "A duplicate of request {into}: follow that one",
}


def open311_status(status: CaseStatus) -> str:
    return "closed" if status in CLOSED else "open"


# --- queries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestQuery:
    """What `GET requests` asks for; `ids` overrides everything else."""

    ids: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()

    def selector(self) -> dict[str, Any]:
        if self.ids:
            return {"_id": {"$in": list(self.ids)}}
        selector: dict[str, Any] = {"submitted_at": {"$gte": self.start, "$lte": self.end}}
        if self.codes:
            selector["category"] = {"$in": list(self.codes)}
        wanted = set(self.statuses)
        if wanted and wanted != set(STATUSES):
            selector["status"] = {"$in": [s.value for name in sorted(wanted)
                                          for s in STATUSES[name]]}
        return selector


def read_query(params: Mapping[str, list[str]], city: CityConfig, now: datetime) -> RequestQuery:
    """The query a `GET requests` asks, checked; what cannot be answered is an Open311 error."""
    ids = comma_list(params.get("service_request_id", []))
    if ids:
        bad = [i for i in ids if not _CASE_ID.match(i)]
        if bad:
            raise bad_request(f"service_request_id: {bad[0]!r} is not a request id")
        if len(ids) > MAX_REQUESTS:
            raise bad_request(f"service_request_id: at most {MAX_REQUESTS:,} ids at once")
        return RequestQuery(ids=tuple(dict.fromkeys(ids)))

    codes = comma_list(params.get("service_code", []))
    for code in codes:
        if city.category(code) is None:
            raise not_found(f"service_code {code!r} not found")
    statuses = [s.lower() for s in comma_list(params.get("status", []))]
    for status in statuses:
        if status not in STATUSES:
            raise bad_request(f"status: {status!r} is not a status; use open or closed")

    start_text, end_text = single(params, "start_date"), single(params, "end_date")
    start = parse_w3c("start_date", start_text) if start_text else None
    end = parse_w3c("end_date", end_text) if end_text else None
    if start is None and end is None:
        start, end = now - WINDOW, now
    elif end is None:
        assert start is not None
        end = start + WINDOW
    elif start is None:
        start = end - WINDOW
    elif end < start:
        raise bad_request("end_date is before start_date")
    elif end - start > WINDOW:
        days = (end - start) / timedelta(days=1)
        raise bad_request(f"start_date to end_date spans {days:.4g} days; at most "
                          f"{WINDOW.days} days may be asked at once")
    return RequestQuery(codes=tuple(dict.fromkeys(codes)), start=start, end=end,
                        statuses=tuple(dict.fromkeys(statuses)))


async def find(collection: AsyncCollection[dict[str, Any]],
               query: RequestQuery) -> list[CaseView]:
    """Newest first, at most MAX_REQUESTS."""
    cursor = (collection.find(query.selector(), projection={"view": 1})
              .sort([("submitted_at", DESCENDING), ("_id", DESCENDING)])
              .limit(MAX_REQUESTS))
    return [view async for doc in cursor if (view := view_of(doc)) is not None]


# --- a case as a GeoReport request -------------------------------------------------------


def status_notes(view: CaseView, language: Language, city: CityConfig) -> str | None:
    """The latest public note, in the timeline's words."""
    for entry in reversed(view.timeline):
        if entry.public and entry.type in NOTE_ENTRIES and (
                entry.type != "CaseAcknowledged" or entry.what.get("note")):
            return render(entry, language, city)
    return None


def service_notice(view: CaseView, language: Language) -> str:
    facts = view.facts
    if facts.status is CaseStatus.MERGED and facts.merged_into:
        return DUPLICATE[language].format(into=facts.merged_into)
    priority = message(language, f"priority.{facts.priority.value}")
    return NOTICE[language].format(priority=priority.lower() if language == "en" else priority)


def public_address(location: Location | None, district: str, exact: bool, city: CityConfig,
                   language: Language) -> str | None:
    """Most specific first: the exact address (where public) or the street, then the district."""
    place = ""
    if location is not None:
        place = location.address if exact and location.address else location.street
    parts = [place, district_name(city, district, language)]
    return ", ".join(p for p in parts if p) or None


def request_row(view: CaseView, city: CityConfig, language: Language,
                base_url: str) -> dict[str, Any]:
    """A case as a GeoReport v2 request: public fields only, in the spec's order."""
    facts = view.facts
    zone = ZoneInfo(city.city.timezone)
    category = city.category(facts.category)
    exact = category is not None and category.address_public
    location = view.location
    point = location if exact and location is not None else None
    photo = view.media[0].url if view.media else None
    return {
        "service_request_id": view.case_id,
        "status": open311_status(facts.status),
        "status_notes": status_notes(view, language, city),
        "service_name": category_name(city, facts.category, language),
        "service_code": facts.category,
        "description": view.description or None,
        "agency_responsible": (department_name(city, facts.department, language)
                               if facts.department else None),
        "service_notice": service_notice(view, language),
        "requested_datetime": w3c(facts.submitted_at, zone),
        "updated_datetime": w3c(view.updated_at or facts.submitted_at, zone),
        "expected_datetime": w3c(facts.due_at, zone),
        "address": public_address(location, facts.district, exact, city, language),
        "address_id": None,
        "zipcode": None,
        "lat": point.lat if point else None,
        "long": point.lon if point else None,
        "media_url": urljoin(base_url + "/", photo) if photo else None,
    }


# --- routes ------------------------------------------------------------------------------

AcceptLanguage = Annotated[str | None, Header()]
Optional = Annotated[str | None, Query()]


def query_params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


def routes(service: "TrackingService") -> APIRouter:
    router = APIRouter(route_class=Open311Route, tags=["open311"])
    store, city, settings, clock = service.store, service.city, service.tracking, service.clock

    def rows(request: Request, views: list[CaseView], language: Language) -> list[dict[str, Any]]:
        base = str(request.base_url).rstrip("/")
        return [request_row(view, city, language, base) for view in views]

    @router.get(BASE_PATH + "/requests.{fmt}", summary="Open311: query requests")
    async def list_requests(
        request: Request, fmt: str,
        service_request_id: Annotated[str | None, Query(
            description="Comma-delimited ids; overrides every other filter.")] = None,
        service_code: Annotated[str | None, Query(description="Comma-delimited.")] = None,
        start_date: Annotated[str | None, Query(description="W3C date-time with a zone.")] = None,
        end_date: Annotated[str | None, Query(description="W3C date-time with a zone.")] = None,
        status: Annotated[str | None, Query(description="open, closed; comma-delimited.")] = None,
        jurisdiction_id: Optional = None, lang: Optional = None,
        accept_language: AcceptLanguage = None,
    ) -> Response:
        out = format_of(fmt)
        params = query_params(request)
        check_jurisdiction(settings.open311_jurisdiction, single(params, "jurisdiction_id"))
        language = pick_language(single(params, "lang"), accept_language)
        query = read_query(params, city, clock.now())
        views = await find(store.collection, query)
        return answer(out, "service_requests", rows(request, views, language))

    @router.get(BASE_PATH + "/requests/{service_request_id}.{fmt}",
                summary="Open311: one request")
    async def one_request(request: Request, service_request_id: str, fmt: str,
                          jurisdiction_id: Optional = None, lang: Optional = None,
                          accept_language: AcceptLanguage = None) -> Response:
        out = format_of(fmt)
        check_jurisdiction(settings.open311_jurisdiction, jurisdiction_id)
        language = pick_language(lang, accept_language)
        view = await store.get(service_request_id) if _CASE_ID.match(service_request_id) \
            else None
        if view is None:
            raise not_found(f"service_request_id {service_request_id!r} not found")
        return answer(out, "service_requests", rows(request, [view], language))

    @router.get(BASE_PATH + "/tokens/{token}.{fmt}",
                summary="Open311: the request a token stands for")
    async def token_of(token: str, fmt: str, jurisdiction_id: Optional = None) -> Response:
        out = format_of(fmt)
        check_jurisdiction(settings.open311_jurisdiction, jurisdiction_id)
        found = await store.collection.find_one({"_id": token}, projection={"_id": 1}) \
            if _CASE_ID.match(token) else None
        if found is None:
            raise not_found(f"token {token!r} not found")
        return answer(out, "service_requests", [{"service_request_id": token, "token": token}])

    return router
