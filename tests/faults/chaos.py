"""The short versions of `zaiban chaos`'s scenarios, on the test's namespace."""

from __future__ import annotations

import json
from pathlib import Path

from faults.processes import Fleet
from helpers import TEST_SECRET

from services.common.settings import CommonSettings
from zaiban.chaos.run import Findings, Stack, run
from zaiban.chaos.scenarios import SCENARIOS
from zaiban.infra import StackSettings


async def short(name: str, settings: CommonSettings, tmp_path: Path,
                stack: StackSettings | None = None) -> Findings:
    """Run scenario `name` at its short size; every check of the run must hold."""
    scenario = SCENARIOS[name]
    found = await run(scenario, scenario.short, settings, Stack(stack), tmp_path / "logs",
                      secret=TEST_SECRET, fleet_type=Fleet)
    print(f"\nCHAOS FIGURES {json.dumps(found.figures(), ensure_ascii=False)}")
    assert found.ok, found.problems
    return found
