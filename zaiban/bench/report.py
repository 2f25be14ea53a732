"""What a benchmark run found: figures, their baselines, the ratios, the targets.

Every scenario measures zaiban and, in the same run, the fastest the same
machine does the same work (its baseline), because these machines are shared
and noisy: a ratio taken minutes apart means little. A result holds, per
subject ("zaiban tracking", "baseline"), its figures; and the checks of the
issue's targets, each with the value found and whether it was met.

The numbers are plain: throughput in events (or requests) per second,
latencies in milliseconds, percentiles by linear interpolation between the
closest ranks (numpy's default), so p50 of [1, 2, 3, 4] is 2.5.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

PERCENTILES = (50, 95, 99)


def percentile(values: Sequence[float], p: float) -> float:
    """The `p`th percentile (0..100) of `values`, interpolating between closest ranks."""
    if not values:
        return math.nan
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is not between 0 and 100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: Sequence[float], prefix: str = "") -> dict[str, float]:
    """p50/p95/p99 and the max of latencies given in seconds, as milliseconds."""
    figures = {f"{prefix}p{p}_ms": percentile(seconds, p) * 1000 for p in PERCENTILES}
    figures[f"{prefix}max_ms"] = max(seconds) * 1000 if seconds else math.nan
    return figures


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.nan


def ratio(measured: float, baseline: float) -> float:
    """`measured / baseline`; nan when the baseline is zero or missing."""
    if not baseline or math.isnan(baseline) or math.isnan(measured):
        return math.nan
    return measured / baseline


@dataclass(frozen=True)
class Check:
    """One of the issue's targets, and how this run did against it."""

    name: str
    value: float
    target: float
    unit: str
    direction: Literal["at least", "below"]

    @property
    def met(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value >= self.target if self.direction == "at least" else self.value < self.target

    def describe(self) -> str:
        return f"{self.name}: {fmt(self.value)}{self.unit} ({self.direction} {fmt(self.target)}{self.unit})"


@dataclass
class Result:
    """One scenario's figures: per subject, named numbers; plus checks and notes."""

    scenario: str
    params: dict[str, Any]
    subjects: dict[str, dict[str, float]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    """Like figures of many subjects (a query each), shown as a table with a row each
    (`rows_table`)."""
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    """Peak resident memory (VmHWM) of each process the scenario ran, by label."""
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    wall_s: float = 0.0

    def add(self, subject: str, **figures: float) -> None:
        self.subjects.setdefault(subject, {}).update(figures)

    def check(self, name: str, value: float, target: float, unit: str = "",
              direction: Literal["at least", "below"] = "at least") -> Check:
        found = Check(name, value, target, unit, direction)
        self.checks.append(found)
        return found

    def note(self, text: str) -> None:
        self.notes.append(text)

    def as_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["checks"] = [{**asdict(c), "met": c.met} for c in self.checks]
        return _finite(body)


def _finite(value: Any) -> Any:
    """JSON has no NaN: missing figures are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def fmt(value: float) -> str:
    """A figure for a table: no more digits than it deserves."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


# --- showing and keeping results -------------------------------------------------------


def table(result: Result) -> Table:
    """Figures as rows, subjects as columns (figures in first-seen order)."""
    names: list[str] = []
    for figures in result.subjects.values():
        names += [name for name in figures if name not in names]
    grid = Table(title=f"zaiban bench {result.scenario}", title_justify="left")
    grid.add_column("figure", no_wrap=True)
    for subject in result.subjects:
        grid.add_column(subject, justify="right", overflow="fold")
    for name in names:
        grid.add_row(name, *(fmt(figures[name]) if name in figures else ""
                             for figures in result.subjects.values()))
    return grid


def rows_table(result: Result) -> Table:
    """The rows of a result, their names as columns (in first-seen order)."""
    names: list[str] = []
    for row in result.rows:
        names += [name for name in row if name not in names]
    grid = Table(title=f"zaiban bench {result.scenario}", title_justify="left")
    for name in names:
        grid.add_column(name, justify="left" if name == names[0] else "right", no_wrap=True)
    for row in result.rows:
        grid.add_row(*(_cell(row.get(name)) for name in names))
    return grid


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return fmt(value) if isinstance(value, int | float) else str(value)


def show(result: Result, console: Console) -> None:
    if result.subjects:
        console.print(table(result))
    if result.rows:
        console.print(rows_table(result))
    for found in result.checks:
        mark = "[green]met[/green]" if found.met else "[red]not met[/red]"
        console.print(f"  {mark}  {found.describe()}")
    if result.peak_rss_mb:
        console.print("  [dim]peak memory (MB): " + ", ".join(
            f"{label} {fmt(mb)}" for label, mb in result.peak_rss_mb.items()) + "[/dim]")
    for text in result.notes:
        console.print(f"  [dim]{text}[/dim]")
    console.print(f"  [dim]wall time {result.wall_s:.1f} s[/dim]")


def summary_table(results: Iterable[Result]) -> Table:
    """One line per check, across scenarios: what `make bench` ends with."""
    grid = Table(title="zaiban bench: targets", title_justify="left")
    for name, justify in (("scenario", "left"), ("figure", "left"), ("value", "right"),
                          ("target", "right"), ("", "left")):
        grid.add_column(name, justify=justify)  # type: ignore[arg-type]
    for result in results:
        for found in result.checks:
            grid.add_row(result.scenario, found.name, f"{fmt(found.value)}{found.unit}",
                         f"{found.direction} {fmt(found.target)}{found.unit}",
                         "[green]met[/green]" if found.met else "[red]not met[/red]")
    return grid


def machine() -> dict[str, Any]:
    """What the figures were measured on (they mean little without it)."""
    memory_gib = math.nan
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    memory_gib = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - on PATH
                                capture_output=True,
                                text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit,
    }


def write(result: Result, folder: Path, extra: dict[str, Any] | None = None) -> Path:
    """Keep the figures as JSON in `folder` (git-ignored); returns the file written."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"{stamp}-{result.scenario}.json"
    body = {**result.as_json(), "machine": machine(), **(extra or {})}
    path.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
    return path
