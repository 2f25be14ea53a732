"""The web pages' routes on the public entry, and their static files.

| URL                | who        | what they do there                                        |
| ------------------ | ---------- | --------------------------------------------------------- |
| `/`                | resident   | submit a request in one step; get case number + code      |
| `/cases/{case_id}` | anyone     | read a case's timeline live; with the code, answer it     |
| `/track`           | resident   | enter a tracking code to open their case                  |
| `/cases`           | public     | list and search public cases; subscribe to their feeds    |
| `/staff`           | staff      | sign in with a token: triage, department inbox, supervision |
| `/dashboard`       | public     | the figures, live                                         |
| `/open-data`       | public     | what is published, under which licence, how to verify it  |

The pages only read and write through the services' public JSON APIs, from
the browser: this router holds no state and reads no service's store.
"""

from __future__ import annotations

import hashlib
import mimetypes
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.common.catalogue import LANGUAGES, Language, load_city
from services.common.cityconfig import LiveCity
from services.common.settings import CommonSettings
from services.web.pages import (
    LANGUAGE_COOKIE,
    STATIC,
    choose_language,
    feed_links,
    open_data_slots,
    render,
    static_version,
)
from services.web.settings import WebSettings

ONE_YEAR_S = 365 * 24 * 3600
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml",
                ".json": "application/json", ".png": "image/png"}

# The pages load nothing from elsewhere: scripts, styles and images come from this origin
# (photos a resident uploaded are served by intake on the same origin).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

# The map library's files the pages load (`npm ci` installs them: package.json), by package:
# its script and styles, and the images the styles name. Nothing else of node_modules is served.
VENDOR_FILES: dict[str, tuple[str, ...]] = {
    "leaflet": ("leaflet.js", "leaflet.css", "images/layers.png", "images/layers-2x.png",
                "images/marker-icon.png", "images/marker-icon-2x.png",
                "images/marker-shadow.png"),
    "leaflet.markercluster": ("leaflet.markercluster.js", "MarkerCluster.css",
                              "MarkerCluster.Default.css"),
}


def security_headers(settings: WebSettings) -> dict[str, str]:
    """`SECURITY_HEADERS`, with the map's tile server allowed as a source of images."""
    origin = settings.tile_origin()
    if origin is None:
        return SECURITY_HEADERS
    policy = SECURITY_HEADERS["Content-Security-Policy"].replace(
        "img-src 'self' data: blob:", f"img-src 'self' data: blob: {origin}")
    return {**SECURITY_HEADERS, "Content-Security-Policy": policy}


Lang = Annotated[str | None, Query(max_length=20, description="zh-Hans, zh-Hant or en.")]


def switch_links(request: Request) -> dict[Language, str]:
    """This page's URL in each language (a tracking code in the URL is not repeated)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "code")]
    return {language: f"{request.url.path}?{urlencode([*kept, ('lang', language)])}"
            for language in LANGUAGES}


def web_routes(settings: CommonSettings | None = None, city: LiveCity | None = None
               ) -> APIRouter:
    """The pages and their static files, for the city as `city` runs it (the public entry's
    services read its changes), else as configured in `settings`."""
    web = WebSettings.from_common(settings or CommonSettings())
    live = city or LiveCity(load_city(web.config_dir))
    headers_of_pages = security_headers(web)
    map_config = web.map_config()
    router = APIRouter(include_in_schema=False)

    def page(name: str, request: Request, lang: str | None, *, feeds: bool = False,
             slots: dict[str, str] | None = None) -> HTMLResponse:
        """`feeds`: the page links the Atom feeds of what it shows (the case list: of the
        district, category or department it is narrowed to, and the city's); `slots`: the
        page's own placeholders."""
        language, chosen = choose_language(lang, request.cookies.get(LANGUAGE_COOKIE),
                                           request.headers.get("accept-language"))
        city = live.current
        links = feed_links(city, language, request.query_params) if feeds else []
        body = render(name, language, city, switch_links(request), links, map_config, slots)
        response = HTMLResponse(body, headers={**headers_of_pages,
                                               "Content-Language": language,
                                               "Vary": "Cookie, Accept-Language"})
        if chosen:
            response.set_cookie(LANGUAGE_COOKIE, language, max_age=ONE_YEAR_S, samesite="lax")
        return response

    @router.get("/", response_class=HTMLResponse)
    async def submit_page(request: Request, lang: Lang = None) -> HTMLResponse:
        return page("submit", request, lang)

    @router.get("/cases", response_class=HTMLResponse)
    async def cases_page(request: Request, lang: Lang = None) -> HTMLResponse:
        return page("cases", request, lang, feeds=True)

    @router.get("/cases/{case_id}", response_class=HTMLResponse)
    async def case_page(request: Request,
                        case_id: Annotated[str, Path(max_length=80)],
                        lang: Lang = None) -> HTMLResponse:
        return page("case", request, lang)

    @router.get("/track", response_class=HTMLResponse)
    async def track_page(request: Request, lang: Lang = None) -> HTMLResponse:
        return page("track", request, lang)

    @router.get("/staff", response_class=HTMLResponse)
    async def staff_page(request: Request, lang: Lang = None) -> HTMLResponse:
        return page("staff", request, lang)

    @router.get("/dashboard", response_class=HTMLResponse)
    async def dashboard_page(request: Request, lang: Lang = None) -> HTMLResponse:
        return page("dashboard", request, lang, feeds=True)

    @router.get("/open-data", response_class=HTMLResponse)
    async def open_data_page(request: Request, lang: Lang = None) -> HTMLResponse:
        site = str(request.base_url).rstrip("/")
        return page("open-data", request, lang, slots=open_data_slots(
            web.open_data_licence, web.open_data_licence_url, site))

    @router.get("/static/{name}")
    async def static_file(name: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,80}$")],
                          request: Request) -> Response:
        path = STATIC / name
        if ".." in name or not path.is_file():
            return Response(status_code=404)
        version = static_version(name)
        etag = f'"{version}"'
        versioned = request.query_params.get("v") == version
        headers = {
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": (f"public, max-age={ONE_YEAR_S}, immutable" if versioned
                              else "no-cache"),
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        media_type = (STATIC_TYPES.get(path.suffix) or mimetypes.guess_type(name)[0]
                      or "application/octet-stream")
        return Response(path.read_bytes(), media_type=media_type, headers=headers)

    @router.get("/static/vendor/{package}/{path:path}")
    async def vendor_file(package: str, path: str, request: Request) -> Response:
        """A file of the map library, from node_modules/<package>/dist (`VENDOR_FILES`)."""
        if path not in VENDOR_FILES.get(package, ()):
            return Response(status_code=404)
        found = web.web_modules / package / "dist" / path
        if not found.is_file():
            return Response(f"{package} is not installed: run `make install` (npm ci)",
                            status_code=404, media_type="text/plain")
        content = found.read_bytes()
        # the packages are pinned (package-lock.json): a version changes with the bytes
        etag = f'"{hashlib.sha256(content).hexdigest()[:12]}"'
        headers = {"ETag": etag, "X-Content-Type-Options": "nosniff",
                   "Cache-Control": "no-cache"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        media_type = STATIC_TYPES.get(found.suffix) or "application/octet-stream"
        return Response(content, media_type=media_type, headers=headers)

    return router
