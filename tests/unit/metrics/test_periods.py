"""Figures by period: the periods a reader may ask for, and the counters kept by submission day.

Pure: the period a query names, and the fold's changes by day, which must give
for any period what counting only that period's cases gives, under any
batching and redelivery.
"""

from __future__ import annotations

import json
import random
import zlib
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from unit.metrics.metrics_stories import city_of_cases, lean_cases

from contracts.envelope import Envelope
from services.metrics.daily import DayCounters, add_days, by_month, in_period
from services.metrics.ledger import Ledger, Positioned, fold, fold_days, fold_envelopes
from services.metrics.marks import city_day
from services.metrics.periods import ALL_TIME, Period, PeriodError, period_of
from services.metrics.reading import counted
from services.metrics.report import Figures, ranking, too_few_cases

TZ = ZoneInfo("Asia/Shanghai")
WINDOW = 1 << 40


# --- the periods a reader may ask for -------------------------------------------------------------


@pytest.mark.parametrize(("asked", "first", "last"), [
    ("2026", date(2026, 1, 1), date(2026, 12, 31)),
    ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
    ("2026-q4", date(2026, 10, 1), date(2026, 12, 31)),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    ("2026-10", date(2026, 10, 1), date(2026, 10, 31)),
    ("2026-10-06", date(2026, 10, 6), date(2026, 10, 6)),
])
def test_a_year_a_quarter_a_month_and_a_day_name_their_first_and_last_days(
        asked: str, first: date, last: date) -> None:
    assert period_of(period=asked) == Period(first, last)


def test_from_takes_the_first_day_and_to_the_last_day_of_what_they_name() -> None:
    assert period_of(from_="2026-10", to="2026-12") == period_of(period="2026-Q4")
    assert period_of(from_="2026-09-15", to="2026-09") == Period(date(2026, 9, 15),
                                                                 date(2026, 9, 30))
    assert period_of(from_="2026-10-06") == Period(date(2026, 10, 6), None)
    assert period_of(to="2025") == Period(None, date(2025, 12, 31))


def test_no_period_is_all_time() -> None:
    assert period_of() == ALL_TIME and ALL_TIME.all_time
    assert period_of(period="", from_=" ", to=None).all_time


@pytest.mark.parametrize(("asked", "parameter", "says"), [
    ({"from_": "2026-11-01", "to": "2026-10-31"}, "from", "after"),
    ({"period": "2026-Q5"}, "period", "no quarter 5"),
    ({"period": "2026-13"}, "period", "no month 13"),
    ({"to": "2026-02-30"}, "to", "not a day"),
    ({"from_": "last week"}, "from", "is not a period"),
    ({"period": "2026", "from_": "2026-01"}, "period", "not both"),
])
def test_a_period_that_cannot_be_read_names_its_parameter(
        asked: dict[str, str], parameter: str, says: str) -> None:
    with pytest.raises(PeriodError, match=says) as refused:
        period_of(**asked)
    assert refused.value.parameter == parameter


def test_a_period_lists_the_months_it_touches() -> None:
    assert list(period_of(from_="2025-11-20", to="2026-02-03").months()) == [
        "2025-11", "2025-12", "2026-01", "2026-02"]
    assert period_of(period="2026-10").covers("2026-10-31")
    assert not period_of(period="2026-10").covers("2026-11-01")


# --- the counters by submission day ---------------------------------------------------------------


def submission_day(envelopes: list[Envelope]) -> dict[str, str]:
    return {e.case_id: city_day(e.facts.submitted_at, TZ) for e in envelopes}


def recount(envelopes: list[Envelope], period: Period) -> dict[str, int]:
    """The whole-time counters of only the cases submitted in `period`: what the period's
    figures must be."""
    days = submission_day(envelopes)
    return fold_envelopes([e for e in envelopes if period.covers(days[e.case_id])], TZ).counters


def test_a_months_figures_are_those_of_the_cases_submitted_in_it_and_the_months_sum_to_all_time(
        ) -> None:
    envelopes, _ = city_of_cases(400, 300, seed=31)  # 60 days up to 2026-10-12
    days = fold_days(envelopes, TZ)
    months = sorted(by_month(days))
    assert months == ["2026-08", "2026-09", "2026-10"]
    for month in months:
        period = period_of(period=month)
        assert in_period([days], period) == recount(envelopes, period)
    assert in_period([days], ALL_TIME) == fold_envelopes(envelopes, TZ).counters
    by_months = [in_period([days], period_of(period=m)) for m in months]
    summed = {k: sum(part.get(k, 0) for part in by_months) for k in set().union(*by_months)}
    assert {k: v for k, v in summed.items() if v} == fold_envelopes(envelopes, TZ).counters


def test_a_case_resolved_in_the_next_month_changes_the_figures_of_the_month_it_was_submitted(
        ) -> None:
    envelopes, _ = city_of_cases(300, 250, seed=32)
    days = submission_day(envelopes)
    late = [e for e in envelopes if e.type == "CaseResolved"
            and city_day(e.occurred_at, TZ)[:7] > days[e.case_id][:7]]
    assert late, "the story has resolutions after the month of submission"
    september = period_of(period="2026-09")
    figures = Figures.of(in_period([fold_days(envelopes, TZ)], september)).overall()
    assert figures.resolved == Figures.of(recount(envelopes, september)).overall().resolved
    assert figures.resolution_time is not None
    assert figures.resolution_time.cases == figures.resolved


def test_any_batching_redelivery_and_duplicates_give_the_days_one_replay_gives() -> None:
    envelopes, _ = city_of_cases(150, 100, seed=33)
    replayed = fold_days(envelopes, TZ)
    doubled = envelopes + envelopes[::3]  # records published twice, later in the log
    rng = random.Random(5)
    ledger, days, position = Ledger(), DayCounters(), 0
    while position < len(doubled):
        start = max(0, position - rng.randrange(0, 25))  # redelivered after a crash
        end = min(len(doubled), position + rng.randrange(1, 50))
        folded = fold(ledger, [Positioned(i, counted(doubled[i])) for i in range(start, end)],
                      TZ, WINDOW)
        ledger, days = folded.ledger, add_days(days, folded.day_deltas)
        assert in_period([days], ALL_TIME) == ledger.counters
        position = end
    assert days == replayed


def test_the_days_of_30148_cases_over_three_years_fit_in_small_month_documents() -> None:
    envelopes, _ = lean_cases(30148, 25807, over_days=3 * 365)  # the article's: ~27 a day
    partitions = 3
    sizes = []
    for partition in range(partitions):
        mine = [e for e in envelopes if hash(e.case_id) % partitions == partition]
        for days in by_month(fold_days(mine, TZ)).values():
            sizes.append(len(zlib.compress(json.dumps(days, separators=(",", ":")).encode(), 1)))
    print(f"\n{len(sizes)} month documents, {max(sizes):,} bytes at most, "
          f"{sum(sizes) // len(sizes):,} on average, {sum(sizes):,} in all")
    assert max(sizes) < 32_000


# --- the ranking's minimum ------------------------------------------------------------------------


def test_the_ranking_leaves_out_departments_with_fewer_cases_than_the_minimum_and_says_which(
        ) -> None:
    envelopes, _ = city_of_cases(120, 90, seed=34)
    figures = Figures.of(fold_envelopes(envelopes, TZ).counters)
    received = {code: row.received for code, row in figures.breakdown("department")}
    cut = sorted(received.values())[len(received) // 2]
    ranked = {code for _, code, _ in ranking(figures, "resolution", min_cases=cut)}
    skipped = dict(too_few_cases(figures, cut))
    assert ranked == {c for c, n in received.items() if n >= cut and c != "_none"}
    assert skipped == {c: n for c, n in received.items() if 0 < n < cut and c != "_none"}
    assert ranked and skipped
