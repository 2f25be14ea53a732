"""Tracking's Open311 routes: `GET requests`, `GET requests/{id}`, `GET tokens/{token}`.

Each reads its parameters (`parse.py`, `services/common/open311/params.py`),
reads the timeline store, and answers the cases as GeoReport requests
(`format.py`) in the URL's format; every failure answers in the spec's error
shape (`Open311Route`).

Tokens: POST answers the service_request_id at once, so it hands out no
token; a client that asks `GET tokens/{token}` anyway may use the case
number as the token, and the answer maps it to itself once the case is in the
read model (404 before, and for anything else). A resident's tracking code is
never a token: it opens their private view and stays theirs.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures.

from collections import OrderedDict
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from services.common.catalogue import Language
from services.common.cityconfig import LiveCity
from services.common.clock import Clock
from services.common.open311 import BASE_PATH, MAX_REQUESTS
from services.common.open311.errors import Open311Route, not_found
from services.common.open311.formats import answer
from services.common.open311.params import (
    check_jurisdiction,
    format_of,
    pick_language,
    query_params,
    single,
)
from services.tracking.open311.format import request_row
from services.tracking.open311.parse import is_request_id, read_query
from services.tracking.settings import TrackingSettings
from services.tracking.store import TimelineStore
from services.tracking.timeline import CaseView

KEPT_ROWS = 4_000
"""Rows of requests kept made (a few hundred bytes each)."""

AcceptLanguage = Annotated[str | None, Header()]
Optional = Annotated[str | None, Query()]


def routes(*, store: TimelineStore, city: LiveCity, settings: TrackingSettings,
           clock: Clock) -> APIRouter:
    router = APIRouter(route_class=Open311Route, tags=["open311"])

    made: OrderedDict[tuple[str, int, str, str, int], dict[str, Any]] = OrderedDict()

    def rows(request: Request, views: list[CaseView], language: Language) -> list[dict[str, Any]]:
        """The rows of `views`, each made once per version of the case, language, address
        and city (masking and naming cost ~80 us a row, and the same windows are asked
        again and again: up to 1,000 rows each)."""
        base = str(request.base_url).rstrip("/")
        found = []
        for view in views:
            key = (view.case_id, view.seq, language, base, city.version)
            row = made.get(key)
            if row is None:
                row = made[key] = request_row(view, city.current, language, base)
                while len(made) > KEPT_ROWS:
                    made.popitem(last=False)
            else:
                made.move_to_end(key)
            found.append(row)
        return found

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
        query = read_query(params, city.current, clock.now())
        views = await store.newest(query.selector(), limit=MAX_REQUESTS)
        return answer(out, "service_requests", rows(request, views, language))

    @router.get(BASE_PATH + "/requests/{service_request_id}.{fmt}",
                summary="Open311: one request")
    async def one_request(request: Request, service_request_id: str, fmt: str,
                          jurisdiction_id: Optional = None, lang: Optional = None,
                          accept_language: AcceptLanguage = None) -> Response:
        out = format_of(fmt)
        check_jurisdiction(settings.open311_jurisdiction, jurisdiction_id)
        language = pick_language(lang, accept_language)
        view = await store.get(service_request_id) if is_request_id(service_request_id) \
            else None
        if view is None:
            raise not_found(f"service_request_id {service_request_id!r} not found")
        return answer(out, "service_requests", rows(request, [view], language))

    @router.get(BASE_PATH + "/tokens/{token}.{fmt}",
                summary="Open311: the request a token stands for")
    async def token_of(token: str, fmt: str, jurisdiction_id: Optional = None) -> Response:
        out = format_of(fmt)
        check_jurisdiction(settings.open311_jurisdiction, jurisdiction_id)
        if not (is_request_id(token) and await store.has(token)):
            raise not_found(f"token {token!r} not found")
        return answer(out, "service_requests", [{"service_request_id": token, "token": token}])

    return router
