"""Working days and time limits, counted as a 12345 service centre counts them.

A time limit is written `"<n> minutes"`, `"<n> hours"`, `"<n> days"` or `"<n> working
days"` (singular for one: `"1 working day"`). Minutes, hours and days run around the
clock (an emergency does not wait for Monday); working days follow the official calendar
of the People's Republic of China: the public holidays of the State Council's yearly
notice, and the weekends worked in exchange (调休), from the `chinesecalendar` package,
changed by the city's `calendar.yaml` (`CalendarRules`).

Counting N working days from a moment, in the city's timezone:
- on a working day, the deadline is the same clock time on the Nth working day after it
  (routed Wed 2026-09-30 15:00 with 3 working days: Oct 1-7 are National Day, Thu Oct 8,
  Fri Oct 9 and the adjusted working Sat Oct 10 count: due 2026-10-10 15:00);
- on a day off (weekend, holiday), counting starts at the start of the next working day,
  and the deadline is the end of the Nth working day counting that one (submitted on Sat
  Oct 3 with 1 working day: due at the end of Thu Oct 8, i.e. Fri Oct 9 00:00).
Both are the first moment at which N whole working days (of 24 hours) have passed since
the case arrived. A case arriving at exactly midnight starting a working day is the
second rule's case too (that day counts in full).

Outside the years the package knows (it covers a year once the State Council has
published its notice, usually in the November before), `calendar.yaml` says what to do:
count Monday to Friday as working days (`outside_known_years: weekends`), or refuse to
count (`refuse`, `OutsideCalendar`) until the year is added to the file (`known_years`,
with its `holidays` and `working_days`). Nothing is guessed silently: `known_until`
names the last year known, and routing says at start when it will count weekdays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Annotated, Literal, cast
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, model_validator

from contracts.facts import CLOCKS, Clock

Unit = Literal["minutes", "hours", "days", "working days"]
UNITS: tuple[Unit, ...] = ("minutes", "hours", "days", "working days")
_NOTATION = re.compile(r"^\s*(\d+)\s+(minutes?|hours?|days?|working\s+days?)\s*$")


class OutsideCalendar(ValueError):
    """Counting working days reached a year the calendar does not know, and the city
    chose to refuse rather than count weekdays."""


@dataclass(frozen=True)
class TimeLimit:
    """How long something may take: `amount` minutes, hours, days or working days."""

    amount: int
    unit: Unit

    @classmethod
    def parse(cls, text: object) -> TimeLimit:
        """`"4 hours"`, `"3 working days"`, `"1 working day"`...; ValueError saying how
        a limit is written otherwise."""
        if isinstance(text, TimeLimit):
            return text
        found = _NOTATION.match(text) if isinstance(text, str) else None
        if found is None or int(found[1]) < 1:
            raise ValueError(
                f"{text!r} is not a time limit: write '<n> minutes', '<n> hours', "
                "'<n> days' or '<n> working days', n a whole number from 1")
        unit = " ".join(found[2].split())
        return cls(int(found[1]), cast(Unit, unit if unit.endswith("s") else f"{unit}s"))

    def __str__(self) -> str:
        return f"{self.amount} {self.unit[:-1] if self.amount == 1 else self.unit}"

    @property
    def around_the_clock(self) -> timedelta | None:
        """The limit as a duration, unless it is counted in working days."""
        match self.unit:
            case "minutes":
                return timedelta(minutes=self.amount)
            case "hours":
                return timedelta(hours=self.amount)
            case "days":
                return timedelta(days=self.amount)
        return None


Limit = Annotated[TimeLimit, BeforeValidator(TimeLimit.parse), PlainSerializer(str)]
"""A time limit in a configuration model: read from and written as its notation."""


class CalendarRules(BaseModel):
    """The city's changes to the official calendar (`calendar.yaml`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    holidays: tuple[date, ...] = ()
    """Extra days off (a local holiday), or an official one the package does not know yet."""
    working_days: tuple[date, ...] = ()
    """Extra working days (an adjusted weekend the package does not know yet)."""
    known_years: tuple[int, ...] = ()
    """Years whose holidays and adjusted working days this file lists in full, for years
    the package does not know yet."""
    outside_known_years: Literal["weekends", "refuse"] = "weekends"
    """Beyond the known years: count Monday to Friday, or refuse to count."""

    @model_validator(mode="after")
    def _one_kind_of_day(self) -> CalendarRules:
        both = sorted(set(self.holidays) & set(self.working_days))
        if both:
            raise ValueError(f"both a holiday and a working day: {', '.join(map(str, both))}")
        return self


class WorkCalendar:
    """Which days are working days: the package's official calendar with the city's rules."""

    def __init__(self, rules: CalendarRules | None = None) -> None:
        self.rules = rules or CalendarRules()
        self._holidays = frozenset(self.rules.holidays)
        self._working = frozenset(self.rules.working_days)
        self._days: dict[date, bool] = {}
        """Days already looked up: a deadline walks the same few days for every case of a
        day (the package checks its argument and reads its tables each time); a few hundred a
        year of deadlines."""

    @cached_property
    def package_years(self) -> tuple[int, int]:
        """The first and last year the package's official calendar covers."""
        years = [day.year for day in chinese_calendar.holidays]
        return min(years), max(years)

    @property
    def known_until(self) -> int:
        """The last year known: from the package, or listed in full in the city's file."""
        return max((self.package_years[1], *self.rules.known_years))

    def in_package(self, day: date) -> bool:
        first, last = self.package_years
        return first <= day.year <= last

    def knows(self, day: date) -> bool:
        """Whether `day`'s year is known: from the package, or listed in full by the city."""
        return self.in_package(day) or day.year in self.rules.known_years

    def is_working_day(self, day: date) -> bool:
        known = self._days.get(day)
        if known is None:
            known = self._days[day] = self._look_up(day)
        return known

    def _look_up(self, day: date) -> bool:
        if day in self._working:
            return True
        if day in self._holidays:
            return False
        if self.in_package(day):
            return bool(chinese_calendar.is_workday(day))
        if not self.knows(day) and self.rules.outside_known_years == "refuse":
            raise OutsideCalendar(
                f"the official calendar of {day.year} is not known: add the year's holidays "
                "and adjusted working days to calendar.yaml (known_years, holidays, "
                "working_days), or update the chinesecalendar package")
        return day.weekday() < 5

    def next_working_day(self, day: date) -> date:
        """The first working day after `day`."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: datetime, days: int, tz: ZoneInfo) -> datetime:
        """The moment `days` working days after `start`, counted in `tz` (rules above)."""
        local = start.astimezone(tz)
        day, clock = local.date(), local.timetz().replace(tzinfo=None)
        if not self.is_working_day(day) or clock == time(0):
            # the day does not count, or counts in full: due at the end of the Nth one
            if not self.is_working_day(day):
                day = self.next_working_day(day)
            for _ in range(days - 1):
                day = self.next_working_day(day)
            return datetime.combine(day + timedelta(days=1), time(0), tz)
        for _ in range(days):
            day = self.next_working_day(day)
        return datetime.combine(day, clock, tz)

    def due(self, start: datetime, limit: TimeLimit, tz: ZoneInfo) -> datetime:
        """When something started at `start` with `limit` is due (aware, in `tz`)."""
        duration = limit.around_the_clock
        if duration is not None:
            return (start + duration).astimezone(tz)
        return self.add_working_days(start, limit.amount, tz)


# --- the city's time limits (deadlines.yaml, and a category's own in catalogue.yaml) ---

class TimeLimits(BaseModel):
    """How long each step of a case may take, in one priority class."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    triage: Limit
    response: Limit
    resolution: Limit

    def of(self, clock: Clock) -> TimeLimit:
        limit: TimeLimit = getattr(self, clock)
        return limit


class TimeLimitsOverride(BaseModel):
    """A category's own limits, replacing those of its priority class where given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    triage: Limit | None = None
    response: Limit | None = None
    resolution: Limit | None = None

    def over(self, limits: TimeLimits) -> TimeLimits:
        own: dict[str, TimeLimit] = {
            clock: getattr(self, clock) for clock in CLOCKS if getattr(self, clock) is not None}
        return limits.model_copy(update=own)


class Deadlines(BaseModel):
    """The time limits of each priority class (`deadlines.yaml`; these defaults are the
    ones `deploy/config` gives)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    emergency: TimeLimits = TimeLimits(triage="30 minutes", response="1 hour",
                                       resolution="2 hours")
    utilities: TimeLimits = TimeLimits(triage="2 hours", response="4 hours",
                                       resolution="24 hours")
    general: TimeLimits = TimeLimits(triage="1 working day", response="1 working day",
                                     resolution="7 days")
    complex: TimeLimits = TimeLimits(triage="1 working day", response="2 working days",
                                     resolution="15 days")

    def of(self, priority: str) -> TimeLimits:
        limits: TimeLimits = getattr(self, priority)
        return limits
