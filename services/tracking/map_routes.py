"""The cases on a map: GeoJSON points for the public list, the dashboard and the staff console.

What a point may show follows the case page (`render.public_location`): the public sees the
exact point of a case only when its category's address is public (`address_public` in the
catalogue, read now, so a category made private leaves the map at once). A case whose place
is private is never a point on the public map: it is only counted in its district
(`elsewhere`, with the district's centre from the catalogue), as the figures count it. Its
point is not even in the read model to leak: intake seals it with the resident's other
personal data (`lifecycle/submitting.py`), and only the point of a public place is kept in
clear (`store.point_of`).

Staff see their open cases (a department: the ones it leads or assists) with every point the
read model holds; a private place's point stays sealed there, since opening it is a read of
the resident's personal data, audited case by case on the case's own page
(`GET /api/staff/cases/{id}`), not something to do for a whole map.

An answer holds at most `limit` points (`MAX_POINTS`), the newest submitted first, and says
how many more the box holds (`placed`, `truncated`): narrow the box (`bbox`) or the filters.
Points are WGS84 (RFC 7946); a page drawing them on GCJ-02 tiles converts them (`geo.js`).
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at definition
# time, and the staff dependency is a local of `install_map_routes`.

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from contracts.facts import CaseStatus, Role
from services.common.auth import Principal, TokenCheck, staff_guard
from services.common.catalogue import Bounds, CityConfig, Language
from services.common.cityconfig import LiveCity
from services.tracking.api import Code, ReaderLanguage, Statuses, scope_department
from services.tracking.messages import message
from services.tracking.render import category_name, district_name
from services.tracking.store import CaseQuery, TimelineStore
from services.tracking.timeline import CaseView

MAX_POINTS = 1000
BboxParam = Annotated[str | None, Query(
    max_length=100, description="min_lon,min_lat,max_lon,max_lat (WGS84); default: the city.")]
PointLimit = Annotated[int, Query(ge=1, le=MAX_POINTS, description=f"At most {MAX_POINTS}.")]


def parse_bbox(text: str | None, city: CityConfig) -> Bounds:
    """The box asked for, within the city's bounds (a point outside them is never recorded)."""
    bounds = city.city.bounds
    if text is None:
        return bounds
    try:
        min_lon, min_lat, max_lon, max_lat = (float(part) for part in text.split(","))
    except ValueError as error:
        raise HTTPException(422, "bbox: four numbers, min_lon,min_lat,max_lon,max_lat") from error
    if not (min_lon <= max_lon and min_lat <= max_lat):
        raise HTTPException(422, "bbox: min_lon,min_lat,max_lon,max_lat, each min at most its max")
    return Bounds(min_lat=max(min_lat, bounds.min_lat), max_lat=min(max_lat, bounds.max_lat),
                  min_lon=max(min_lon, bounds.min_lon), max_lon=min(max_lon, bounds.max_lon))


def in_box(box: Bounds) -> dict[str, Any]:
    """A filter on the points in `box` (which also leaves out the cases without one)."""
    return {"lat": {"$gte": box.min_lat, "$lte": box.max_lat},
            "lon": {"$gte": box.min_lon, "$lte": box.max_lon}}


def public_places(city: CityConfig) -> dict[str, Any]:
    """A filter on the cases whose category's address is public."""
    return {"category": {"$in": [c.code for c in city.categories if c.address_public]}}


def both(*filters: dict[str, Any]) -> dict[str, Any]:
    return {"$and": [f for f in filters if f]}


def feature(view: CaseView, language: Language, city: CityConfig) -> dict[str, Any]:
    """A case as a GeoJSON point: what its row in the public list shows, no more."""
    location = view.location
    assert location is not None and location.lat is not None and location.lon is not None
    facts = view.facts
    entry = city.category(facts.category)
    return {
        "type": "Feature",
        "id": view.case_id,
        "geometry": {"type": "Point", "coordinates": [location.lon, location.lat]},
        "properties": {
            "case_id": view.case_id,
            "category": facts.category,
            "category_name": category_name(city, facts.category, language),
            "icon": entry.icon if entry else "",
            "status": facts.status.value,
            "status_name": message(language, f"status.{facts.status.value}"),
            "district": facts.district,
            "district_name": district_name(city, facts.district, language),
            "street": location.street,
            "submitted_at": facts.submitted_at.isoformat(),
        },
    }


def elsewhere(counts: dict[str, int], placed: dict[str, int], city: CityConfig,
              language: Language) -> list[dict[str, Any]]:
    """The cases not on the map, counted by district (at its centre)."""
    rows = []
    for district in city.districts:
        n = counts.get(district.code, 0) - placed.get(district.code, 0)
        if n > 0:
            rows.append({"district": district.code,
                         "name": district_name(city, district.code, language),
                         "center": list(district.center), "count": n})
    return rows


async def cases_on_map(store: TimelineStore, city: CityConfig, language: Language,
                       query: CaseQuery, box: Bounds, *, public: bool,
                       limit: int) -> dict[str, Any]:
    """A FeatureCollection of the cases `query` finds with a point in `box` (for the public:
    public places only), and how many it found without one, by district."""
    matching = query.filter()
    shown = both(matching, in_box(box), public_places(city) if public else {})
    placed_total = store.count_matching(shown)
    views = await store.newest(shown, limit=limit)
    counts = store.count_by_district(matching)
    placed = store.count_by_district(shown)
    features = [feature(v, language, city) for v in views if v.location is not None
                and v.location.lat is not None and v.location.lon is not None]
    return {
        "type": "FeatureCollection",
        "features": features,
        "placed": placed_total,
        "truncated": placed_total > len(features),
        "total": sum(counts.values()),
        "elsewhere": elsewhere(counts, placed, city, language),
    }


@dataclass(frozen=True)
class MapAsked:
    """What a map asks for: the list's filters, a box, how many points at most."""

    statuses: tuple[CaseStatus, ...]
    category: str | None
    district: str | None
    department: str | None
    bbox: str | None
    limit: int


async def map_asked(status: Statuses = None, category: Code = None, district: Code = None,
                    department: Code = None, bbox: BboxParam = None,
                    limit: PointLimit = 500) -> MapAsked:
    return MapAsked(tuple(status or ()), category, district, department, bbox, limit)


Asked = Annotated[MapAsked, Depends(map_asked)]


def install_map_routes(router: APIRouter, *, store: TimelineStore, city: LiveCity,
                       tokens: TokenCheck) -> None:
    """Installed before `api.install_routes`, whose `/api/cases/{case_id}` would take `map`."""
    any_staff = staff_guard(tokens)(Role.OFFICER, Role.SUPERVISOR, Role.REPORTER,
                                    Role.DEPARTMENT)

    @router.get("/api/cases/map", tags=["tracking"],
                summary="The public cases on a map (GeoJSON): points of public places only")
    async def public_map(language: ReaderLanguage, asked: Asked) -> dict[str, Any]:
        query = CaseQuery(statuses=asked.statuses, category=asked.category,
                          district=asked.district, department=asked.department)
        running = city.current
        return await cases_on_map(store, running, language, query,
                                  parse_bbox(asked.bbox, running),
                                  public=True, limit=asked.limit)

    @router.get("/api/staff/cases/map", tags=["staff"],
                summary="Staff's open cases on a map (GeoJSON; a department: its own)")
    async def staff_map(language: ReaderLanguage, asked: Asked,
                        principal: Annotated[Principal, Depends(any_staff)]) -> dict[str, Any]:
        department, involving = scope_department(principal, asked.department)
        query = CaseQuery(statuses=asked.statuses, category=asked.category,
                          district=asked.district, department=department, involving=involving,
                          open=True, staff=True)
        running = city.current
        return await cases_on_map(store, running, language, query,
                                  parse_bbox(asked.bbox, running),
                                  public=False, limit=asked.limit)
