"""A tiny run of one benchmark on the real stack, so the bench code cannot rot unnoticed."""

from __future__ import annotations

import asyncio
import math
import os
from pathlib import Path

import pytest
from stackfixtures import StackInfo

from zaiban.bench import (
    bus_security,
    e2e,
    lifecycle,
    memory,
    opendata,
    projections,
    reads,
    scale,
)
from zaiban.bench.runner import run_one
from zaiban.infra.processes import port_free


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


async def test_opendata_serves_and_publishes_every_event_on_the_stack(stack: StackInfo,
                                                                    tmp_path: Path) -> None:
    result = await run_one("opendata", opendata.Sizes(cases=12, timeout_s=60), console=None,
                           folder=tmp_path)

    events = result.subjects["load generator"]["events"]
    assert result.subjects["feed over HTTP"]["lines"] == events
    assert result.subjects["baseline (the store, one pass)"]["lines"] == events
    assert result.subjects["publishing the days"]["days"] >= 1
    assert result.subjects["feed size"]["bytes_per_event"] > 100
    assert not result.notes


async def test_reads_asks_every_list_and_each_answer_holds_cases(stack: StackInfo,
                                                                 tmp_path: Path) -> None:
    sizes = reads.Sizes(cases=(40,), requests=3, seconds=0.5, at_least=2, warmup=1, clients=2,
                        timeout_s=60)
    result = await run_one("reads", sizes, console=None, folder=tmp_path)

    rows = {row["query"]: row for row in result.rows}
    # every query of the issue, the baseline and the clients at once: each timed, each
    # answer a 200 that held what it should (a bench of 404s or empty pages says nothing)
    assert len(rows) == 28
    for name, row in rows.items():
        assert row["n"] >= 2 and row["found"] >= 1, name
        assert row["p95"] > 0 and row["×base p95"] > 0, name
    assert rows[reads.BASELINE]["×base p95"] == 1
    assert result.subjects["40 cases"]["events"] > 40
    [answered] = [c for c in result.checks if c.name.startswith("queries answered wrongly")]
    assert answered.met and answered.value == 0
    assert any(c.name.startswith("slowest p95 at 40 cases") for c in result.checks)


async def test_bus_security_drives_intake_over_each_listener_and_a_throwaway_plaintext_broker(
        local_stack: StackInfo, tmp_path: Path) -> None:
    # a few requests are enough to drive each app over each listener: the time goes in the
    # throwaway broker and the six server processes, not in the requests
    sizes = bus_security.Sizes(requests=4, concurrency=2, warmup=1, seconds=60, rounds=1)
    result = await run_one("bus-security", sizes, console=None, folder=tmp_path)

    for app in bus_security.APPS.values():
        for protocol in ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"):
            figures = result.subjects[f"{app}, {protocol}"]
            assert (figures["accepted"], figures["refused"], figures["failed"]) == (4, 0, 0)
        for protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
            assert result.subjects[f"{app}, {protocol}"]["per_s_vs_plaintext"] > 0
    assert {c.name for c in result.checks} == {
        "intake SASL_PLAINTEXT / PLAINTEXT submissions per second",
        "intake SASL_SSL / PLAINTEXT submissions per second"}
    # the throwaway broker was another one, and it is gone
    host, port = result.params["plaintext_broker"].rsplit(":", 1)
    assert result.params["plaintext_broker"] != local_stack.bootstrap_servers
    assert port_free(host, int(port))


async def test_e2e_measures_the_target_rate_then_steps_up_to_the_knee(stack: StackInfo,
                                                                     tmp_path: Path) -> None:
    sizes = e2e.Sizes(rate=10, seconds=2, sample_every=1, steps=(10, 20), step_seconds=2,
                      step_drain_s=10)
    result = await run_one("e2e", sizes, console=None, folder=tmp_path)

    mine = result.subjects["zaiban intake + tracking"]
    assert mine["followed"] == 20 and mine["unfinished"] == 0
    # what each case cost each process, in CPU: the figure the capacity plan scales
    assert mine["intake_cpu_ms_per_case"] > 0 and mine["tracking_cpu_ms_per_case"] > 0
    # the rates in turn, up to the first past the knee (on a busy machine even 10 a second
    # may be): every step before the last one passed, and the knee is the last that did
    offered = [row["rate/s"] for row in result.rows]
    assert offered == [10, 20][:len(offered)] and offered
    passed = [row["p99 ms"] < e2e.KNEE_P99_MS and row["unfinished"] == 0
              and row["unseen"] == 0 and row["refused"] == 0
              for row in result.rows]
    assert all(passed[:-1])
    for row in result.rows:
        assert row["followed"] + row["unseen"] + row["unfinished"] >= 1
        assert 0 < row["p50 ms"] <= row["p99 ms"]
    knee = max((r for r, ok in zip(offered, passed, strict=True) if ok), default=math.nan)
    assert mine["knee_per_s"] == knee or (math.isnan(mine["knee_per_s"]) and math.isnan(knee))
    [target] = [c for c in result.checks if c.name == "e2e p99 at 10 cases/s"]
    assert target.target == 100
    # both services and the baseline ran as processes of their own: each one's peak memory
    assert {"bare-pipeline", "intake", "tracking"} <= set(result.peak_rss_mb)
    assert all(50 < mb < 1000 for mb in result.peak_rss_mb.values())


async def test_scale_counts_the_cpu_each_event_costs_one_and_two_instances(
        stack: StackInfo, tmp_path: Path) -> None:
    result = await run_one("scale", scale.Sizes(cases=30, timeout_s=120), console=None,
                           folder=tmp_path)

    one, two = result.subjects["tracking x1 (baseline)"], result.subjects["tracking x2"]
    for figures in (one, two):
        assert figures["cpu_s"] > 0
        assert figures["cpu_s_per_1000_events"] == 1000 * figures["cpu_s"] / figures["events"]
    assert {c.name for c in result.checks} == {
        "two instances / one, events per second",
        "CPU s per 1,000 events, two instances vs one (difference)"}
    assert set(result.peak_rss_mb) == {"tracking x1", "tracking x2", "tracking x2 #2",
                                       "bench process"}


async def test_memory_reports_each_service_after_the_history_and_after_a_restart(
        stack: StackInfo, tmp_path: Path) -> None:
    sizes = memory.Sizes.scaled(12, services=("tracking",), timeout_s=120, settle_s=1)
    result = await run_one("memory", sizes, console=None, folder=tmp_path)

    log = result.subjects["case event log"]
    assert log["cases"] == 12 and 5 < log["events_per_case"] < 12
    assert 200 < log["bytes_per_event"] < 5000
    rows = {row["service"]: row for row in result.rows}
    tracking = rows["tracking"]
    assert tracking["peak MB"] == max(tracking["peak MB consuming"],
                                      tracking["peak MB restarted"]) > 50
    assert tracking["store MB"] > 0 and tracking["documents"] >= 12
    [check] = result.checks
    assert (check.name, check.target) == ("tracking peak memory at 12 cases", 300)
    assert {"tracking", "tracking #2"} <= set(result.peak_rss_mb)
async def test_lifecycle_takes_cases_every_way_through_the_services_to_the_articles_share(
        stack: StackInfo, tmp_path: Path) -> None:
    # 14 cases: every way in and out of the mix is taken at least once (case numbers pick
    # their ways), and 12 of 14 resolved is the article's share (25,807 of 30,148) rounded
    sizes = lifecycle.Sizes(cases=14, workers=14, within_s=60, figures_within_s=60)
    result = await run_one("lifecycle", sizes, console=None, folder=tmp_path)

    figures = result.subjects["figures (metrics)"]
    assert (figures["received"], figures["resolved"], figures["resolution_rate_pct"]) == (
        14, 12, 85.7)
    ways = result.subjects["ways"]
    assert figures["feedback"] == ways["answered satisfied"] + ways["answered disputed"]
    assert figures["satisfied"] == ways["answered satisfied"] > 0
    assert ways["answered disputed"] > 0  # fixed, not satisfied: a dispute for supervision
    assert {"submitted web", "submitted open311", "submitted bus",
            "answered by the department on the bus"} <= set(ways)
    # every client acted once told it could (a resident whose case was resolved on the bus
    # once the log says so): none asked a service again and again before it could answer
    assert result.subjects["client"]["waits"] == 0
    assert all(c.met for c in result.checks if not c.name.startswith("30,148")), result.checks
    rows = {row["what"]: row for row in result.rows}
    for stage in ("submitted", "accepted", "routed", "acknowledged", "resolved"):
        assert rows[f"stage {stage}"]["per_s"] > 0, stage
    assert (rows["stage submitted"]["n"], rows["stage resolved"]["n"]) == (14, 12)
    assert rows["command accept"]["n"] == 14 and rows["command accept"]["p99"] > 0
    assert set(result.params["lag"]["behind"]) == {
        "intake", "routing", "tracking", "metrics", "intake submissions", "routing replies"}
    # each service's store round trips, from its /metrics: every case costs intake and routing
    # a read of its write model at least once a command
    store = result.subjects["store commands per case"]
    assert store["intake"] > 1 and store["routing"] > 3, store
    assert store["tracking"] > 0 and store["metrics"] > 0, store
    # the CPU of every process the run kept busy: the services, the store, the broker and the
    # load generator, and their sum, which cannot keep more cores busy than the machine has
    cpu = result.subjects["CPU ms per case"]
    measured = ("intake", "routing", "tracking", "metrics", "store", "kafka", "load generator")
    assert all(cpu[name] > 0 for name in measured), cpu
    assert cpu["all"] == pytest.approx(sum(cpu[name] for name in measured[:4]))
    assert cpu["machine"] == pytest.approx(sum(cpu[name] for name in measured))
    assert 0 < cpu["cores busy"] <= 1.1 * (os.cpu_count() or 1), cpu
    drawn = await asyncio.to_thread(Path(result.params["plot"]).read_bytes)  # rates and lag
    assert drawn.startswith(b"\x89PNG") and len(drawn) > 10_000
