"""The pages' maps: the tile server a deployment sets (`ZAIBAN_MAP_TILES` and its datum), the
pages allowed to load its tiles and nothing else, and the map library served from the npm
packages `make install` put in node_modules — only the files the pages load."""

from __future__ import annotations

import json
import re

import pytest
from fastapi import FastAPI
from helpers import client_for
from pydantic import ValidationError

from services.web import web_routes
from services.web.routes import VENDOR_FILES
from services.web.settings import WebSettings

TILES = "https://{s}.tiles.example.org/gcj/{z}/{x}/{y}.png"


def app_for(**settings: object) -> FastAPI:
    app = FastAPI()
    app.include_router(web_routes(WebSettings(environment="test", **settings)))
    return app


def page_config(html: str) -> dict[str, object]:
    found = re.search(r'<script id="zaiban-config" type="application/json">(.*?)</script>', html)
    assert found
    config: dict[str, object] = json.loads(found.group(1))
    return config


async def test_the_pages_draw_on_the_tiles_set_and_may_load_them() -> None:
    app = app_for(map_tiles=TILES, map_datum="gcj02", map_attribution="© the city")
    async with client_for(app) as http:
        for path in ("/", "/cases", "/dashboard", "/staff", "/cases/ZB1"):
            answer = await http.get(path)
            assert page_config(answer.text)["map"] == {
                "tiles": TILES, "datum": "gcj02", "attribution": "© the city", "max_zoom": 18}
            policy = answer.headers["content-security-policy"]
            assert "img-src 'self' data: blob: https://*.tiles.example.org;" in policy
            assert "script-src 'self';" in policy and "connect-src 'self';" in policy


async def test_without_a_tile_server_the_pages_load_images_from_their_origin_only() -> None:
    async with client_for(app_for()) as http:
        answer = await http.get("/")
    assert page_config(answer.text)["map"]["tiles"] is None
    assert "img-src 'self' data: blob:;" in answer.headers["content-security-policy"]


@pytest.mark.parametrize(("template", "said"), [
    ("ftp://tiles.example.org/{z}/{x}/{y}.png", "http(s) URL"),
    ("https://tiles.example.org/{z}/{x}.png", "no {y}"),
    ("tiles/{z}/{x}/{y}.png", "http(s) URL"),
])
def test_a_tile_template_that_cannot_work_is_refused_naming_the_setting(
        template: str, said: str) -> None:
    with pytest.raises(ValidationError) as refused:
        WebSettings(map_tiles=template)
    assert "ZAIBAN_MAP_TILES" in str(refused.value) and said in str(refused.value)
    with pytest.raises(ValidationError):
        WebSettings(map_datum="bd09")


async def test_the_map_library_is_served_from_the_npm_packages_and_nothing_else() -> None:
    async with client_for(app_for()) as http:
        for package, files in VENDOR_FILES.items():
            for name in files:
                answer = await http.get(f"/static/vendor/{package}/{name}")
                assert answer.status_code == 200, (package, name, answer.text[:100])
                assert answer.headers["x-content-type-options"] == "nosniff"
        script = await http.get("/static/vendor/leaflet/leaflet.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert "1.9.4" in script.text  # the version package-lock.json pins
        again = await http.get("/static/vendor/leaflet/leaflet.js",
                               headers={"If-None-Match": script.headers["etag"]})
        assert again.status_code == 304
        for path in ("/static/vendor/leaflet/package.json", "/static/vendor/leaflet/..%2Fpackage.json",
                     "/static/vendor/leaflet/leaflet-src.js", "/static/vendor/other/leaflet.js",
                     "/static/vendor/leaflet.markercluster/leaflet.markercluster-src.js.map"):
            assert (await http.get(path)).status_code == 404, path


async def test_a_checkout_without_npm_ci_says_what_to_run(tmp_path: object) -> None:
    async with client_for(app_for(web_modules=tmp_path)) as http:
        answer = await http.get("/static/vendor/leaflet/leaflet.js")
    assert answer.status_code == 404 and "make install" in answer.text
