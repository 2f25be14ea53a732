"""How a case is shown as a GeoReport v2 request (`request_row`): public fields only.

What a GeoReport request says of a case, and what it never says:

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
  address never appear; phone numbers, ID card numbers, emails and licence
  plates written into the description or the notes are masked
  (`services/common/masking.py`), as on the public page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from contracts.facts import CaseStatus, Location
from services.common.catalogue import CityConfig, Language
from services.common.masking import mask
from services.common.open311.formats import w3c
from services.tracking.messages import message
from services.tracking.render import (
    category_name,
    department_name,
    district_name,
    masked_entry,
    render,
)
from services.tracking.timeline import CaseView

CLOSED = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED, CaseStatus.REJECTED,
                    CaseStatus.MERGED})
STATUSES: dict[str, tuple[CaseStatus, ...]] = {
    "open": tuple(s for s in CaseStatus if s not in CLOSED),
    "closed": tuple(s for s in CaseStatus if s in CLOSED),
}

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


def status_notes(view: CaseView, language: Language, city: CityConfig) -> str | None:
    """The latest public note, in the timeline's words."""
    for entry in reversed(view.timeline):
        if entry.public and entry.type in NOTE_ENTRIES and (
                entry.type != "CaseAcknowledged" or entry.what.get("note")):
            return render(masked_entry(entry), language, city)
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
        "description": mask(view.description) or None,
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
