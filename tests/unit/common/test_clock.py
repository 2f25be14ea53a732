"""A service's clock kept honest against the store's: the offset measured NTP-style (the
middle of each round trip, the shortest round trips trusted most), and the time carried on
the monotonic clock from there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.clock import MeasuredClock, Reading, estimate, measure

TRUE = datetime(2026, 10, 6, 9, 0, tzinfo=UTC).timestamp()


class Host:
    """A host whose wall clock is `off_s` from the true time; its monotonic clock is true."""

    def __init__(self, off_s: float) -> None:
        self.true, self.off_s = TRUE, off_s

    def wall(self) -> float:
        return self.true + self.off_s

    def monotonic(self) -> float:
        return self.true - TRUE + 1000.0

    def wait(self, seconds: float) -> None:
        self.true += seconds


def store_on(host: Host, *, there: float, back: float):  # type: ignore[no-untyped-def]
    """A store with the true time, answering to the millisecond (truncated, as a BSON date
    is) `there` seconds after being asked; the answer takes `back` seconds to come back."""

    async def ask() -> datetime:
        host.wait(there)
        answer = datetime.fromtimestamp(int(host.true * 1000) / 1000, UTC)
        host.wait(back)
        return answer

    return ask


@pytest.mark.parametrize("off_s", [300.0, -300.0, 0.0, 2.5])
async def test_a_host_minutes_off_measures_its_offset_to_the_millisecond(off_s: float) -> None:
    host = Host(off_s)
    readings = await measure(store_on(host, there=0.0002, back=0.0002), wall=host.wall,
                             monotonic=host.monotonic)
    offset = estimate(readings)
    assert offset.offset_s == pytest.approx(-off_s, abs=0.001)
    assert offset.uncertainty_s == pytest.approx(0.0007, abs=1e-6)
    assert offset.readings == 5


async def test_an_answer_delayed_on_its_way_back_is_outweighed_by_the_quick_ones() -> None:
    host = Host(300.0)
    quick = await measure(store_on(host, there=0.0002, back=0.0002), samples=3,
                          wall=host.wall, monotonic=host.monotonic)
    slow = await measure(store_on(host, there=0.0002, back=0.2), samples=2,
                         wall=host.wall, monotonic=host.monotonic)
    assert all(abs(r.offset_s + 300.0) > 0.09 for r in slow)  # 0.1 s off on their own
    offset = estimate([slow[0], *quick, slow[1]])
    assert offset.offset_s == pytest.approx(-300.0, abs=0.001)
    assert offset.uncertainty_s < 0.001


def test_the_offset_is_the_median_of_the_shortest_round_trips_and_says_how_sure_it_is() -> None:
    readings = [Reading(1.000, 0.002), Reading(1.004, 0.010), Reading(0.998, 0.004),
                Reading(5.000, 0.900), Reading(1.001, 0.003)]
    offset = estimate(readings)
    # kept: the three shortest round trips (0.002, 0.003, 0.004)
    assert offset.offset_s == pytest.approx(1.000)
    assert offset.uncertainty_s == pytest.approx(0.004 / 2 + 0.0005)
    assert estimate([Reading(-2.0, 0.01)]).offset_s == -2.0
    with pytest.raises(ValueError, match="no reading"):
        estimate([])


async def test_the_clock_tells_the_stores_time_once_measured_and_keeps_it_on_the_monotonic_clock(
) -> None:
    host = Host(-300.0)  # five minutes behind
    clock = MeasuredClock(wall=host.wall, monotonic=host.monotonic)
    assert not clock.measured
    assert clock.now().timestamp() == pytest.approx(TRUE - 300.0)  # the host's, until measured

    clock.correct(estimate(await measure(store_on(host, there=0.0001, back=0.0001),
                                         wall=host.wall, monotonic=host.monotonic)))
    assert clock.measured
    assert clock.now().timestamp() == pytest.approx(host.true, abs=0.001)

    host.wait(90.0)
    assert clock.now().timestamp() == pytest.approx(host.true, abs=0.001)
    host.off_s += 3600.0  # someone sets the host's clock an hour forward: the time holds
    host.wait(10.0)
    assert clock.now() - datetime.fromtimestamp(host.true, UTC) < timedelta(milliseconds=1)
