"""The cases on a map (`/api/cases/map`) show the exact point of a public place only: a case
whose category's address is private is counted in its district, never placed, and its point
is in no public answer; staff see their own open cases. On the public entry, on the real
stack."""

from __future__ import annotations

from typing import Any

import httpx
from helpers import eventually
from security.public_entry import DEPARTMENT_A, OFFICER, client, ok, public_entry, submit

from services.common.settings import CommonSettings

# Points no other case of the test has: their digits would show in any answer that leaked them.
HOME = (34.812345, 113.671234)     # a flat with no water: a private place (category water)
LIGHTS = (34.756789, 113.654321)   # a dark traffic light at a crossing: a public place
ROADS = (34.790123, 113.640987)    # a pothole: public too, another district
SIGNALS: dict[str, Any] = {"category": "traffic-signals", "attributes": {"signal_state": "dark"},
                           "description": "路口的红绿灯全部不亮，车辆通行很危险。"}


def located(point: tuple[float, float], district: str, street: str) -> dict[str, Any]:
    return {"district": district, "street": street, "lat": point[0], "lon": point[1]}


def placed(answer: dict[str, Any]) -> dict[str, list[float]]:
    return {f["properties"]["case_id"]: f["geometry"]["coordinates"] for f in answer["features"]}


def mentions(text: str, point: tuple[float, float]) -> bool:
    return any(f"{value:.6f}".rstrip("0")[:9] in text for value in point)


async def test_only_public_places_are_points_on_the_public_map(settings: CommonSettings) -> None:
    async with public_entry(settings) as app, client(app) as http:
        home = await submit(http, location={**located(HOME, "jinshui", "花园路"),
                                            "address": "金水区花园路88号院3号楼2单元502室"})
        lights = await submit(http, **SIGNALS, location=located(LIGHTS, "jinshui", "沙口路"))
        roads = await submit(http, category="roads", description="人民路上有个大坑，很危险。",
                             location=located(ROADS, "erqi", "人民路"))

        async def all_three() -> dict[str, Any] | None:
            answer = await ok(await http.get("/api/cases/map"))
            return answer if answer["total"] == 3 and len(answer["features"]) == 2 else None

        city = await eventually(all_three, what="the three cases on the map")
        assert placed(city) == {lights.case_id: [LIGHTS[1], LIGHTS[0]],
                                roads.case_id: [ROADS[1], ROADS[0]]}
        assert city["placed"] == 2 and city["truncated"] is False
        # the private one: counted in its district, at the district's centre, nothing more
        assert city["elsewhere"] == [{"district": "jinshui", "name": "金水区",
                                      "center": [34.8, 113.66], "count": 1}]

        answers: dict[str, str] = {}
        for query in ("", "?category=water", "?district=jinshui", "?status=submitted",
                      "?lang=en", f"?bbox={HOME[1] - 0.001},{HOME[0] - 0.001},"
                                  f"{HOME[1] + 0.001},{HOME[0] + 0.001}"):
            answer = await http.get(f"/api/cases/map{query}")
            assert answer.status_code == 200, answer.text
            answers[query] = answer.text
            assert home.case_id not in answer.text, query
            assert not mentions(answer.text, HOME), query
        water = (await http.get("/api/cases/map?category=water")).json()
        assert water["features"] == [] and water["elsewhere"][0]["count"] == 1
        around_home = (await http.get(f"/api/cases/map?bbox={HOME[1] - 0.001},{HOME[0] - 0.001},"
                                      f"{HOME[1] + 0.001},{HOME[0] + 0.001}")).json()
        assert around_home["features"] == []
        # the filters narrow the points as they narrow the list
        signals = (await http.get("/api/cases/map?category=traffic-signals")).json()
        assert list(placed(signals)) == [lights.case_id]
        erqi = (await http.get("/api/cases/map?district=erqi&lang=en")).json()
        assert list(placed(erqi)) == [roads.case_id]
        assert erqi["features"][0]["properties"]["district_name"] == "Erqi"
        assert (await http.get("/api/cases/map?status=closed")).json()["features"] == []

        # the resident and staff who handle the case do have the point (sealed, opened for them)
        own = await ok(await http.get(f"/api/cases/{home.case_id}/private",
                                      headers={"X-Tracking-Code": home.code}))
        assert (own["location"]["lat"], own["location"]["lon"]) == HOME


async def test_staff_see_their_open_cases_on_a_map(settings: CommonSettings) -> None:
    async with public_entry(settings) as app, client(app) as http:
        lights = await submit(http, **SIGNALS, location=located(LIGHTS, "jinshui", "沙口路"))
        home = await submit(http, location=located(HOME, "jinshui", "花园路"))

        async def both() -> dict[str, Any] | None:
            answer = await ok(await http.get("/api/staff/cases/map", headers=OFFICER))
            return answer if answer["total"] == 2 else None

        officer = await eventually(both, what="the two open cases on the officer's map")
        assert list(placed(officer)) == [lights.case_id]
        # a private place's point stays sealed: the map counts the case, the details show it
        assert officer["elsewhere"][0]["count"] == 1 and not mentions(str(officer), HOME)
        # a department sees only the cases it leads or assists: none of these is routed yet
        water_co = await ok(await http.get("/api/staff/cases/map", headers=DEPARTMENT_A))
        assert water_co["features"] == [] and water_co["total"] == 0
        refused = await http.get("/api/staff/cases/map", headers=DEPARTMENT_A,
                                 params={"department": "signal-co"})
        assert refused.status_code == 403
        assert (await http.get("/api/staff/cases/map")).status_code == 401
        assert home.case_id not in (await http.get("/api/cases/map")).text


async def test_a_bad_box_is_refused_naming_it(settings: CommonSettings) -> None:
    async with public_entry(settings) as app, client(app) as http:
        for bbox in ("1,2,3", "a,b,c,d", "114,35,113,34", "nan,34,114,35"):
            answer: httpx.Response = await http.get("/api/cases/map", params={"bbox": bbox})
            assert answer.status_code == 422, (bbox, answer.text)
            assert "bbox" in answer.text
        assert (await http.get("/api/cases/map", params={"limit": 5000})).status_code == 422
