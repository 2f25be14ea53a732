"""Working days as a 12345 centre counts them, on the official calendar of 2026: the
National Day holiday (Oct 1-7 off, Sun Sep 20 and Sat Oct 10 worked) and the Spring
Festival (Feb 15-23 off, Sat Feb 14 and Sat Feb 28 worked); and the city's time limits."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from contracts.facts import Priority
from services.common.catalogue import load_city
from services.common.settings import REPO_ROOT
from services.common.workdays import (
    CalendarRules,
    OutsideCalendar,
    TimeLimit,
    WorkCalendar,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkCalendar()
CONFIG = REPO_ROOT / "deploy" / "config"


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def working_days(limit: int) -> TimeLimit:
    return TimeLimit(limit, "working days")


# --- the calendar ------------------------------------------------------------------------


def test_national_day_2026_is_off_and_its_adjusted_weekends_are_worked() -> None:
    assert not any(CALENDAR.is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert CALENDAR.is_working_day(date(2026, 9, 20))   # a Sunday, worked
    assert CALENDAR.is_working_day(date(2026, 10, 10))  # a Saturday, worked
    assert not CALENDAR.is_working_day(date(2026, 10, 11))  # an ordinary Sunday
    assert CALENDAR.is_working_day(date(2026, 10, 8))


def test_spring_festival_2026_is_off_and_its_adjusted_saturdays_are_worked() -> None:
    assert CALENDAR.is_working_day(date(2026, 2, 14))
    assert not any(CALENDAR.is_working_day(date(2026, 2, d)) for d in range(15, 24))
    assert CALENDAR.is_working_day(date(2026, 2, 28))
    assert CALENDAR.next_working_day(date(2026, 2, 14)) == date(2026, 2, 24)


# --- counting working days ---------------------------------------------------------------


def test_three_working_days_from_the_eve_of_national_day_end_on_the_worked_saturday() -> None:
    # Wed 09-30 15:00 + Thu 10-08, Fri 10-09, Sat 10-10 (worked)
    assert CALENDAR.due(at(9, 30, 15), working_days(3), SHANGHAI) == at(10, 10, 15)


def test_the_adjusted_working_sunday_counts() -> None:
    # Fri 09-18 15:00: Sat 09-19 is off, Sun 09-20 is worked
    assert CALENDAR.due(at(9, 18, 15), working_days(1), SHANGHAI) == at(9, 20, 15)
    # Thu 09-17 15:00 + 3: Fri 09-18, Sun 09-20, Mon 09-21
    assert CALENDAR.due(at(9, 17, 15), working_days(3), SHANGHAI) == at(9, 21, 15)


def test_a_case_arriving_on_a_holiday_counts_from_the_next_working_days_start() -> None:
    # Sat 10-03: counting starts Thu 10-08 00:00; one working day ends with Thu 10-08
    assert CALENDAR.due(at(10, 3, 10), working_days(1), SHANGHAI) == at(10, 9)
    # Sun 09-27 (Mid-Autumn): Mon 09-28, Tue 09-29, Wed 09-30, then Thu 10-08 ends the 4th
    assert CALENDAR.due(at(9, 27, 22), working_days(4), SHANGHAI) == at(10, 9)
    # Sun 02-15 (Spring Festival) + 1: Tue 02-24 is the first working day after it
    assert CALENDAR.due(at(2, 15, 9), working_days(1), SHANGHAI) == at(2, 25)


def test_the_spring_festival_saturdays_count_both_ways() -> None:
    # Fri 02-13 18:00 + 1: the worked Sat 02-14; + 2: Tue 02-24 after the holiday
    assert CALENDAR.due(at(2, 13, 18), working_days(1), SHANGHAI) == at(2, 14, 18)
    assert CALENDAR.due(at(2, 13, 18), working_days(2), SHANGHAI) == at(2, 24, 18)
    # Fri 02-27 10:00 + 1: the worked Sat 02-28
    assert CALENDAR.due(at(2, 27, 10), working_days(1), SHANGHAI) == at(2, 28, 10)


def test_midnight_starting_a_working_day_counts_that_day_in_full() -> None:
    assert CALENDAR.due(at(9, 30), working_days(1), SHANGHAI) == at(10, 1)
    assert CALENDAR.due(at(9, 30), working_days(2), SHANGHAI) == at(10, 9)


def test_the_count_is_in_the_citys_timezone_whatever_the_zone_given() -> None:
    # 07:00 UTC on 09-30 is 15:00 in the city
    utc = datetime(2026, 9, 30, 7, tzinfo=ZoneInfo("UTC"))
    assert CALENDAR.due(utc, working_days(3), SHANGHAI) == at(10, 10, 15)
    # 20:00 UTC on Fri 10-09 is already Sat 10-10 (worked) 04:00 in the city
    late = datetime(2026, 10, 9, 20, tzinfo=ZoneInfo("UTC"))
    assert CALENDAR.due(late, working_days(1), SHANGHAI) == at(10, 12, 4)


def test_hours_and_days_run_around_the_clock() -> None:
    assert CALENDAR.due(at(9, 30, 23), TimeLimit(4, "hours"), SHANGHAI) == at(10, 1, 3)
    assert CALENDAR.due(at(9, 30, 15), TimeLimit(7, "days"), SHANGHAI) == at(10, 7, 15)
    assert CALENDAR.due(at(10, 1), TimeLimit(30, "minutes"), SHANGHAI) == at(10, 1, 0, 30)


# --- the city's changes to the calendar -----------------------------------------------------


def test_the_city_adds_holidays_and_working_days() -> None:
    rules = CalendarRules(holidays=(date(2026, 10, 8),), working_days=(date(2026, 10, 11),))
    city = WorkCalendar(rules)
    assert not city.is_working_day(date(2026, 10, 8))
    assert city.is_working_day(date(2026, 10, 11))
    # 09-30 15:00 + 3: Fri 10-09, Sat 10-10, Sun 10-11
    assert city.due(at(9, 30, 15), working_days(3), SHANGHAI) == at(10, 11, 15)


def test_beyond_the_packages_years_weekdays_count_or_the_city_refuses() -> None:
    assert CALENDAR.known_until >= 2026
    beyond = CALENDAR.known_until + 1
    monday = date(beyond, 3, 1) + timedelta(days=(7 - date(beyond, 3, 1).weekday()) % 7)
    assert CALENDAR.is_working_day(monday)
    assert not CALENDAR.is_working_day(monday + timedelta(days=5))  # its Saturday
    refusing = WorkCalendar(CalendarRules(outside_known_years="refuse"))
    with pytest.raises(OutsideCalendar, match=f"{beyond} is not known.*calendar.yaml"):
        refusing.is_working_day(monday)
    listed = WorkCalendar(CalendarRules(outside_known_years="refuse", known_years=(beyond,),
                                        holidays=(monday,)))
    assert not listed.is_working_day(monday) and listed.is_working_day(monday + timedelta(1))
    assert listed.known_until == beyond and listed.knows(monday)
    assert not CALENDAR.knows(monday) and CALENDAR.knows(date(2026, 10, 1))


# --- the notation ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "limit"), [
    ("4 hours", TimeLimit(4, "hours")), ("1 hour", TimeLimit(1, "hours")),
    ("3 working days", TimeLimit(3, "working days")),
    ("1 working day", TimeLimit(1, "working days")), ("7 days", TimeLimit(7, "days")),
    ("30 minutes", TimeLimit(30, "minutes")),
])
def test_a_limit_is_written_as_a_number_and_a_unit(text: str, limit: TimeLimit) -> None:
    assert TimeLimit.parse(text) == limit
    assert str(limit) == text


@pytest.mark.parametrize("text", ["4h", "3 weekdays", "0 hours", "-1 days", "2.5 hours", 4, ""])
def test_anything_else_is_refused_saying_how_to_write_it(text: object) -> None:
    with pytest.raises(ValueError, match="'<n> working days'"):
        TimeLimit.parse(text)


# --- the city's time limits ---------------------------------------------------------------


def test_the_city_sets_each_priority_classs_three_limits() -> None:
    city = load_city(CONFIG)
    general = city.limits("roads", Priority.GENERAL)
    assert (str(general.triage), str(general.response), str(general.resolution)) == (
        "1 working day", "1 working day", "7 days")
    assert str(city.limits("gas", Priority.EMERGENCY).response) == "1 hour"


def test_a_category_overrides_its_class_for_cases_in_that_class() -> None:
    city = load_city(CONFIG)
    consumer = city.limits("consumer", Priority.COMPLEX)
    assert str(consumer.resolution) == "10 working days"
    assert str(consumer.response) == "2 working days"  # the class's: not overridden
    # a consumer case an officer made general takes the general class's limits
    assert str(city.limits("consumer", Priority.GENERAL).resolution) == "7 days"
    # Wed 09-30 15:00 + 10 working days: 10-08, 09, 10, 12, 13, 14, 15, 16, 19, 20
    assert city.due("resolution", "consumer", Priority.COMPLEX, at(9, 30, 15)) == at(10, 20, 15)


def copy_of_the_city(tmp_path: Path, **files: object) -> Path:
    for source in CONFIG.glob("*.yaml"):
        (tmp_path / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    for name, content in files.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(content), encoding="utf-8")
    return tmp_path


def test_a_mistake_in_the_limits_names_the_file_and_the_key(tmp_path: Path) -> None:
    limits = yaml.safe_load((CONFIG / "deadlines.yaml").read_text(encoding="utf-8"))
    limits["general"]["response"] = "1 day-ish"
    with pytest.raises(ValueError, match=r"^deadlines.yaml: general.response: .*'1 day-ish'"):
        load_city.__wrapped__(copy_of_the_city(tmp_path, deadlines=limits))


def test_a_mistake_in_a_categorys_limits_names_the_file_the_category_and_the_key(
    tmp_path: Path,
) -> None:
    catalogue = yaml.safe_load((CONFIG / "catalogue.yaml").read_text(encoding="utf-8"))
    catalogue["categories"][1]["deadlines"] = {"resolution": "soon"}
    with pytest.raises(ValueError, match=r"^catalogue.yaml: roads.deadlines.resolution: "):
        load_city.__wrapped__(copy_of_the_city(tmp_path, catalogue=catalogue))


def test_a_mistake_in_the_calendar_names_the_file_and_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^calendar.yaml: outside_known_years: "):
        load_city.__wrapped__(copy_of_the_city(tmp_path, calendar={"outside_known_years": "guess"}))
    with pytest.raises(ValueError, match=r"^calendar.yaml: holidays.0: "):
        load_city.__wrapped__(copy_of_the_city(tmp_path, calendar={"holidays": ["10-08"]}))
    twice = {"holidays": ["2026-10-08"], "working_days": ["2026-10-08"]}
    with pytest.raises(ValueError, match=r"^calendar.yaml: .*both a holiday and a working day: "
                                         r"2026-10-08"):
        load_city.__wrapped__(copy_of_the_city(tmp_path, calendar=twice))


def test_without_the_files_the_defaults_apply(tmp_path: Path) -> None:
    city = copy_of_the_city(tmp_path)
    (city / "deadlines.yaml").unlink()
    (city / "calendar.yaml").unlink()
    assert load_city.__wrapped__(city).deadlines == load_city(CONFIG).deadlines


def test_the_city_with_its_limits_and_calendar_reads_back_from_its_json_as_the_same() -> None:
    """One value: what `model_dump` writes (an export, a configuration event) reads back."""
    city = load_city(CONFIG)
    written = city.model_dump(mode="json", by_alias=True)
    assert written["deadlines"]["general"]["resolution"] == "7 days"
    assert type(city).model_validate(written) == city
