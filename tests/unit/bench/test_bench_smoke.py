"""A tiny run of one benchmark on the real stack, so the bench code cannot rot unnoticed."""

from __future__ import annotations

from pathlib import Path

from stackfixtures import StackInfo

from zaiban.bench import projections
from zaiban.bench.runner import run_one


async def test_projections_run_end_to_end_on_the_stack(stack: StackInfo, tmp_path: Path) -> None:
    result = await run_one("projections", projections.Sizes(cases=12, timeout_s=60),
                           console=None, folder=tmp_path)

    events = result.subjects["load generator"]["events"]
    assert events >= 12  # every case has at least its CaseSubmitted
    for name in projections.read_models():
        assert result.subjects[f"zaiban {name}"]["events"] == events
        assert result.subjects[f"zaiban {name}"]["events_per_s"] > 0
        assert result.subjects[f"baseline ({name} documents)"]["events_per_s"] > 0
    assert {c.name for c in result.checks} >= {"tracking / baseline events per second"}
