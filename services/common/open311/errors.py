"""Every failure on an Open311 route answers in the spec's shape.

`<errors><error><code/><description/></error></errors>` or
`[{"code": …, "description": …}]`, never the JSON API's: 404 for what does not
exist (service_code, request, token, jurisdiction_id, a format other than
`.xml` or `.json`), 403 for a missing or bad api_key, 400 for anything else
that cannot be fulfilled, each with a description naming the parameter and
what is wrong (405 with Allow for a method a path does not take, and 429 with
Retry-After for too many requests, keep their own codes). A store or broker
outage is the spec's "general service error": 400, with Retry-After.

Routes get this by being declared with `route_class=Open311Route`; paths under
`/open311/` that match no route get it from the app's handlers
(`services/common/http.py` calls `error_for`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.casestreams import ConcurrentChange
from services.common.open311 import BASE_PATH
from services.common.open311.formats import Format, answer, format_in_path, requested_format
from services.common.store import RETRY_AFTER_S, store_trouble
from services.lifecycle.errors import NotAllowed, NotFound, Refused

UNAVAILABLE: tuple[type[Exception], ...] = (KafkaError, TimeoutError)
"""The broker away (the store's troubles are told by `store_trouble`)."""


class Open311Error(Exception):
    """A request an Open311 route cannot fulfil: the HTTP status and what was wrong.

    Several descriptions become several `<error>` entries with the same code.
    """

    def __init__(self, status: int, *descriptions: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = descriptions or ("the request cannot be fulfilled",)
        self.headers = dict(headers or {})

    def body(self) -> list[dict[str, Any]]:
        return [{"code": self.status, "description": d} for d in self.descriptions]

    def response(self, fmt: Format) -> Response:
        return answer(fmt, "errors", self.body(), status=self.status, headers=self.headers)


def not_found(description: str) -> Open311Error:
    return Open311Error(404, description)


def forbidden(description: str) -> Open311Error:
    return Open311Error(403, description)


def bad_request(*descriptions: str) -> Open311Error:
    return Open311Error(400, *descriptions)


def as_open311_error(error: Exception) -> Open311Error | None:
    """What an exception raised while serving an Open311 route answers; None for a bug."""
    if isinstance(error, Open311Error):
        return error
    if isinstance(error, RequestValidationError):
        problems = []
        for item in error.errors():
            loc = [str(part) for part in item.get("loc", ()) if part not in ("query", "path",
                                                                             "body", "header")]
            message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{'.'.join(loc) or 'request'}: {message}")
        return bad_request(*problems)
    if isinstance(error, NotFound):
        return not_found(error.reason)
    if isinstance(error, NotAllowed):
        return forbidden(error.reason)
    if isinstance(error, Refused | ConcurrentChange):
        return bad_request(error.reason)
    trouble = store_trouble(error)  # away, busy, out of disk space
    if trouble is not None:
        return Open311Error(400, trouble.reason,
                            headers={"Retry-After": str(trouble.retry_after_s)})
    if isinstance(error, StarletteHTTPException):
        headers = dict(error.headers or {})
        headers.pop("WWW-Authenticate", None)
        return Open311Error(_spec_status(error.status_code), str(error.detail), headers=headers)
    if isinstance(error, UNAVAILABLE):
        return Open311Error(400, "the service cannot record or read this right now; "
                                 "try again shortly", headers={"Retry-After": str(RETRY_AFTER_S)})
    return None


def _spec_status(status: int) -> int:
    """The spec knows 404 (does not exist), 403 (api_key) and 400 (anything else);
    429 (too many, with Retry-After) is kept so that a client knows to wait."""
    if status in (401, 403):
        return 403
    if status in (404, 405, 429):
        return status
    return 400


def is_open311_path(path: str) -> bool:
    return path == BASE_PATH or path.startswith(BASE_PATH + "/")


def error_for(path: str, error: Exception) -> Response | None:
    """The spec's error answer for `error` raised at `path`, or None (not ours, or a bug)."""
    if not is_open311_path(path):
        return None
    if isinstance(error, StarletteHTTPException) and error.status_code == 404:
        error = not_found(f"{path} does not exist here; see {BASE_PATH}/discovery.xml")
    elif isinstance(error, StarletteHTTPException) and error.status_code == 405:
        error = Open311Error(405, f"{path} does not take this method",
                             headers=dict(error.headers or {}))
    converted = as_open311_error(error)
    return converted.response(format_in_path(path)) if converted else None


class Open311Route(APIRoute):
    """A route whose failures answer in the spec's error format, in the URL's format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answer_or_explain(request: Request) -> Response:
            try:
                return await handle(request)
            except Exception as error:
                converted = as_open311_error(error)
                if converted is None:
                    raise
                return converted.response(requested_format(request))

        return answer_or_explain
