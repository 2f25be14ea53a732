"""A tile server of plain tiles on loopback: the maps' background when no other is set.

The machines zaiban runs on for a demo or its tests may reach no tile server of the world, so
`zaiban up` starts this one (when `ZAIBAN_MAP_TILES` is unset) and the browser tests start
their own: `GET /{z}/{x}/{y}.png` answers a 256x256 PNG, plain land with a faint grid, a
checkerboard of two shades so that panning shows. It counts what it served, so a test can
tell that a map really drew its tiles from here.
"""

from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image, ImageDraw

TILE = 256
_PATH = re.compile(r"^/(\d{1,2})/(\d{1,7})/(\d{1,7})\.png$")
SHADES = ((238, 240, 230), (232, 235, 224))
GRID = (214, 218, 204)


@cache
def tile_png(shade: int) -> bytes:
    """One plain tile (`shade` 0 or 1), as PNG bytes."""
    image = Image.new("RGB", (TILE, TILE), SHADES[shade])
    draw = ImageDraw.Draw(image)
    for at in range(0, TILE, 64):
        draw.line([(at, 0), (at, TILE)], fill=GRID)
        draw.line([(0, at), (TILE, at)], fill=GRID)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


@dataclass
class Served:
    """What the server answered: the tiles' paths, in order (the latest 10,000)."""

    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str) -> None:
        with self.lock:
            self.paths.append(path)
            del self.paths[:-10_000]

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.paths)


class TileServer:
    """`with TileServer() as tiles:` serves on 127.0.0.1 (`tiles.template` for the settings)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        served = self.served = Served()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = _PATH.match(self.path.split("?", 1)[0])
                if found is None:
                    self.send_error(404, "tiles are at /{z}/{x}/{y}.png")
                    return
                z, x, y = (int(part) for part in found.groups())
                if z > 22 or x >= 2 ** z or y >= 2 ** z:
                    self.send_error(404, "no such tile")
                    return
                body = tile_png((x + y) % 2)
                served.add(f"{z}/{x}/{y}")
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "public, max-age=86400")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # quiet: one line per tile would drown the console

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="zaiban-tiles",
                                       daemon=True)

    @property
    def template(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/{{z}}/{{x}}/{{y}}.png"

    def start(self) -> TileServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> TileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
