"""Settings of the web pages (env prefix `ZAIBAN_`): the map's tiles and the map library,
the open data's licence.

`ZAIBAN_MAP_TILES` is the URL template of the tile server the maps draw on
(`https://tiles.example.org/{z}/{x}/{y}.png`; `{s}` for a subdomain); `ZAIBAN_MAP_DATUM`
what its tiles are drawn in: `wgs84` (OpenStreetMap-style servers) or `gcj02` (most maps of
Chinese cities). Positions are stored in WGS84 and the pages convert for GCJ-02 tiles
(`static/geo.js`). Unset, the maps draw the cases on a plain background; `zaiban up` starts
a tile server of plain tiles on loopback and sets it (`zaiban/tiles.py`).

`ZAIBAN_OPEN_DATA_LICENCE` and `ZAIBAN_OPEN_DATA_LICENCE_URL` name the licence of the open
data (`/open-data`): Creative Commons Attribution 4.0 unless a city chooses another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from services.common.settings import REPO_ROOT, CommonSettings
from services.web.pages import LICENCE, LICENCE_URL


class WebSettings(CommonSettings):
    map_tiles: str | None = Field(
        default=None, max_length=500,
        description="URL template of the map tiles, with {z}, {x} and {y} (and {s} for a "
                    "subdomain); unset, the maps have no background.")
    map_datum: Literal["wgs84", "gcj02"] = Field(
        default="wgs84", description="The datum the tiles are drawn in: wgs84, or gcj02 "
                                     "(points are converted for them).")
    map_attribution: str = Field(default="", max_length=300,
                                 description="Who the tiles are from, shown on the maps.")
    map_max_zoom: int = Field(default=18, ge=1, le=22,
                              description="The deepest zoom level the tile server has.")
    open_data_licence: str = Field(
        default=LICENCE, min_length=1, max_length=100,
        description="The licence the open data is published under, by name (the open data "
                    "page states it).")
    open_data_licence_url: str = Field(
        default=LICENCE_URL, max_length=300,
        pattern=r"^https?://\S+$", description="Where the licence's text is read.")
    web_modules: Path = Field(
        default=REPO_ROOT / "node_modules",
        description="Where `npm ci` put the pages' packages (the map library).")

    @field_validator("map_tiles")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("ZAIBAN_MAP_TILES: an http(s) URL template")
        missing = [name for name in ("{z}", "{x}", "{y}") if name not in value]
        if missing:
            raise ValueError(f"ZAIBAN_MAP_TILES: the template has no {', '.join(missing)}")
        return value

    def tile_origin(self) -> str | None:
        """Where the tiles come from, for the pages' Content-Security-Policy (`{s}`: any
        subdomain)."""
        if not self.map_tiles:
            return None
        parts = urlsplit(self.map_tiles)
        host = parts.netloc.replace("{s}", "*")
        return f"{parts.scheme}://{host}"

    def map_config(self) -> dict[str, object]:
        """What the pages' scripts need to draw a map."""
        return {"tiles": self.map_tiles, "datum": self.map_datum,
                "attribution": self.map_attribution, "max_zoom": self.map_max_zoom}
