"""Periods: which cases a figure is of, by the day each case was submitted (city time).

A centre reviews its figures by month, quarter and year (考核). A period is a
range of days, both ends included; a case belongs to the period of the day it
was *submitted*, and its later acceptance, resolution or feedback changes the
figures of that period (a case submitted on 09-30 and resolved on 10-02 is
resolved in September's figures). Without a period the figures are of all time.

The forms a reader may write, for `period`, `from` and `to`::

    2026          the year            2026-01-01 .. 2026-12-31
    2026-Q4       the quarter         2026-10-01 .. 2026-12-31
    2026-10       the month           2026-10-01 .. 2026-10-31
    2026-10-06    the day

`from` takes the first day of what it names and `to` the last, so
`from=2026-10&to=2026-12` is the fourth quarter. Either end may be left out
(from the first case, up to the last). `period` and `from`/`to` do not mix.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

YEAR = re.compile(r"(\d{4})")
QUARTER = re.compile(r"(\d{4})-[Qq](\d)")
MONTH = re.compile(r"(\d{4})-(\d{2})")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
FORMS = "a day 2026-10-06, a month 2026-10, a quarter 2026-Q4 or a year 2026"


class PeriodError(ValueError):
    """A period that cannot be read; `parameter` names the query parameter at fault."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def span(text: str, parameter: str) -> tuple[date, date]:
    """The first and last day of what `text` names (a day, month, quarter or year)."""
    text = text.strip()
    if found := YEAR.fullmatch(text):
        year = int(found[1])
        return date(year, 1, 1), date(year, 12, 31)
    if found := QUARTER.fullmatch(text):
        year, quarter = int(found[1]), int(found[2])
        if not 1 <= quarter <= 4:
            raise PeriodError(parameter, f"{text!r}: there is no quarter {quarter} (Q1 to Q4)")
        first_month = 3 * quarter - 2
        return date(year, first_month, 1), date(year, first_month + 2,
                                                 monthrange(year, first_month + 2)[1])
    if found := MONTH.fullmatch(text):
        year, month = int(found[1]), int(found[2])
        if not 1 <= month <= 12:
            raise PeriodError(parameter, f"{text!r}: there is no month {month}")
        return date(year, month, 1), date(year, month, monthrange(year, month)[1])
    if DAY.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise PeriodError(parameter, f"{text!r} is not a day of the calendar") from None
        return day, day
    raise PeriodError(parameter, f"{text[:40]!r} is not a period: write {FORMS}")


@dataclass(frozen=True)
class Period:
    """The days from `first` to `last`, both included; None: no bound on that side."""

    first: date | None = None
    last: date | None = None

    @property
    def all_time(self) -> bool:
        return self.first is None and self.last is None

    def covers(self, day: str) -> bool:
        """Whether the day (`YYYY-MM-DD`) is in the period."""
        return ((self.first is None or day >= self.first.isoformat())
                and (self.last is None or day <= self.last.isoformat()))

    def months(self) -> Iterator[str]:
        """The months (`YYYY-MM`) the period touches; both bounds needed."""
        if self.first is None or self.last is None:
            raise ValueError("an open period has no list of months")
        year, month = self.first.year, self.first.month
        while (year, month) <= (self.last.year, self.last.month):
            yield f"{year:04d}-{month:02d}"
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    def bounds(self) -> dict[str, str | None]:
        """The period as the answers state it: {"from": first day, "to": last day}."""
        return {"from": self.first.isoformat() if self.first else None,
                "to": self.last.isoformat() if self.last else None}


ALL_TIME = Period()


def period_of(period: str | None = None, from_: str | None = None,
              to: str | None = None) -> Period:
    """The period a reader asked for (see the module doc); `PeriodError` names what is wrong."""
    period, from_, to = (v if v and v.strip() else None for v in (period, from_, to))
    if period is not None:
        if from_ is not None or to is not None:
            raise PeriodError("period", "give either period or from/to, not both")
        first, last = span(period, "period")
        return Period(first, last)
    start = span(from_, "from")[0] if from_ is not None else None
    end = span(to, "to")[1] if to is not None else None
    if start is not None and end is not None and start > end:
        raise PeriodError("from", f"from {start.isoformat()} is after to {end.isoformat()}")
    return Period(start, end)
