"""Reading an Open311 request's parameters; what cannot be read is an Open311 error.

The spec: an empty optional parameter is the same as one not sent. A parameter
is given once (`single`) or as a comma-delimited and repeatable list
(`comma_list`). `jurisdiction_id` is optional: a deployment serving one
jurisdiction needs none, and when one is configured a different one is a 404.
`lang` is zaiban's extension (`services/common/i18n.py` negotiates it with
Accept-Language).

Dates are W3C date-times (a profile of ISO 8601) and must carry a time zone:
`2026-10-06T09:12:00+08:00` or `…Z`. A date without one is refused, since it
could mean any of 24 hours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from fastapi import Request

from services.common.catalogue import Language
from services.common.i18n import UnknownLanguage
from services.common.i18n import pick_language as negotiated_language
from services.common.open311.errors import bad_request, not_found
from services.common.open311.formats import CONTENT_TYPES, Format

Params = dict[str, list[str]]
"""Every value of every parameter, by name, in the order sent."""


def format_of(fmt: str) -> Format:
    """The format named by a URL's extension; any other extension is a 404."""
    lowered = fmt.lower()
    if lowered not in CONTENT_TYPES:
        raise not_found(f"no such format {fmt!r}: ask for .xml or .json")
    return lowered


def query_params(request: Request) -> Params:
    params: Params = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


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


def pick_language(lang: str | None, accept_language: str | None) -> Language:
    """`lang` (an extension parameter) if given, else Accept-Language, else zh-Hans."""
    try:
        return negotiated_language(optional(lang), accept_language)
    except UnknownLanguage as error:
        raise bad_request(f"lang: {error}") from None


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
