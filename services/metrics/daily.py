"""The counters by submission day: what the figures of a period are summed from.

Each case's contribution (`marks.py`) is counted twice: in the whole-time
counters, as before, and under the day it was submitted (city time), so that
the figures of any range of days are the sum of those days' counters::

    {"2026-10-06": {"received|all=*": 27, "resolved|category=roads": 3, "rt#140|all=*": 2, ...},
     "2026-10-07": {...}}

A case's submission day never changes, so a later event of the case (its
resolution, a reopen, the resident's answer) moves counters of that same day:
the figures of a period are those of the cases submitted in it, as they are now.
Days are kept together by month (`by_month`), the unit the store reads and writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.metrics.periods import Period

DayCounters = dict[str, dict[str, int]]
"""Day (`YYYY-MM-DD`) -> counter key -> count (or change of count)."""


def month_of(day: str) -> str:
    return day[:7]


def by_month(days: Mapping[str, Mapping[str, int]]) -> dict[str, DayCounters]:
    """The days grouped by their month (`YYYY-MM`)."""
    months: dict[str, DayCounters] = {}
    for day, counters in days.items():
        if counters:
            months.setdefault(month_of(day), {})[day] = dict(counters)
    return months


def add_days(stored: Mapping[str, Mapping[str, int]],
             change: Mapping[str, Mapping[str, int]]) -> DayCounters:
    """`stored` plus `change`, without the counters (and days) that come to zero."""
    total: DayCounters = {day: dict(counters) for day, counters in stored.items()}
    for day, deltas in change.items():
        counters = total.setdefault(day, {})
        for k, v in deltas.items():
            now = counters.get(k, 0) + v
            if now:
                counters[k] = now
            else:
                counters.pop(k, None)
        if not counters:
            del total[day]
    return total


def in_period(parts: Iterable[Mapping[str, Mapping[str, int]]], period: Period) -> dict[str, int]:
    """The counters of the cases submitted in `period`, summed over `parts` (days by month,
    partitions ...): the same keys as the whole-time counters, read by `report.Figures`."""
    total: dict[str, int] = {}
    for days in parts:
        for day, counters in days.items():
            if period.covers(day):
                for k, v in counters.items():
                    total[k] = total.get(k, 0) + v
    return {k: v for k, v in total.items() if v}
