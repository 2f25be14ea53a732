"""When a message may go: quiet hours for SMS, and the waits between attempts. Pure."""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo


def held_until(at: datetime, tz: tzinfo, start_h: int, end_h: int) -> datetime | None:
    """The end of the quiet hours (`start_h`:00 to `end_h`:00, city time) if `at` falls in
    them, else None: no SMS wakes a resident at night; it goes at `end_h`:00."""
    if start_h == end_h:
        return None
    local = at.astimezone(tz)
    hour = local.hour
    quiet = start_h <= hour or hour < end_h if start_h > end_h else start_h <= hour < end_h
    if not quiet:
        return None
    day = local.date() if hour < end_h else local.date() + timedelta(days=1)
    return datetime.combine(day, time(end_h), tzinfo=tz)


def backoff(failures: int, first_s: float, max_s: float) -> timedelta:
    """The wait after `failures` failed attempts (1, 2, ...): `first_s`, doubled after each
    further failure, at most `max_s`."""
    return timedelta(seconds=min(max_s, first_s * 2 ** max(0, failures - 1)))
