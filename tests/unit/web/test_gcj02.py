"""The pages' datum conversion (`services/web/static/geo.js`), run by node as the browser runs
it: a point stored in WGS84 lands where GCJ-02 tiles draw it, and a point picked on those
tiles comes back to the WGS84 point it is."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.intake.duplicates import distance_m

GEO = Path(__file__).resolve().parents[3] / "services" / "web" / "static" / "geo.js"

# Published pairs (WGS84 lat, lon -> GCJ-02 lat, lon): the test vectors of eviltransform, the
# reference implementation most ports check against, and Tiananmen's from R's `geoChina`.
REFERENCE = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),    # Shanghai
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),    # Shenzhen
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),    # Beijing
    ((39.90734, 116.39089), (39.90874107, 116.39713094)),                  # Tiananmen
]
ZHENGZHOU = [(34.7466, 113.6253), (34.7997, 113.6605), (34.2600, 112.7100), (34.9700, 114.2400)]
ABROAD = [(48.8584, 2.2945), (40.6892, -74.0445), (-33.8568, 151.2153), (35.6586, 139.7454)]


def run(body: str) -> Any:
    """What `body` (a function body with geo.js as `geo`) returns, run by node, as JSON."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js (make install needs it too)",
                    pytrace=False)
    script = (f"import * as geo from {json.dumps(GEO.as_uri())};\n"
              f"console.log(JSON.stringify((() => {{ {body} }})()));\n")
    done = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True,
                          text=True, timeout=30, check=True)
    return json.loads(done.stdout)


def convert(calls: list[tuple[str, float, float]]) -> list[list[float]]:
    """Each `(function, lat, lon)` through geo.js: the [lat, lon] it answers."""
    found = run(f"return {json.dumps(calls)}.map(([f, lat, lon]) => geo[f](lat, lon));")
    return [list(point) for point in found]


def test_wgs84_points_land_where_the_published_gcj02_pairs_say() -> None:
    found = convert([("wgs84ToGcj02", *wgs) for wgs, _gcj in REFERENCE])
    for (wgs, gcj), (lat, lon) in zip(REFERENCE, found, strict=True):
        assert distance_m(lat, lon, *gcj) < 0.01, (wgs, gcj, (lat, lon))
        # and the shift is what makes a point land off: hundreds of metres
        assert 300 < distance_m(*wgs, lat, lon) < 1000


def test_a_point_picked_on_gcj02_tiles_comes_back_to_its_wgs84_point() -> None:
    points = [wgs for wgs, _gcj in REFERENCE] + ZHENGZHOU
    there = convert([("wgs84ToGcj02", *p) for p in points])
    back = convert([("gcj02ToWgs84", *p) for p in there])
    for original, returned in zip(points, back, strict=True):
        assert distance_m(*original, *returned) < 0.05, (original, returned)  # within 5 cm


def test_outside_china_nothing_moves() -> None:
    found = convert([(f, *p) for p in ABROAD for f in ("wgs84ToGcj02", "gcj02ToWgs84")])
    assert found == [list(p) for p in ABROAD for _ in range(2)]


def test_the_map_converts_only_for_gcj02_tiles() -> None:
    """`datumOf` is what map.js uses: the identity for wgs84 tiles, the transform for gcj02."""
    zhengzhou = ZHENGZHOU[0]
    found = run(f"""const p = {json.dumps(zhengzhou)};
        const [w, g] = [geo.datumOf("wgs84"), geo.datumOf("gcj02")];
        const there = g.toMap(...p);
        return [w.toMap(...p), w.fromMap(...p), there, g.fromMap(...there)];""")
    same, same_back, there, back = found
    assert same == same_back == list(zhengzhou)
    assert there == convert([("wgs84ToGcj02", *zhengzhou)])[0]
    assert distance_m(*zhengzhou, *there) > 300 and distance_m(*zhengzhou, *back) < 0.05
