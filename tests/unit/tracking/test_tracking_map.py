"""What the maps may show of a case (`services/tracking/map_routes.py`): a public place's
point, with what its row in the list shows; a private place's point is not even in the read
model's clear fields; the public map asks only for categories whose address is public."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from unit.tracking.tracking_stories import (
    CITY,
    accepted,
    day,
    project,
    reference_case,
    submitted,
    water_case,
)

from contracts.facts import Priority
from services.lifecycle.history import History
from services.tracking.map_routes import elsewhere, feature, parse_bbox, public_places
from services.tracking.store import point_of, row_fields


def test_a_public_places_point_is_kept_for_the_maps_a_private_ones_is_not() -> None:
    signals = project(reference_case())
    assert point_of(signals) == {"lat": 34.7995, "lon": 113.639}
    assert (row_fields(signals)["lat"], row_fields(signals)["lon"]) == (34.7995, 113.639)
    water = project(water_case())
    assert point_of(water) == {} and "lat" not in row_fields(water)


def test_the_public_map_asks_only_for_the_categories_whose_address_is_public() -> None:
    asked = public_places(CITY)["category"]["$in"]
    assert set(asked) == {c.code for c in CITY.categories if c.address_public}
    assert "traffic-signals" in asked and "water" not in asked
    # a case an officer moved to a private category keeps its point in the read model (the
    # log had it in clear), and the public map leaves it off by its category, read now
    case_id = "ZB261006-CORR-0009"
    corrected = project(History(case_id).given(day("10-06", 9, 12), submitted(case_id)).given(
        day("10-06", 11), accepted(category="water", priority=Priority.UTILITIES)))
    assert "lat" in row_fields(corrected) and row_fields(corrected)["category"] not in asked


def test_a_point_on_the_map_says_what_the_list_says_and_nothing_personal() -> None:
    shown = feature(project(reference_case()), "en", CITY)
    assert shown["geometry"] == {"type": "Point", "coordinates": [113.639, 34.7995]}
    assert set(shown["properties"]) == {"case_id", "category", "category_name", "icon", "status",
                                        "status_name", "district", "district_name", "street",
                                        "submitted_at"}
    assert shown["properties"]["category_name"] == "Traffic signals"


def test_a_box_is_kept_within_the_city_and_a_bad_one_refused_naming_it() -> None:
    bounds = CITY.city.bounds
    assert parse_bbox(None, CITY) == bounds
    clipped = parse_bbox("100,20,113.7,34.8", CITY)
    assert (clipped.min_lon, clipped.min_lat) == (bounds.min_lon, bounds.min_lat)
    assert (clipped.max_lon, clipped.max_lat) == (113.7, 34.8)
    for bad in ("1,2,3", "a,b,c,d", "114,35,113,34", "nan,34,114,35"):
        with pytest.raises(HTTPException) as refused:
            parse_bbox(bad, CITY)
        assert refused.value.status_code == 422 and "bbox" in str(refused.value.detail)


def test_the_cases_off_the_map_are_counted_by_district() -> None:
    rows = elsewhere({"jinshui": 5, "erqi": 2, "zhongyuan": 1}, {"jinshui": 3, "erqi": 2},
                     CITY, "en")
    assert [(r["district"], r["count"]) for r in rows] == [("zhongyuan", 1), ("jinshui", 2)]
    assert rows[1]["name"] == "Jinshui"
