"""Routing, tracking and metrics scaled from one copy to three and back under load
(`zaiban chaos scale`, short): partitions move between copies twice, and no case is lost,
routed twice or counted twice."""

from __future__ import annotations

from pathlib import Path

from faults.chaos import short

from services.common.settings import CommonSettings


async def test_scaling_out_and_back_under_load_loses_nothing_and_counts_nothing_twice(
        settings: CommonSettings, tmp_path: Path) -> None:
    found = await short("scale", settings, tmp_path)
    assert {name for name in found.starts if "-" in name} == {
        f"{service}-{n}" for service in ("routing", "tracking", "metrics") for n in (2, 3)}
    assert len(found.injected) == 2 and all(i.recovered_s is not None for i in found.injected)
