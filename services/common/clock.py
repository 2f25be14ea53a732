"""Time, from one place, so tests can move it and deadlines can be checked.

A service dates what it records with its clock: a case's events (and so its timeline, its
durations, whether it was on time), the deadlines promised from them, the moments its
sweeps compare deadlines with. A host whose clock is minutes off (no NTP) would date a
department's acknowledgement before the routing it answers, count a resolution late that
was not, mark a case overdue before its time. So a service does not take its host's clock
as it is: it keeps it honest against the one authority every service already talks to, the
document store (`MeasuredClock`, `measure`, kept by `services/common/runtime.py`).

How, NTP-style: ask the store its time (`hello`'s `localTime`, to the millisecond on
MongoDB and FerretDB alike) a few times; each answer was given somewhere within the round
trip, so it is compared with the middle of it (`Reading`); the answers with the shortest
round trips are the least uncertain, and the median of their offsets is the offset
(`estimate`), good to half a round trip plus half the store's millisecond. The time is then
the store's time at that measurement carried forward by the monotonic clock, which no step
of the host's clock moves; it is measured again every few minutes (a free-running host
clock drifts some milliseconds in that time). All services agree with the store, so they
agree with each other: what one dates follows what another dated before it, durations
across services are true, and a deadline is swept when it is due, not five minutes early.

The store is the authority because it is shared and already there (no NTP server to reach,
and what matters first is that the services agree); its own host should keep true time,
which operators watch like any server's. A service tells how far off its host was:
a `clock_skew` warning when over `clock_skew_warn_s`, and the measured offset in /readyz.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The host's clock, as it is."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until told to move."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now


# --- a clock kept honest against the store's ---------------------------------------------------

@dataclass(frozen=True)
class Reading:
    """One question to the authority: how far its time was ahead of ours (negative: behind),
    taken at the middle of the round trip, and how long the round trip took."""

    offset_s: float
    round_trip_s: float


@dataclass(frozen=True)
class Offset:
    """What a measurement concluded: the authority's time minus the host's, and how far off
    that may be."""

    offset_s: float
    uncertainty_s: float
    readings: int
    authority: str = "store"

    def figures(self) -> dict[str, float | int | str]:
        return {"offset_s": round(self.offset_s, 4), "uncertainty_s": round(self.uncertainty_s, 4),
                "readings": self.readings, "authority": self.authority}


def estimate(readings: Sequence[Reading], *, resolution_s: float = 0.001,
             authority: str = "store") -> Offset:
    """The offset from `readings`: the median of the offsets of the half (at least one) with
    the shortest round trips, a delayed answer being the least telling; uncertain by half
    the longest of those round trips plus half the authority's resolution."""
    if not readings:
        raise ValueError("no reading to estimate an offset from")
    kept = sorted(readings, key=lambda r: r.round_trip_s)[:max(1, (len(readings) + 1) // 2)]
    return Offset(offset_s=statistics.median(r.offset_s for r in kept),
                  uncertainty_s=max(r.round_trip_s for r in kept) / 2 + resolution_s / 2,
                  readings=len(readings), authority=authority)


async def measure(ask: Callable[[], Awaitable[datetime]], *, samples: int = 5,
                  resolution_s: float = 0.001,
                  wall: Callable[[], float] = time.time,
                  monotonic: Callable[[], float] = time.monotonic) -> list[Reading]:
    """Ask the authority its time `samples` times (`ask` returns it). Its answer says a time
    truncated to its resolution (a millisecond: a BSON date), so it stands for the middle of
    that millisecond; it is compared with our wall clock at the middle of the round trip,
    the round trip measured on the monotonic clock."""
    readings = []
    for _ in range(samples):
        sent_wall, sent = wall(), monotonic()
        theirs = (await ask()).timestamp() + resolution_s / 2
        round_trip = monotonic() - sent
        readings.append(Reading(offset_s=theirs - (sent_wall + round_trip / 2),
                                round_trip_s=round_trip))
    return readings


class MeasuredClock:
    """The host's clock corrected by the offset last measured against the authority: the
    authority's time then, carried forward on the monotonic clock (which a step of the host's
    wall clock does not move). Until a first measurement: the host's clock as it is."""

    def __init__(self, *, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._wall, self._monotonic = wall, monotonic
        self.offset: Offset | None = None
        self._base: tuple[float, float] | None = None
        """(authority's time, monotonic time) at the last measurement."""

    @property
    def measured(self) -> bool:
        return self.offset is not None

    def correct(self, offset: Offset) -> None:
        """From now on, the time is the host's corrected by `offset`."""
        self.offset = offset
        self._base = (self._wall() + offset.offset_s, self._monotonic())

    def now(self) -> datetime:
        if self._base is None:
            return datetime.fromtimestamp(self._wall(), UTC)
        then, at = self._base
        return datetime.fromtimestamp(then + (self._monotonic() - at), UTC)
