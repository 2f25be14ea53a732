"""The arithmetic behind `zaiban bench`: percentiles, ratios, targets, the history's shape."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from contracts.envelope import Envelope
from contracts.facts import CaseStatus
from services.common.settings import CommonSettings
from services.intake.numbers import looks_like_case_number
from zaiban.bench.env import hot_spots
from zaiban.bench.reads import BASELINE, Timed, rows_of
from zaiban.bench.report import (
    Result,
    fmt,
    latency_summary,
    percentile,
    rate,
    ratio,
    rows_table,
    table,
    write,
)
from zaiban.bench.seed import ARTICLE_CASES, ARTICLE_RESOLVED, Sizes
from zaiban.bench.workload import (
    HISTORY_SECRET,
    SINCE,
    YEAR,
    case_id_for,
    is_resolved,
    varied_history,
)


def test_percentiles_interpolate_between_the_closest_ranks() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert percentile(list(range(1, 101)), 99) == 99.01
    assert percentile([3, 1, 2], 0) == 1 and percentile([3, 1, 2], 100) == 3
    assert math.isnan(percentile([], 50))


def test_latencies_are_summarised_in_milliseconds() -> None:
    figures = latency_summary([0.010, 0.020, 0.030], "visible_")
    assert figures == pytest.approx({"visible_p50_ms": 20.0, "visible_p95_ms": 29.0,
                                     "visible_p99_ms": 29.8, "visible_max_ms": 30.0})


def test_ratios_and_rates_say_nothing_rather_than_something_wrong() -> None:
    assert ratio(60, 100) == 0.6
    assert math.isnan(ratio(60, 0)) and math.isnan(ratio(math.nan, 100))
    assert rate(500, 2.0) == 250.0 and math.isnan(rate(5, 0))


def test_a_target_is_met_from_the_right_side() -> None:
    result = Result("intake", params={})
    assert result.check("ratio", 0.61, 0.60).met
    assert not result.check("ratio", 0.59, 0.60).met
    assert result.check("p99", 240.0, 250.0, " ms", "below").met
    assert not result.check("p99", 250.0, 250.0, " ms", "below").met
    assert not result.check("missing", math.nan, 1.0).met
    assert "at least 0.60" in result.checks[0].describe()


def test_figures_are_kept_as_json_without_nan(tmp_path: Path) -> None:
    result = Result("projections", params={"cases": 10})
    result.add("zaiban tracking", events_per_s=1234.5, p99_ms=math.nan)
    result.check("tracking / baseline", 0.8, 0.7)
    path = write(result, tmp_path)
    kept = json.loads(path.read_text())
    assert kept["subjects"]["zaiban tracking"] == {"events_per_s": 1234.5, "p99_ms": None}
    assert kept["checks"][0]["met"] is True
    assert kept["machine"]["cpus"] >= 1


def test_the_table_has_a_column_per_subject_and_a_row_per_figure() -> None:
    result = Result("intake", params={})
    result.add("baseline", per_s=100.0, p99_ms=12.0)
    result.add("zaiban intake", per_s=70.0)
    console = Console(width=120, record=True)
    console.print(table(result))
    text = console.export_text()
    assert "baseline" in text and "zaiban intake" in text and "per_s" in text
    assert fmt(12345.6) == "12,346" and fmt(0.5) == "0.50" and fmt(math.nan) == "–"


def test_the_history_resolves_exactly_the_share_asked_for() -> None:
    resolved = sum(is_resolved(i, ARTICLE_CASES, ARTICLE_RESOLVED) for i in range(ARTICLE_CASES))
    assert resolved == ARTICLE_RESOLVED
    scaled = Sizes.scaled(3000)
    assert (scaled.cases, scaled.resolved) == (3000, 2568)
    assert round(100 * scaled.resolved / scaled.cases, 1) == 85.6


def test_history_case_numbers_are_well_formed_and_distinct() -> None:
    ids = {case_id_for(i, SINCE) for i in range(5000)}
    assert len(ids) == 5000
    assert all(looks_like_case_number(i) for i in ids)


def test_a_profile_names_the_hottest_functions() -> None:
    collapsed = ("main (app.py:1);project (store.py:10);parse (bus.py:5) 30\n"
                 "main (app.py:1);project (store.py:10) 10\n"
                 "main (app.py:1);select (selectors.py:9) 60\n")
    spots = hot_spots(collapsed, top=3)
    assert spots["samples"] == 100
    assert spots["inclusive"][0] == ("main (app.py)", 100.0)
    assert ("project (store.py)", 40.0) in spots["inclusive"]
    assert spots["self"][0] == ("select (selectors.py)", 60.0)


def test_a_varied_history_holds_what_every_list_asks_for() -> None:
    until = datetime(2026, 11, 30, tzinfo=UTC)
    settings = CommonSettings(auth_secret=HISTORY_SECRET)
    records = varied_history(settings, 400, until=until, cache=False)

    envelopes = [Envelope.from_bytes(value) for _, value in records]
    last = {e.case_id: e for e in envelopes}  # each case's events in order: its last facts
    facts = [e.facts for e in last.values()]
    assert len(last) == 400
    assert {f.status for f in facts} == set(CaseStatus)
    assert any(f.overdue or f.response_overdue or f.triage_overdue for f in facts)
    assert any(f.escalated and f.status not in (CaseStatus.CLOSED, CaseStatus.RESOLVED)
               for f in facts)
    kinds = Counter(e.type for e in envelopes)
    assert kinds["ReporterAssigned"] and kinds["HandlerAssigned"] and kinds["CaseEscalated"]
    assert kinds["CaseMerged"] and kinds["CaseReturned"]
    disputed = [e for e in envelopes if e.type == "FeedbackGiven" and e.data["fixed"]
                and not e.data["satisfied"]]
    assert disputed
    # submitted over the year up to `until`, nothing after it
    assert min(f.submitted_at for f in facts) >= until - YEAR
    assert max(e.occurred_at for e in envelopes) <= until
    assert len({f.submitted_at.month for f in facts}) == 12
    assert len({f.channel for f in facts}) >= 4 and len({f.district for f in facts}) >= 5
    # the words the searches look for, inside sentences
    said = " ".join(e.data["description"] for e in envelopes if e.type == "CaseSubmitted")
    for word in ("红绿灯", "路灯", "井盖", "暖气", "共享单车", "LED"):
        assert said.count(word) >= 3, word


def test_reads_rows_compare_each_query_with_the_baseline_and_the_smaller_store() -> None:
    def timed(*ms: float) -> Timed:
        return Timed(latencies=[m / 1000 for m in ms], found=1, elapsed=1.0)

    runs = {3000: {BASELINE: timed(2, 2, 2), "public list": timed(10, 10, 10)},
            30148: {BASELINE: timed(3, 3, 3), "public list": timed(12, 12, 12)}}
    rows = {(row["query"], row["cases"]): row for row in rows_of(runs)}

    assert rows[("public list", 3000)]["×base p95"] == pytest.approx(5.0)
    assert rows[("public list", 3000)]["growth"] is None  # the smallest store: nothing to grow from
    assert rows[("public list", 30148)]["×base p95"] == pytest.approx(4.0)
    assert rows[("public list", 30148)]["growth"] == pytest.approx(1.2)
    assert rows[(BASELINE, 30148)]["growth"] == pytest.approx(1.5)
    console = Console(width=160, record=True)
    console.print(rows_table(Result("reads", params={}, rows=rows_of(runs))))
    text = console.export_text()
    assert "public list" in text and "growth" in text and "1.20" in text
