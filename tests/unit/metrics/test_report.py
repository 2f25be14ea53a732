"""From counters to published figures: exact rates, breakdowns that add up, the ranking."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from unit.metrics.metrics_stories import city_of_cases

from services.metrics.definitions import DIMENSIONS, NO_DEPARTMENT
from services.metrics.ledger import fold_envelopes
from services.metrics.report import Figures, ranking, rate_parts

TZ = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("resolved_count", "received", "pct", "whole"), [
    (3960, 4314, 91.8, 92),
    (25807, 30148, 85.6, 86),
    (1, 8, 12.5, 13),       # half up, exactly
    (1, 3, 33.3, 33),
    (2, 3, 66.7, 67),
    (0, 5, 0.0, 0),
    (5, 5, 100.0, 100),
])
def test_rates_are_exact_fractions_rounded_half_up(resolved_count: int, received: int,
                                                   pct: float, whole: int) -> None:
    exact, one_decimal, whole_percent = rate_parts(resolved_count, received)
    assert exact == resolved_count / received
    assert (one_decimal, whole_percent) == (pct, whole)


def test_a_rate_of_nothing_is_undefined_not_zero() -> None:
    assert rate_parts(0, 0) == (None, None, None)


def test_every_breakdown_sums_to_the_total() -> None:
    envelopes, expected = city_of_cases(300, 200, seed=11)
    figures = Figures.of(fold_envelopes(envelopes, TZ).counters)
    overall = figures.overall()
    assert (overall.received, overall.resolved, overall.on_time) == (
        expected.received, expected.resolved, expected.on_time)
    assert (overall.feedback, overall.satisfied) == (expected.feedback, expected.satisfied)
    for dimension in DIMENSIONS:
        rows = [row for _, row in figures.breakdown(dimension)]
        for field in ("received", "accepted", "resolved", "on_time", "open", "feedback",
                      "satisfied", "rejected"):
            assert sum(getattr(row, field) for row in rows) == getattr(overall, field), (
                dimension, field)
        if dimension != "day":
            assert sum(row.first_response.cases for row in rows
                       if row.first_response) == overall.first_response.cases  # type: ignore[union-attr]


def test_days_come_in_date_order_and_other_breakdowns_by_size_with_known_zero_rows() -> None:
    envelopes, _ = city_of_cases(100, 50, seed=12)
    figures = Figures.of(fold_envelopes(envelopes, TZ).counters)
    days = [day for day, _ in figures.breakdown("day")]
    assert days == sorted(days)
    categories = figures.breakdown("category", known=["no-such-category"])
    assert [row.received for _, row in categories] == sorted(
        (row.received for _, row in categories), reverse=True)
    assert dict(categories)["no-such-category"].received == 0


def test_departments_are_ranked_by_the_chosen_rate_then_the_others_with_shared_ranks() -> None:
    def dept(code: str, resolved_: int, received: int, on_time: int = 0,
             satisfied: int = 0, answers: int = 0) -> dict[str, int]:
        g = f"department={code}"
        return {f"received|{g}": received, f"resolved|{g}": resolved_,
                f"on_time|{g}": on_time, f"satisfied|{g}": satisfied,
                f"feedback|{g}": answers}

    counters = {**dept("a", 9, 10, on_time=9), **dept("b", 9, 10, on_time=9),
                **dept("c", 18, 20, on_time=9), **dept("d", 0, 3), **dept("e", 1, 1),
                f"received|department={NO_DEPARTMENT}": 50}
    ranked = [(rank, code) for rank, code, _ in ranking(Figures.of(counters), "resolution")]
    # e: 100%; c: 90% and on time 50%; a, b: 90% and 100% on time -> before c; d: 0%
    assert ranked == [(1, "e"), (2, "a"), (2, "b"), (4, "c"), (5, "d")]
    by_on_time = [code for _, code, _ in ranking(Figures.of(counters), "on_time")]
    assert by_on_time[-1] == "d"  # no resolution, no on-time rate: last
    assert NO_DEPARTMENT not in by_on_time
