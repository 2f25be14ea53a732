"""How every Open311 answer is written: the spec's XML or JSON, and its date-times.

The format is the extension of the URL: `.xml` (the spec's required format) or
`.json` (reading it: `params.format_of`). JSON follows the spec's mapping of the
XML (the "Spark convention"): a list is a top-level array,
`<services><service>…` becomes `[{…}]`.

Dates are W3C date-times (a profile of ISO 8601), written in the city's time
zone to the second: `2026-10-06T09:12:00+08:00`.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Literal

from fastapi import Request, Response

Format = Literal["xml", "json"]
CONTENT_TYPES: dict[Format, str] = {
    "xml": "text/xml; charset=utf-8",
    "json": "application/json; charset=utf-8",
}

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

_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def format_in_path(path: str) -> Format:
    """The format a path asks for (its extension); XML, the required one, if none."""
    extension = path.rsplit("/", 1)[-1].rpartition(".")[2].lower()
    return "json" if extension == "json" else "xml"


def requested_format(request: Request) -> Format:
    """The format a request asked for, even one that failed before its route read it."""
    given = str(request.path_params.get("fmt", "")).lower()
    if given in CONTENT_TYPES:
        return given
    return format_in_path(request.url.path)


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


def w3c(moment: datetime | None, zone: tzinfo) -> str | None:
    """A moment as the spec writes it, in the city's time zone, to the second."""
    if moment is None:
        return None
    return moment.astimezone(zone).replace(microsecond=0).isoformat()
