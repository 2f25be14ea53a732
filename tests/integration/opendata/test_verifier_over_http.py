"""The verifier over real HTTP: a city's open data and figures served on loopback
(http.server in a thread), read the way a journalist's run reads them — the manifest, every
day file, the feed page after page by its `Link: rel="next"`, the figures — and judged.

The site serves the demo city: its lines in the spec's shapes, the days published up to
the day before "now" (the later lines are in the feed only), and the figures as the metrics
service's own fold, report and routes answer them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opendatafixtures import (
    CITY,
    DEMO_PUBLISHED_THROUGH,
    TZ,
    OpenDataSite,
    demo_records,
    feed_line,
    published_days,
    published_figures,
    serving,
)
from typer.testing import CliRunner

from zaiban import verify_open_data as verifier
from zaiban.cli import app


@pytest.fixture(scope="module")
def demo_site_parts() -> tuple[list[dict[str, object]], dict[str, object]]:
    records = demo_records()
    return [feed_line(r, TZ) for r in records], published_figures(records, CITY, TZ, 30)


@pytest.fixture
def site(demo_site_parts: tuple[list[dict[str, object]], dict[str, object]]) -> OpenDataSite:
    """A fresh copy of the demo city's site (a test may forge it)."""
    lines, figures = json.loads(json.dumps(demo_site_parts))
    return OpenDataSite(lines, published_days(lines, DEMO_PUBLISHED_THROUGH), static=figures,
                        page_cap=400)


@pytest.fixture
def city(site: OpenDataSite) -> Iterator[str]:
    with serving(site) as base_url:
        yield base_url


def run(base_url: str, *args: str) -> tuple[int, str]:
    said: list[str] = []
    code = verifier.main(["--from", base_url, "--timezone", "Asia/Shanghai", *args],
                         echo=said.append)
    return code, "\n".join(said)


def test_the_demo_city_verifies_every_figure_through_the_paged_feed(
        city: str, site: OpenDataSite) -> None:
    report = verifier.verify(city, timezone_name="Asia/Shanghai")
    assert report.ok, verifier.render(report)
    assert report.chain_break is None and report.problems == []
    assert report.days[0] <= "2026-10-15" and report.days[-1] == "2026-11-25"
    assert report.feed_lines == report.counted_lines == len(site.lines)
    assert site.pages_served >= len(site.lines) // 400 + 1  # every page, then the empty one
    assert len(report.checks) > 2000 and report.mismatches == []

    code, said = run(city)
    assert code == 0
    assert "unbroken ✓" in said and said.splitlines()[-1].startswith("OK: all ")
    received = site.static["/api/stats/summary"]["received"]
    assert any(line.split()[:3] == ["summary", "received", str(received)] and
               line.split()[3:] == [str(received), "✓"] for line in said.splitlines())


def test_zaiban_verify_runs_the_same_against_the_address_given_or_the_local_stack(
        city: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = CliRunner().invoke(app, ["verify", "--from", city, "--timezone", "+08:00"])
    assert ran.exit_code == 0, ran.output
    assert ran.output.splitlines()[-1].startswith("OK: all ")

    monkeypatch.setenv("ZAIBAN_HOST", "127.0.0.1")
    monkeypatch.setenv("ZAIBAN_PUBLIC_PORT", "9")  # the local stack's public entry, not up
    ran = CliRunner().invoke(app, ["verify"])
    assert ran.exit_code == 2
    assert ran.output.startswith("cannot verify: http://127.0.0.1:9/api/stats/definitions")


def test_a_published_figure_that_is_not_what_the_lines_say_fails_and_is_shown(
        city: str, site: OpenDataSite) -> None:
    breakdown = site.static["/api/stats/breakdown/district"]
    row = breakdown["rows"][0]
    row["resolved"] += 1  # the dashboard says one more resolved case than the history holds
    code, said = run(city)
    assert code == 1
    assert f"district {row['code']} resolved" in said and "✗" in said
    assert said.splitlines()[-1].startswith("NOT VERIFIED: 1 of ")


def test_a_rewritten_day_is_reported_on_that_day(city: str, site: OpenDataSite) -> None:
    entries = site.days.manifest["days"]
    day = next(e["day"] for e in entries[5:]
               if b'"satisfied":false' in site.days.files[e["day"]])
    site.days.files[day] = site.days.files[day].replace(b'"satisfied":false',
                                                        b'"satisfied":true', 1)
    code, said = run(city)
    assert code == 1
    assert f"BROKEN ✗ at {day}: its file does not hash" in said
    assert "NOT VERIFIED: the chain breaks at " + day in said


def test_a_history_rewritten_and_chained_again_differs_from_the_head_kept_and_the_feed(
        city: str, site: OpenDataSite) -> None:
    kept = site.days.manifest["head"]
    day = site.days.manifest["days"][10]["day"]
    taken = json.loads(site.days.files[day].split(b"\n", 1)[0])["position"]
    site.days.files[day] = site.days.files[day].split(b"\n", 1)[1]  # an event taken out
    site.days.rechain()
    code, said = run(city, "--head", kept)
    assert code == 1
    assert "unbroken ✓" in said  # consistent in itself ...
    assert f"the head you kept ({kept[:12]}...) is not in the chain" in said  # ... but not the one kept
    assert f"1 lines of published days are in no published file (first: {taken} of {day})" \
        in said


def test_a_line_that_came_in_while_its_day_was_published_is_found_in_the_next_days_file(
        city: str, site: OpenDataSite) -> None:
    entries = site.days.manifest["days"]
    day, following = entries[20]["day"], entries[21]["day"]
    first, rest = site.days.files[day].split(b"\n", 1)
    site.days.files[day] = rest  # published without it: it moved on, its text unchanged
    site.days.files[following] = first + b"\n" + site.days.files[following]
    last = entries[-1]["day"]
    _straggler, kept = site.days.files[last].split(b"\n", 1)
    site.days.files[last] = kept  # the last day's straggler: in the next file, not out yet
    site.days.rechain()

    report = verifier.verify(city, timezone_name="Asia/Shanghai")
    assert report.ok, verifier.render(report)
    assert report.notes == [f"1 lines of {last} came in while it was being published: "
                            "they go to the next day's file"]

    site.days.files[day] = first + b"\n" + site.days.files[day]  # now in two files
    site.days.rechain()
    report = verifier.verify(city, timezone_name="Asia/Shanghai")
    assert report.problems == [f"day {following}: its file holds 0 lines the feed does not "
                               "have, 1 lines of another day's file, 0 lines of a later day"]


def test_a_feed_line_without_what_the_figures_need_is_refused_by_name(
        city: str, site: OpenDataSite) -> None:
    del site.lines[3]["seq"]
    code, said = run(city)
    assert code == 2
    assert said.startswith(f"cannot verify: {city}/open-data/events.ndjson?limit=5000, "
                           "line 4: not a feed line (no seq)")


def test_a_city_that_cannot_be_read_is_said_plainly(city: str, site: OpenDataSite) -> None:
    code, said = run("http://127.0.0.1:9")
    assert code == 2 and said.startswith("cannot verify: http://127.0.0.1:9/")
    assert "Traceback" not in said

    del site.static["/api/stats/ranking?by=on_time"]
    code, said = run(city)
    assert code == 2
    assert said == (f"cannot verify: {city}/api/stats/ranking?by=on_time: "
                    "the city answered HTTP 404 Not Found")
