"""The maps, as people use them, on tiles from a tile server on loopback that the test starts
(GCJ-02 tiles, as most Chinese cities' maps are: `map_web`; `empty_map_web` for the tests
that count the cases on the city's maps).

A resident picks the place of a dark traffic light on the report form's map: the point sent
is the WGS84 point under the pixel picked, though the tiles are drawn in GCJ-02, and the map
really drew its tiles from the loopback server, where GCJ-02 puts the point (not 550 m off,
where WGS84 would). A case page shows its place on a small map when its category's address is
public, never when it is private. The public list's map clusters the cases and follows the
filters; the dashboard's and the staff console's maps show theirs. Screenshots of each map page
in each language go to artifacts/screenshots/map-<page>-<language>.png.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
from browser.webpages import (
    DESK,
    PHONE,
    Web,
    collect_errors,
    fill_submission,
    sign_in,
    staff_token,
    submit,
    texts,
)
from helpers import eventually
from playwright.async_api import Browser, Page, expect

from contracts.facts import Role
from services.intake.duplicates import distance_m
from zaiban.tiles import TileServer

LANGUAGES = ("zh-Hans", "zh-Hant", "en")
LOCALES = {"zh-Hans": "zh-CN", "zh-Hant": "zh-TW", "en": "en-GB"}
WANGFUFEN = (34.7559, 113.6312)  # the market gate on Shakou Road, WGS84
FAR_OFF = (34.9000, 114.1000)  # a pothole in the north-east, far from the market
JINSHUI = {"zh-Hans": "金水区", "zh-Hant": "金水區", "en": "Jinshui"}
SIGNALS: dict[str, Any] = {"attributes": {"signal_state": "dark"}}  # what their form asks


def tile_of(lat: float, lon: float, zoom: int) -> str:
    """The Web Mercator tile `z/x/y` holding a point (in the tiles' own datum)."""
    n = 2 ** zoom
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return f"{zoom}/{x}/{y}"


async def to_gcj02(page: Page, lat: float, lon: float) -> tuple[float, float]:
    """The point in GCJ-02, by the pages' own geo.js (tests/unit/web/test_gcj02.py checks it)."""
    found = await page.evaluate(
        "async ([lat, lon]) => (await import('/static/geo.js')).wgs84ToGcj02(lat, lon)",
        [lat, lon])
    return float(found[0]), float(found[1])


async def tiles_drawn(page: Page, where: str) -> None:
    """Every tile the map in `where` shows is loaded (before it is photographed)."""
    await expect(page.locator(f"{where} img.leaflet-tile-loaded").first).to_be_attached()
    await expect(page.locator(f"{where} img.leaflet-tile:not(.leaflet-tile-loaded)")
                 ).to_have_count(0)


async def test_a_point_picked_on_gcj02_tiles_is_submitted_in_wgs84(
        map_web: Web, tiles: TileServer, browser: Browser) -> None:
    context = await browser.new_context(locale="zh-CN", **PHONE)
    try:
        page = await context.new_page()
        errors = collect_errors(page)
        await page.goto(map_web.url("/?lang=zh-Hans"))
        await fill_submission(page)
        picker = page.locator("#point-map[data-map=ready]")
        await expect(picker).to_have_count(1)
        # the fields say where the market gate is: the map puts its pin there, in the middle
        await page.fill("#lat", str(WANGFUFEN[0]))
        await page.fill("#lon", str(WANGFUFEN[1]))
        await page.locator("#lon").press("Tab")
        await expect(page.locator("#point-map .leaflet-marker-icon")).to_have_count(1)
        # closer, to street level (the zoom buttons keep the middle where it is)
        for zoom in (16, 17, 18):  # one step at a time: a click while it zooms is dropped
            await page.locator("#point-map .leaflet-control-zoom-in").click()
            await expect(page.locator(f"#point-map .leaflet-tile-loaded[src*='/{zoom}/']").first
                         ).to_be_attached()
            await expect(page.locator("#point-map .leaflet-zoom-anim")).to_have_count(0)
        gcj = await to_gcj02(page, *WANGFUFEN)
        drawn, wgs_tile = tile_of(*gcj, 18), tile_of(*WANGFUFEN, 18)
        assert drawn != wgs_tile  # GCJ-02 moves it ~550 m east: four tiles at this zoom

        async def street_level() -> bool:
            return drawn in tiles.served.paths

        await eventually(street_level, what=f"tile {drawn} fetched from the loopback server")
        assert wgs_tile not in tiles.served.paths

        # the resident clears the fields and picks the spot on the map: the middle of it
        await page.fill("#lat", "")
        await page.fill("#lon", "")
        await page.locator("#lon").press("Tab")
        await expect(page.locator("#point-map .leaflet-marker-icon")).to_have_count(0)
        await page.locator("#point-map").scroll_into_view_if_needed()
        box = await page.locator("#point-map").bounding_box()
        assert box is not None
        await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        await expect(page.locator("#point-map .leaflet-marker-icon")).to_have_count(1)
        lat = float(await page.locator("#lat").input_value())
        lon = float(await page.locator("#lon").input_value())
        assert distance_m(lat, lon, *WANGFUFEN) < 3, (lat, lon)  # a pixel is ~0.5 m here
        case_id, _code = await submit(page)
        assert errors == []
    finally:
        await context.close()

    async with httpx.AsyncClient(base_url=map_web.base_url, timeout=20) as http:
        async def recorded() -> dict[str, Any] | None:
            answer = await http.get(f"/api/cases/{case_id}")
            return answer.json() if answer.status_code == 200 else None

        shown = await eventually(recorded, what="the case on its public page")
    stored = (shown["location"]["lat"], shown["location"]["lon"])
    assert distance_m(*stored, *WANGFUFEN) < 3 and distance_m(*stored, *gcj) > 400


async def a_case(http: httpx.AsyncClient, category: str, point: tuple[float, float],
                 district: str = "zhongyuan", **more: Any) -> str:
    body = {"category": category, "description": "地图上的一个案件，用于测试地图。",
            "location": {"district": district, "street": "沙口路", "lat": point[0],
                         "lon": point[1]}, **more}
    answer = await http.post("/api/cases", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["case_id"])


async def test_a_case_page_shows_its_place_only_when_the_address_is_public(
        map_web: Web, tiles: TileServer, browser: Browser, screenshots: Path) -> None:
    async with httpx.AsyncClient(base_url=map_web.base_url, timeout=20) as http:
        public = await a_case(http, "traffic-signals", WANGFUFEN, **SIGNALS)
        home = await http.post("/api/cases", json={
            "category": "water", "description": "家里停水两天了，水龙头没有水。",
            "location": {"district": "jinshui", "street": "花园路", "lat": 34.8123,
                         "lon": 113.6712, "address": "花园路88号院3号楼502室"}})
        assert home.status_code == 201, home.text
        private, code = home.json()["case_id"], home.json()["tracking_code"]
    for language in LANGUAGES:
        context = await browser.new_context(locale=LOCALES[language], **PHONE)
        try:
            page = await context.new_page()
            errors = collect_errors(page)
            await page.goto(map_web.url(f"/cases/{public}?lang={language}"))
            await expect(page.locator("#case-map .leaflet-marker-icon")).to_have_count(
                1, timeout=20_000)
            await expect(page.locator("#case-map img.leaflet-tile-loaded").first).to_be_visible()
            await tiles_drawn(page, "#case-map")
            await page.screenshot(path=screenshots / f"map-case-{language}.png", full_page=True)
            # the resident's own view of a private place: its address, never a map
            await page.goto(map_web.url(f"/cases/{private}?lang={language}&code={code}"))
            await expect(page.locator("#private")).to_be_visible(timeout=20_000)
            await expect(page.locator("#case")).to_have_attribute("data-ready", "true")
            assert await page.locator("#case-map").is_hidden()
            await expect(page.locator("#case-map .leaflet-marker-icon")).to_have_count(0)
            assert errors == [], (language, errors)
        finally:
            await context.close()
    assert tiles.served.count > 0


async def test_the_list_and_dashboard_maps_cluster_and_filter(
        empty_map_web: Web, tiles: TileServer, browser: Browser, screenshots: Path) -> None:
    # six dark lights around the market, a pothole further off, and a flat without water
    async with httpx.AsyncClient(base_url=empty_map_web.base_url, timeout=20) as http:
        near = [await a_case(http, "traffic-signals",
                             (WANGFUFEN[0] + i * 0.0004, WANGFUFEN[1] + i * 0.0004), **SIGNALS)
                for i in range(6)]
        pothole = await a_case(http, "roads", FAR_OFF, district="jinshui")
        await a_case(http, "water", (34.8123, 113.6712), district="jinshui")

        async def projected() -> bool:
            answer = (await http.get("/api/cases/map")).json()
            return bool(answer["total"] == 8)

        await eventually(projected, what="the eight cases in tracking")
    assert len(near) == 6
    for language in LANGUAGES:
        words = texts(language)
        context = await browser.new_context(locale=LOCALES[language], **DESK)
        try:
            page = await context.new_page()
            errors = collect_errors(page)
            await page.goto(empty_map_web.url(f"/cases?lang={language}"))
            cases_map = page.locator("#cases-map")
            await expect(cases_map).to_have_attribute("data-points", "7", timeout=20_000)
            # the six lights close together make one cluster at the city's zoom
            cluster = cases_map.locator(".marker-cluster")
            await expect(cluster.first).to_be_visible()
            counts = await cluster.all_text_contents()
            assert "6" in [c.strip() for c in counts], counts
            # the flat without water: counted in its district, under the map, not placed
            await expect(page.locator("#cases-map-count")).to_contain_text(
                words["map.district_count"].format(district=JINSHUI[language], count=1))
            await tiles_drawn(page, "#cases-map")
            await page.screenshot(path=screenshots / f"map-cases-{language}.png", full_page=True)
            # narrowed to roads: the pothole alone, and the list agrees
            await page.select_option("#category", "roads")
            await expect(cases_map).to_have_attribute("data-points", "1")
            await expect(cases_map.locator(".marker-cluster")).to_have_count(0)
            await expect(cases_map.locator(".leaflet-marker-icon")).to_have_count(1)
            await expect(page.locator("#results li")).to_have_count(1)
            await expect(page.locator("#results")).to_contain_text(pothole)
            await page.select_option("#category", "")
            await page.select_option("#status", "closed")
            await expect(cases_map).to_have_attribute("data-points", "0")

            # the dashboard's own map, with its own filters
            await page.goto(empty_map_web.url(f"/dashboard?lang={language}"))
            dash_map = page.locator("#dash-map")
            await expect(dash_map).to_have_attribute("data-points", "7", timeout=20_000)
            await expect(page.locator("#dash-map-title")).to_have_text(words["map.cases_title"])
            await page.locator("#dash-map-block").scroll_into_view_if_needed()
            await tiles_drawn(page, "#dash-map")
            await page.locator("#dash-map-block").screenshot(
                path=screenshots / f"map-dashboard-{language}.png")
            await page.select_option("#dash-map-category", "traffic-signals")
            await expect(dash_map).to_have_attribute("data-points", "6")
            await page.select_option("#dash-map-status", "closed")
            await expect(dash_map).to_have_attribute("data-points", "0")
            assert errors == [], (language, errors)
        finally:
            await context.close()
    assert tiles.served.count > 0


async def test_staff_see_their_open_cases_and_residents_pick_on_a_map(
        empty_map_web: Web, tiles: TileServer, browser: Browser, screenshots: Path) -> None:
    async with httpx.AsyncClient(base_url=empty_map_web.base_url, timeout=20) as http:
        await a_case(http, "traffic-signals", WANGFUFEN, **SIGNALS)
        await a_case(http, "roads", FAR_OFF, district="jinshui")
    for language in LANGUAGES:
        desk = await browser.new_context(
            locale=LOCALES[language], permissions=["geolocation"],
            geolocation={"latitude": WANGFUFEN[0], "longitude": WANGFUFEN[1]}, **DESK)
        try:
            console = await sign_in(desk, empty_map_web.base_url,
                                    staff_token(Role.OFFICER, subject="map-desk"), language)
            await console.locator("#staff-map-block > summary").click()
            staff_map = console.locator("#staff-map")
            await expect(staff_map).to_have_attribute("data-points", "2", timeout=20_000)
            await tiles_drawn(console, "#staff-map")
            await console.locator("#staff-map-block").screenshot(
                path=screenshots / f"map-staff-{language}.png")

            # the report form with its map, a place picked
            page = await desk.new_page()
            errors = collect_errors(page)
            await page.goto(empty_map_web.url(f"/?lang={language}"))
            await expect(page.locator("#point-map[data-map=ready]")).to_have_count(1)
            # "use my location": the fields and the pin go where the device is
            await page.click("#locate")
            await expect(page.locator("#lat")).to_have_value(f"{WANGFUFEN[0]:.6f}")
            await expect(page.locator("#point-map .leaflet-marker-icon")).to_have_count(1)
            # then a click on the map moves it (the middle: where the pin was put, re-centred)
            await page.locator("#point-map").scroll_into_view_if_needed()
            box = await page.locator("#point-map").bounding_box()
            assert box is not None
            await page.mouse.click(box["x"] + box["width"] / 4, box["y"] + box["height"] / 2)
            await expect(page.locator("#point-map .leaflet-marker-icon")).to_have_count(1)
            await expect(page.locator("#point-map-status")).not_to_be_empty()
            moved = float(await page.locator("#lon").input_value())
            assert moved < WANGFUFEN[1] - 0.001  # a quarter of the map to the west
            await tiles_drawn(page, "#point-map")
            await page.locator("#field-point").screenshot(
                path=screenshots / f"map-submit-{language}.png")
            assert errors == [], (language, errors)
        finally:
            await desk.close()
