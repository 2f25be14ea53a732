"""`zaiban chaos <scenario>|all`: scenarios on a stack of their own, a table of what was
injected and what was found, the figures kept as JSON in .zaiban/chaos/."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import time
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from services.common.settings import REPO_ROOT, CommonSettings
from zaiban import infra
from zaiban.bench.report import machine
from zaiban.chaos.run import Findings, Size, Stack, run
from zaiban.chaos.scenarios import SCENARIOS

RESULTS = REPO_ROOT / ".zaiban" / "chaos"


def _settings(stack: infra.StackInfo, token: str, secret: SecretStr) -> CommonSettings:
    return CommonSettings(environment="test", kafka_bootstrap=stack.bootstrap_servers,
                          mongo_url=stack.mongo_url, topic_prefix=f"chaos{token}.",
                          db_prefix=f"chaos_{token}", auth_secret=secret, log_format="json",
                          log_level="WARNING")


async def _one(name: str, size: Size, stack_settings: infra.StackSettings, info: infra.StackInfo,
               folder: Path, seed: int, console: Console) -> Findings:
    from zaiban.topics import ensure_for_city

    token = secrets.token_hex(4)
    secret = SecretStr(secrets.token_urlsafe(32))
    settings = _settings(info, token, secret)
    await ensure_for_city(settings)
    return await run(SCENARIOS[name], size, settings, Stack(stack_settings),
                     folder / "logs" / f"{name}-{token}", secret=secret, seed=seed,
                     say=console.print)


def table(found: list[Findings]) -> Table:
    grid = Table(title="zaiban chaos", title_justify="left")
    for column in ("scenario", "faults", "cases", "resolved", "lost", "duplicated",
                   "figures = told", "= replay", "dead letters", "slowest recovery", "503s",
                   "seconds", ""):
        grid.add_column(column, justify="left" if column in ("scenario", "") else "right")
    for f in found:
        figures = f.figures()
        recovery = figures["slowest_recovery_s"]
        grid.add_row(
            f.scenario, str(len(f.injected)), str(f.cases), str(f.resolved), str(f.lost),
            str(f.unconfirmed) + (" + seq" if f.seq_collisions else ""),
            "yes" if f.figures_equal_told else "no", "yes" if f.equals_replay else "no",
            str(sum(len(v) for v in f.dead_letters.values())),
            "-" if recovery is None else f"{recovery:g} s", str(f.client.get("503s", 0)),
            f"{f.seconds:g}", "[green]ok[/green]" if f.ok else "[red]" + "; ".join(f.problems)
            + "[/red]")
    return grid


def injected_table(found: Findings) -> Table:
    grid = Table(title=f"{found.scenario}: what was injected", title_justify="left")
    for column in ("at", "fault", "lasted", "ready again after"):
        grid.add_column(column, justify="left" if column == "fault" else "right")
    for i in found.injected:
        grid.add_row(f"{i.at_s:g} s", i.fault, f"{i.lasted_s:g} s",
                     "-" if i.recovered_s is None else f"{i.recovered_s:g} s")
    return grid


def main(names: list[str], *, short: bool, cases: int | None, seed: int,
         console: Console) -> list[Findings]:
    """Run the named scenarios, one after another, on one stack of the run's own."""
    shared = infra.ensure_up(console=console)  # builds or reuses the jars and the binary
    del shared
    home = RESULTS / f"stack-{secrets.token_hex(3)}"
    stack_settings = infra.private_settings(home)
    found: list[Findings] = []
    try:
        info = infra.ensure_up(stack_settings, console=console)
        for name in names:
            scenario = SCENARIOS[name]
            size = scenario.short if short else scenario.full
            if cases is not None:
                size = Size(cases=cases, workers=size.workers, within_s=size.within_s,
                            knobs=size.knobs)
            console.print(f"[bold]{name}[/bold]: {scenario.summary} ({size.cases} cases)")
            findings = asyncio.run(_one(name, size, stack_settings, info, RESULTS, seed,
                                             console))
            info = infra.ensure_up(stack_settings, console=console)  # as the scenario left it
            console.print(injected_table(findings))
            found.append(findings)
    finally:
        with contextlib.suppress(infra.InfraError):
            infra.down(stack_settings)
        shutil.rmtree(home, ignore_errors=True)
    console.print(table(found))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{'-'.join(names) if len(names) < 3 else 'all'}.json"
    path.write_text(json.dumps({"machine": machine(), "short": short, "seed": seed,
                                "scenarios": [f.figures() for f in found]},
                               ensure_ascii=False, indent=2) + "\n")
    console.print(f"[dim]figures: {path}[/dim]")
    return found
