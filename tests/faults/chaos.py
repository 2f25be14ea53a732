"""The short versions of `zaiban chaos`'s scenarios, on the test's namespace."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from faults.processes import Fleet
from helpers import TEST_SECRET, settings_for
from stackfixtures import PrivateStack

from services.common.settings import CommonSettings
from zaiban.chaos.run import Findings, Stack, run
from zaiban.chaos.scenarios import one_after_another
from zaiban.infra import StackSettings


async def short(names: str, settings: CommonSettings, tmp_path: Path,
                stack: StackSettings | None = None) -> Findings:
    """Run scenarios `names` ("a+b": one after another beside one traffic) at their short
    sizes; every check of the run must hold."""
    scenario, size = one_after_another(*names.split("+"))
    found = await run(scenario, size, settings, Stack(stack), tmp_path / "logs",
                      secret=TEST_SECRET, fleet_type=Fleet)
    print(f"\nCHAOS FIGURES {json.dumps(found.figures(), ensure_ascii=False)}")
    assert found.ok, found.problems
    return found


async def short_on(names: str, stack: PrivateStack, tmp_path: Path) -> Findings:
    """`short`, on a private stack, in a namespace of the test's own there."""
    token = uuid.uuid4().hex[:8]
    settings = settings_for(stack.info.bootstrap_servers, stack.info.mongo_url,
                            f"s{token}.", f"zs_{token}")
    return await short(names, settings, tmp_path, stack.settings)
