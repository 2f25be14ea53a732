"""The verifier (`zaiban/verify_open_data.py`) recomputes every published figure from the
feed lines alone, and finds where a rewritten history breaks the chain.

Given a city's history told by the project's own deciders (the demo city), the metrics
service's own fold, report and routes say what is published; the verifier, knowing only
the lines, must say exactly the same, figure by figure.
"""

from __future__ import annotations

import ast
import json
import random
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from opendatafixtures import (
    CITY,
    DEMO_PUBLISHED_THROUGH,
    TZ,
    Record,
    demo_records,
    feed_line,
    line_text,
    logged,
    published_days,
    published_figures,
)
from unit.metrics.metrics_stories import lean_cases

from services.metrics import histograms, report
from zaiban import verify_open_data as verifier

MIN_CASES = 30
"""High enough that the demo city's smallest departments are left out of the ranking."""


def lines_of(records: list[Record]) -> list[verifier.Line]:
    return [verifier.Line(line_text(line), line)
            for line in (feed_line(record, TZ) for record in records)]


def as_published(answers: dict[str, object]) -> dict[str, object]:
    """The metrics answers by path, named as the verifier compares them."""
    return {name: answers[path] for name, path in verifier.FIGURE_PATHS.items()}


def test_the_verifier_needs_nothing_but_python_and_runs_outside_the_repository(
        tmp_path: Path) -> None:
    source = Path(verifier.__file__)
    tree = ast.parse(source.read_text(), feature_version=(3, 9))  # no newer syntax
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported

    alone = tmp_path / "verify_open_data.py"
    shutil.copy(source, alone)
    ran = subprocess.run([sys.executable, "-I", str(alone), "--help"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0 and "--from" in ran.stdout, ran.stderr


def test_the_verifiers_own_arithmetic_is_the_metrics_services_to_the_last_bit() -> None:
    """It restates buckets, quantiles and rounding (it may not import zaiban): the same."""
    rng = random.Random(16)
    for seconds in [0, 0.5, 1, 2 ** 0.125, 59.999, 3600, 86400 * 7,
                    *(rng.uniform(0, 3e7) for _ in range(2000))]:
        assert verifier.bucket_of(seconds) == histograms.bucket_of(seconds)
    for _ in range(300):
        histogram = {b: rng.randint(0, 9) for b in rng.sample(range(-1, 200), rng.randint(1, 12))}
        for q in (0.5, 0.9):
            assert verifier.quantile(histogram, q) == histograms.quantile(histogram, q)
    for numerator, denominator in [(25807, 30148), (3960, 4314), (1, 8), (0, 0), (5, 0),
                                   *((rng.randint(0, 999), rng.randint(1, 999))
                                     for _ in range(2000))]:
        assert verifier.rate_parts(numerator, denominator) == report.rate_parts(
            numerator, denominator)


def test_every_figure_of_the_demo_city_is_recomputed_exactly_from_its_lines() -> None:
    records = demo_records()
    # a record published twice (an outbox relayed again): the figures count it once
    answer = next(r for r in records if r.envelope.type == "FeedbackGiven")
    last = max(r.offset for r in records if r.partition == answer.partition)
    records.append(Record(answer.partition, last + 1, answer.envelope))

    published = as_published(published_figures(records, CITY, TZ, MIN_CASES))
    sections = verifier.compare(published, verifier.tally_lines(lines_of(records), TZ))

    wrong = [check for section in sections for check in section.checks if not check.ok]
    assert wrong == []
    checked = {section.title.split(" (")[0]: len(section.rows) for section in sections}
    assert set(checked) == {"summary", "by category", "by district", "by channel",
                            "by department", "by day", "ranking by resolution",
                            "ranking by on_time", "ranking by satisfaction"}
    summary = published["summary"]
    assert isinstance(summary, dict)
    assert summary["received"] > 280 and summary["feedback"] > 100 and summary["unanswered"] > 5
    assert summary["reopened"] > 0 and summary["resolution_time"]["median_h"] is not None
    ranking = published["ranking/resolution"]
    assert isinstance(ranking, dict) and ranking["departments"] and ranking["skipped"]
    assert sum(len(section.checks) for section in sections) > 2000


def test_a_figure_that_differs_is_named_with_both_values() -> None:
    records = demo_records()
    published = as_published(published_figures(records, CITY, TZ))
    lines = lines_of(records)
    dropped = next(i for i, line in enumerate(lines) if line.data["type"] == "FeedbackGiven"
                   and line.data["what"]["satisfied"])
    satisfied_case = lines[dropped].data
    without = lines[:dropped] + lines[dropped + 1:]  # one answer missing from the feed

    wrong = [check for section in verifier.compare(published, verifier.tally_lines(without, TZ))
             for check in section.checks if not check.ok]
    names = {check.figure for check in wrong}
    assert {"summary feedback", "summary satisfied", "summary satisfaction_rate",
            f"category {satisfied_case['facts']['category']} satisfied"} <= names
    summary = next(check for check in wrong if check.figure == "summary satisfied")
    assert summary.published == summary.recomputed + 1


def test_the_articles_volume_gives_its_resolution_rate_of_85_6_percent() -> None:
    envelopes, _ = lean_cases(30148, 25807)
    records = logged(envelopes)
    groups = verifier.tally_lines([verifier.Line("", feed_line(r, TZ)) for r in records], TZ)
    summary = verifier.overall(groups)
    assert (summary["received"], summary["resolved"]) == (30148, 25807)
    assert summary["resolution_rate_pct"] == 85.6 and summary["resolution_rate_whole"] == 86

    published = published_figures(records, CITY, TZ)["/api/stats/summary"]
    checks = verifier.row_checks("summary", published, summary)
    assert [check for check in checks if not check.ok] == []


def test_the_chain_names_the_first_day_a_rewritten_history_breaks() -> None:
    lines = [feed_line(record, TZ) for record in demo_records()]
    days = published_days(lines, through=DEMO_PUBLISHED_THROUGH)
    entries, files = days.manifest["days"], dict(days.files)
    assert verifier.check_chain(entries, files) is None
    assert days.manifest["head"] == entries[-1]["head"]

    # an old answer rewritten: "not satisfied" made "satisfied", in its day's file
    day = next(entry["day"] for entry in entries[5:] if b'"satisfied":false' in files[entry["day"]])
    forged = files[day].replace(b'"satisfied":false', b'"satisfied":true', 1)
    broken = verifier.check_chain(entries, {**files, day: forged})
    assert broken is not None and broken.day == day and "does not hash" in broken.reason

    # the forger fixes that day's hash and head: the next day no longer follows it
    index = next(i for i, entry in enumerate(entries) if entry["day"] == day)
    covered = [dict(entry) for entry in entries]
    covered[index]["sha256"] = verifier.sha256_hex(forged)
    covered[index]["head"] = verifier.chain_head(covered[index]["previous"], day,
                                                 covered[index]["sha256"])
    broken = verifier.check_chain(covered, {**files, day: forged})
    assert broken is not None and broken.day == entries[index + 1]["day"]
    assert "previous" in broken.reason

    # a day taken out of the manifest
    gap = [entry for entry in entries if entry["day"] != entries[3]["day"]]
    broken = verifier.check_chain(gap, files)
    assert broken is not None and broken.day == entries[4]["day"] and "missing" in broken.reason


def test_each_day_file_holds_its_lines_as_their_canonical_text() -> None:
    lines = [feed_line(record, TZ) for record in demo_records()]
    days = published_days(lines, through=DEMO_PUBLISHED_THROUGH)
    first = next(content for content in days.files.values() if content)
    text = first.decode().split("\n")[0]
    assert text == json.dumps(json.loads(text), ensure_ascii=False, sort_keys=True,
                              separators=(",", ":"))


def test_moments_read_as_any_python_from_39_would_read_them() -> None:
    assert verifier.moment("2026-10-06T00:40:00.12Z") == datetime(2026, 10, 6, 0, 40, 0, 120000,
                                                                  tzinfo=UTC)
    assert verifier.moment("2026-10-06T08:40:00+08:00") == datetime(2026, 10, 6, 0, 40,
                                                                    tzinfo=UTC)
