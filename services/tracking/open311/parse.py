"""What a `GET requests` asks (`read_query`), checked; what cannot be answered is an
Open311 error.

`service_request_id` (comma list) overrides every other filter; otherwise
`service_code` and `status` (comma lists or repeated), and
`requested_datetime` between `start_date` and `end_date`: with neither, the 90
days up to now; with one, the 90 days after the start or before the end; both
may span at most 90 days (400 otherwise). Newest first, at most 1,000
(`TimelineStore.newest`). An empty parameter is one not sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.common.catalogue import CityConfig
from services.common.open311 import MAX_REQUESTS
from services.common.open311.errors import bad_request, not_found
from services.common.open311.params import comma_list, parse_w3c, single
from services.tracking.open311.format import STATUSES

WINDOW = timedelta(days=90)
_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def is_request_id(text: str) -> bool:
    """Whether `text` can be a case number at all (anything else is not looked up)."""
    return _CASE_ID.match(text) is not None


@dataclass(frozen=True)
class RequestQuery:
    """What `GET requests` asks for; `ids` overrides everything else."""

    ids: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()

    def selector(self) -> dict[str, Any]:
        """The query on tracking's case documents (`services/tracking/store.py`)."""
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
        bad = [i for i in ids if not is_request_id(i)]
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
