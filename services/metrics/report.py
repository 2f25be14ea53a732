"""From the summed counters to what the API and the CSV publish.

`Figures.of(counters)` groups the counters (`Tally` per group), and gives a
`Row` per group: counts, rates (exact, and rounded half up) and duration
estimates; the overall row, the breakdowns, and `ranking` of departments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.metrics.counters import ALL, FIRST_RESPONSE, RESOLUTION_TIME, parse_key
from services.metrics.definitions import NO_DEPARTMENT, Dimension
from services.metrics.histograms import quantile


def rate_parts(numerator: int, denominator: int) -> tuple[float | None, float | None, int | None]:
    """(exact fraction, percent to one decimal, whole percent); rounded half up, exactly."""
    if denominator <= 0:
        return None, None, None
    tenths = (numerator * 2000 + denominator) // (2 * denominator)
    whole = (numerator * 200 + denominator) // (2 * denominator)
    return numerator / denominator, tenths / 10, whole


class Durations(BaseModel):
    """Median and 90th percentile of a duration, estimated from its histogram."""

    model_config = ConfigDict(frozen=True)

    cases: int = Field(description="How many cases the durations are of.")
    median_s: float | None
    p90_s: float | None
    median_h: float | None
    p90_h: float | None

    @classmethod
    def of(cls, histogram: Mapping[int, int]) -> Durations:
        median, p90 = quantile(histogram, 0.5), quantile(histogram, 0.9)
        return cls(
            cases=sum(histogram.values()),
            median_s=None if median is None else round(median, 1),
            p90_s=None if p90 is None else round(p90, 1),
            median_h=None if median is None else round(median / 3600, 2),
            p90_h=None if p90 is None else round(p90 / 3600, 2),
        )


class Row(BaseModel):
    """The figures of one group of cases (all of them, or one category, day, ...)."""

    received: int
    accepted: int
    rejected: int
    merged: int
    open: int
    resolved: int
    resolution_rate: float | None
    resolution_rate_pct: float | None
    resolution_rate_whole: int | None
    on_time: int
    on_time_rate: float | None
    on_time_rate_pct: float | None
    on_time_rate_whole: int | None
    feedback: int
    satisfied: int
    satisfaction_rate: float | None
    satisfaction_rate_pct: float | None
    satisfaction_rate_whole: int | None
    unanswered: int
    resolved_ever: int
    reopened: int
    reopen_rate: float | None
    reopen_rate_pct: float | None
    reopen_rate_whole: int | None
    first_response: Durations | None = None
    resolution_time: Durations | None = None
    resolved_on: int | None = Field(default=None, description="Day rows only.")


RATES: tuple[tuple[str, str, str], ...] = (
    ("resolution_rate", "resolved", "received"),
    ("on_time_rate", "on_time", "resolved"),
    ("satisfaction_rate", "satisfied", "feedback"),
    ("reopen_rate", "reopened", "resolved_ever"),
)
COUNTS = ("received", "accepted", "rejected", "merged", "open", "resolved", "on_time",
          "feedback", "satisfied", "unanswered", "resolved_ever", "reopened")


@dataclass
class Tally:
    """One group's counters, parsed."""

    counts: Counter[str] = field(default_factory=Counter)
    first_response: Counter[int] = field(default_factory=Counter)
    resolution_time: Counter[int] = field(default_factory=Counter)

    def row(self, *, by_day: bool = False) -> Row:
        values: dict[str, Any] = {name: self.counts[name] for name in COUNTS}
        for name, numerator, denominator in RATES:
            exact, pct, whole = rate_parts(self.counts[numerator], self.counts[denominator])
            values.update({name: exact, f"{name}_pct": pct, f"{name}_whole": whole})
        if by_day:
            values["resolved_on"] = self.counts["resolved_on"]
        else:
            values["first_response"] = Durations.of(self.first_response)
            values["resolution_time"] = Durations.of(self.resolution_time)
        return Row(**values)


def tallies(counters: Mapping[str, int]) -> dict[tuple[str, str], Tally]:
    """The counters grouped: (dimension, value) -> Tally; ("all", "*") is every case."""
    groups: dict[tuple[str, str], Tally] = {}
    for text, count in counters.items():
        measure, dimension, value = parse_key(text)
        tally = groups.setdefault((dimension, value), Tally())
        name, _, bucket = measure.partition("#")
        if not bucket:
            tally.counts[name] += count
        elif name == FIRST_RESPONSE:
            tally.first_response[int(bucket)] += count
        elif name == RESOLUTION_TIME:
            tally.resolution_time[int(bucket)] += count
    return groups


@dataclass(frozen=True)
class Figures:
    """Everything the API publishes, from the summed counters."""

    groups: dict[tuple[str, str], Tally]

    @classmethod
    def of(cls, counters: Mapping[str, int]) -> Figures:
        return cls(tallies(counters))

    def overall(self) -> Row:
        return self.groups.get(ALL, Tally()).row()

    def breakdown(self, dimension: Dimension, known: Iterable[str] = ()) -> list[tuple[str, Row]]:
        """(value, row) for every value seen, plus the `known` ones with zero cases.

        Days in date order; other dimensions by received (most first), then code.
        """
        values = {v for d, v in self.groups if d == dimension} | set(known)
        by_day = dimension == "day"
        rows = [(v, self.groups.get((dimension, v), Tally()).row(by_day=by_day)) for v in values]
        if by_day:
            return sorted(rows, key=lambda item: item[0])
        return sorted(rows, key=lambda item: (-item[1].received, item[0]))


# --- the department ranking -----------------------------------------------------------------------


RankBy = Literal["resolution", "on_time", "satisfaction"]
RANK_ORDER: dict[str, tuple[str, ...]] = {
    "resolution": ("resolution_rate", "on_time_rate", "satisfaction_rate"),
    "on_time": ("on_time_rate", "resolution_rate", "satisfaction_rate"),
    "satisfaction": ("satisfaction_rate", "resolution_rate", "on_time_rate"),
}
_RATE_TERMS = {name: (numerator, denominator) for name, numerator, denominator in RATES}


def too_few_cases(figures: Figures, min_cases: int) -> list[tuple[str, int]]:
    """The departments left out of the ranking: fewer than `min_cases` cases received (in the
    figures' period), as (department, cases), by code. A rate of three cases says little, and
    a centre's assessment (考核) ranks only departments with enough cases to judge."""
    return sorted((v, t.counts["received"]) for (d, v), t in figures.groups.items()
                  if d == "department" and v != NO_DEPARTMENT
                  and 0 < t.counts["received"] < min_cases)


def ranking(figures: Figures, by: RankBy = "resolution",
            min_cases: int = 1) -> list[tuple[int, str, Row]]:
    """Departments ranked, best first: (rank, department, row); only those with at least
    `min_cases` cases received (`too_few_cases` names the others).

    Order: the chosen rate, then the other two in `RANK_ORDER`, then more cases
    resolved; rates are compared exactly (as fractions), and a department
    without a rate (nothing to divide) comes after every department with one.
    Departments equal on all of these share a rank (1, 2, 2, 4) and are listed
    by code. Cases no department is responsible for are not ranked.
    """

    def merit(tally: Tally) -> tuple[Any, ...]:
        """Smaller is better."""
        terms: list[Any] = []
        for name in RANK_ORDER[by]:
            numerator, denominator = _RATE_TERMS[name]
            den = tally.counts[denominator]
            has_rate = den > 0
            terms += [not has_rate, -Fraction(tally.counts[numerator], den) if has_rate else 0]
        terms.append(-tally.counts["resolved"])
        return tuple(terms)

    departments = sorted(
        ((merit(t), v, t) for (d, v), t in figures.groups.items()
         if d == "department" and v != NO_DEPARTMENT
         and t.counts["received"] >= max(1, min_cases)),
        key=lambda item: (item[0], item[1]),
    )
    ranked: list[tuple[int, str, Row]] = []
    previous: tuple[Any, ...] | None = None
    rank = 0
    for position, (current, code, tally) in enumerate(departments, start=1):
        if current != previous:
            rank, previous = position, current
        ranked.append((rank, code, tally.row()))
    return ranked
