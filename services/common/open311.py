"""Open311 GeoReport v2: what every Open311 route shares — formats, errors, dates.

zaiban serves GeoReport v2 (http://wiki.open311.org/GeoReport_v2) under
`/open311/v2`, split between the services that own the data: intake answers
discovery, the service list, service definitions and `POST requests`
(`services/intake/open311.py`); tracking answers `GET requests`, one request
and tokens (`services/tracking/open311.py`). On the public entry they are one
server.

Formats. The format is the extension of the URL: `.xml` (the spec's required
format) or `.json`. JSON follows the spec's mapping of the XML (the "Spark
convention"): a list is a top-level array, `<services><service>…` becomes
`[{…}]`. Any other extension is a resource that does not exist: 404, in XML.

Errors. Every failure on an Open311 route answers in the spec's shape,
`<errors><error><code/><description/></error></errors>` or
`[{"code": …, "description": …}]`, never the JSON API's: 404 for what does
not exist (service_code, request, token, jurisdiction_id), 403 for a missing
or bad api_key, 400 for anything else that cannot be fulfilled, each with a
description naming the parameter and what is wrong (405 with Allow for a
method a path does not take, and 429 with Retry-After for too many requests,
keep their own codes). Routes get this by being declared with
`route_class=Open311Route`; paths under `/open311/` that match no route get it
from the app's handlers (`services/common/http.py`). A store or
broker outage is the spec's "general service error": 400, with Retry-After.

Dates are W3C date-times (a profile of ISO 8601) and must carry a time zone:
`2026-10-06T09:12:00+08:00` or `…Z`. A date without one is refused, since it
could mean any of 24 hours.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime, tzinfo
from typing import Any, Literal

from aiokafka.errors import KafkaError
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pymongo.errors import AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.case import Refused
from services.common.catalogue import Language

BASE_PATH = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"

Format = Literal["xml", "json"]
CONTENT_TYPES: dict[Format, str] = {
    "xml": "text/xml; charset=utf-8",
    "json": "application/json; charset=utf-8",
}

MAX_REQUESTS = 1000
"""At most this many requests answer one query (the spec's response volume)."""

# In XML a list is an element whose children are named after one of its items.
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}

RETRY_AFTER_S = "5"
UNAVAILABLE: tuple[type[Exception], ...] = (
    KafkaError, ServerSelectionTimeoutError, AutoReconnect, ConnectionFailure, TimeoutError,
)


# --- errors ------------------------------------------------------------------------------


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
    if isinstance(error, Refused):
        retry = {"Retry-After": RETRY_AFTER_S} if error.status == 503 else {}
        return Open311Error(_spec_status(error.status), error.reason, headers=retry)
    if isinstance(error, StarletteHTTPException):
        headers = dict(error.headers or {})
        headers.pop("WWW-Authenticate", None)
        return Open311Error(_spec_status(error.status_code), str(error.detail), headers=headers)
    if isinstance(error, UNAVAILABLE):
        return Open311Error(400, "the service cannot record or read this right now; "
                                 "try again shortly", headers={"Retry-After": RETRY_AFTER_S})
    return None


def _spec_status(status: int) -> int:
    """The spec knows 404 (does not exist), 403 (api_key) and 400 (anything else);
    429 (too many, with Retry-After) is kept so that a client knows to wait."""
    if status in (401, 403):
        return 403
    if status in (404, 405, 429):
        return status
    return 400


def format_in_path(path: str) -> Format:
    """The format a path asks for (its extension); XML, the required one, if none."""
    extension = path.rsplit("/", 1)[-1].rpartition(".")[2].lower()
    return "json" if extension == "json" else "xml"


def requested_format(request: Request) -> Format:
    given = str(request.path_params.get("fmt", "")).lower()
    if given in CONTENT_TYPES:
        return given
    return format_in_path(request.url.path)


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


# --- formats -----------------------------------------------------------------------------


def format_of(fmt: str) -> Format:
    """The format named by a URL's extension; any other extension is a 404."""
    lowered = fmt.lower()
    if lowered not in CONTENT_TYPES:
        raise not_found(f"no such format {fmt!r}: ask for .xml or .json")
    return lowered


_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_IN_XML.sub("", str(value))


def _fill(element: ET.Element, value: object) -> None:
    if isinstance(value, Mapping):
        for name, child in value.items():
            _fill(ET.SubElement(element, str(name)), child)
    elif isinstance(value, list | tuple):
        item = ITEM_NAMES.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, item), child)
    else:
        element.text = _text(value)


def to_xml(root: str, value: object) -> bytes:
    """`value` as the spec's XML under `root`; None is an empty element."""
    element = ET.Element(root)
    _fill(element, value)
    body = ET.tostring(element, encoding="unicode", short_empty_elements=True)
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode()


def to_json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def answer(fmt: Format, root: str, value: object, *, status: int = 200,
           headers: Mapping[str, str] | None = None) -> Response:
    """An Open311 answer: `value` (a list or an object) under `root` in XML, bare in JSON."""
    body = to_xml(root, value) if fmt == "xml" else to_json(value)
    return Response(body, status_code=status, media_type=CONTENT_TYPES[fmt],
                    headers=dict(headers or {}))


# --- parameters --------------------------------------------------------------------------


def optional(value: str | None) -> str | None:
    """The spec: an empty optional parameter is the same as one not sent."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def comma_list(values: list[str]) -> list[str]:
    """A parameter that may be repeated and comma-delimited, as one list (empties dropped)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def single(params: Mapping[str, list[str]], name: str) -> str | None:
    """A parameter that may be given once (empty counts as absent)."""
    given = [v for v in params.get(name, []) if optional(v) is not None]
    if len(given) > 1:
        raise bad_request(f"{name}: given {len(given)} times; give it once")
    return optional(given[0]) if given else None


def check_jurisdiction(configured: str | None, given: str | None) -> None:
    """A configured jurisdiction_id is checked; one serving a single jurisdiction needs none."""
    given = optional(given)
    if configured and given is not None and given.lower() != configured.lower():
        raise not_found(f"jurisdiction_id {given!r} not found: this endpoint serves "
                        f"{configured!r}")


_LANGUAGE_TAGS: dict[str, Language] = {
    "zh-hans": "zh-Hans", "zh-cn": "zh-Hans", "zh-sg": "zh-Hans", "zh": "zh-Hans",
    "zh-hant": "zh-Hant", "zh-tw": "zh-Hant", "zh-hk": "zh-Hant", "zh-mo": "zh-Hant",
    "en": "en",
}


def _language_of_tag(tag: str) -> Language | None:
    parts = tag.strip().lower().replace("_", "-").split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] != "zh":
        return None
    for part in parts[1:]:
        if f"zh-{part}" in _LANGUAGE_TAGS:
            return _LANGUAGE_TAGS[f"zh-{part}"]
    return "zh-Hans"


def pick_language(lang: str | None, accept_language: str | None) -> Language:
    """`lang` (an extension parameter) if given, else Accept-Language, else zh-Hans."""
    lang = optional(lang)
    if lang is not None:
        chosen = _language_of_tag(lang)
        if chosen is None:
            raise bad_request(f"lang: unknown language {lang!r}; use zh-Hans, zh-Hant or en")
        return chosen
    best: tuple[float, int, Language] | None = None
    for index, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.partition(";")
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        language = _language_of_tag(tag) if tag.strip() else None
        if language and quality > 0 and (best is None or (-quality, index) < best[:2]):
            best = (-quality, index, language)
    return best[2] if best else "zh-Hans"


# --- dates -------------------------------------------------------------------------------

_W3C = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?P<zone>Z|[+-]\d{2}:\d{2})$")
_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
EXAMPLE_DATE = "2026-10-06T00:00:00+08:00"


def parse_w3c(name: str, text: str) -> datetime:
    """A W3C date-time with a time zone; anything else is a 400 naming the parameter."""
    value = text.strip()
    # A '+' sent unencoded in a query string arrives as a space: "…T00:00:00 08:00".
    if len(value) > 6 and value[-6] == " " and value[-5:-3].isdigit() and value[-3] == ":":
        value = f"{value[:-6]}+{value[-5:]}"
    if _W3C.match(value) is None:
        if _NAIVE.match(value):
            raise bad_request(f"{name}: {text!r} has no time zone; add Z or an offset, "
                              f"e.g. {EXAMPLE_DATE}")
        raise bad_request(f"{name}: {text!r} is not a W3C date-time, e.g. {EXAMPLE_DATE}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise bad_request(f"{name}: {text!r} is not a real date-time ({error})") from error


def w3c(moment: datetime | None, zone: tzinfo) -> str | None:
    """A moment as the spec writes it, in the city's time zone, to the second."""
    if moment is None:
        return None
    return moment.astimezone(zone).replace(microsecond=0).isoformat()
