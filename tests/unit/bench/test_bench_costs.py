"""What a benchmark reads about its processes (CPU, peak memory) and what it makes of rates
(the knee, CPU per event between one and two instances)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from services.common.settings import CommonSettings
from zaiban.bench.e2e import KNEE_P99_MS, Seen, Stepped, knee
from zaiban.bench.env import Bench, Steps, usage
from zaiban.bench.report import Result, show
from zaiban.bench.scale import cpu_difference_pct


def stepped(rate: float, *ms: float, unfinished: int = 0, never_visible: int = 0) -> Stepped:
    seen = Seen(submitted=[m / 1000 for m in ms], visible=[m / 1000 for m in ms],
                unfinished=unfinished, never_visible=never_visible, elapsed=1.0)
    return Stepped(rate, seen)


def test_the_knee_is_the_highest_rate_under_250_ms_with_every_case_through() -> None:
    steps = [stepped(100, 20, 30, 40), stepped(200, 30, 60, 90), stepped(300, 100, 200, 240),
             stepped(400, 100, 300, 900)]
    assert knee(steps) == 300
    assert [row["rate/s"] for row in (s.row() for s in steps)] == [100, 200, 300, 400]
    assert steps[2].row()["p99 ms"] < KNEE_P99_MS <= steps[3].row()["p99 ms"]


def test_a_rate_that_leaves_cases_unfinished_is_past_the_knee_however_fast_the_rest() -> None:
    steps = [stepped(100, 20, 30), stepped(200, 30, 40, unfinished=3),
             stepped(300, 30, 40, never_visible=1)]
    assert knee(steps) == 100
    assert steps[1].row()["unfinished"] == 3
    assert math.isnan(knee([stepped(100, 300, 400)]))


def test_cpu_per_event_of_two_instances_is_compared_with_one_in_percent() -> None:
    assert round(cpu_difference_pct(1.05, 1.0), 6) == 5.0
    assert round(cpu_difference_pct(0.9, 1.0), 6) == 10.0
    assert math.isnan(cpu_difference_pct(1.0, 0.0))


def test_cpu_time_and_peak_memory_are_read_from_proc() -> None:
    # a child that holds ~64 MB for a moment, then lets go and spins: its high-water mark stays
    program = ("import time\nb = bytearray(64 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
               "del b\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
               "time.sleep(30)\n")
    child = subprocess.Popen([sys.executable, "-c", program])
    try:
        deadline = time.monotonic() + 20
        seen = usage(child.pid)
        while seen.cpu_s < 0.3 and time.monotonic() < deadline:
            time.sleep(0.1)
            seen = usage(child.pid)
        assert seen.cpu_s >= 0.3
        assert seen.peak_rss_mb >= 64
        assert seen.rss_mb < seen.peak_rss_mb - 32
    finally:
        child.kill()
        child.wait()
    assert usage(os.getpid()).peak_rss_mb > 0


def test_each_server_process_of_a_run_gets_a_label_of_its_own(tmp_path: Path) -> None:
    bench = Bench(settings=CommonSettings(environment="test"), token="t", steps=Steps(None),
                  folder=tmp_path, stack_versions={})
    assert [bench.label(name) for name in ("tracking", "intake", "tracking", "tracking")] == [
        "tracking", "intake", "tracking #2", "tracking #3"]


def test_peak_memory_is_shown_with_the_figures() -> None:
    result = Result("e2e", params={}, peak_rss_mb={"intake": 120.5, "bench process": 90.0})
    console = Console(record=True, width=200)
    show(result, console)
    assert "peak memory (MB): intake 120, bench process 90.0" in console.export_text()
    assert result.as_json()["peak_rss_mb"] == {"intake": 120.5, "bench process": 90.0}
