"""When a message may go: no SMS between 22:00 and 08:00 city time; growing waits."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notify.schedule import backoff, held_until

CITY = ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int = 0, day: int = 7) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=CITY)


@pytest.mark.parametrize(("moment", "until"), [
    (at(22, 0), at(8, 0, day=8)),
    (at(23, 59), at(8, 0, day=8)),
    (at(0, 0), at(8, 0)),
    (at(7, 59), at(8, 0)),
])
def test_at_night_an_sms_waits_for_eight_in_the_morning(moment: datetime,
                                                        until: datetime) -> None:
    assert held_until(moment, CITY, 22, 8) == until


@pytest.mark.parametrize("moment", [at(8, 0), at(12, 0), at(21, 59)])
def test_by_day_it_goes_at_once(moment: datetime) -> None:
    assert held_until(moment, CITY, 22, 8) is None


def test_the_night_is_the_citys_whatever_the_clock_says() -> None:
    utc_afternoon = datetime(2026, 10, 7, 15, 30, tzinfo=ZoneInfo("UTC"))  # 23:30 in the city
    assert held_until(utc_afternoon, CITY, 22, 8) == at(8, 0, day=8)


def test_quiet_hours_within_one_day_and_none() -> None:
    assert held_until(at(13), CITY, 12, 14) == at(14)
    assert held_until(at(3), CITY, 8, 8) is None


def test_waits_double_up_to_the_longest() -> None:
    assert [backoff(n, 30, 3600) for n in (1, 2, 3, 8, 20)] == [
        timedelta(seconds=s) for s in (30, 60, 120, 3600, 3600)]
