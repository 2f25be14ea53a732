"""The published days of the open data, and the hash chain that ties them together (pure).

Each city day (the city's timezone, not UTC) is published once as a file: the canonical text
of every feed line of that day, each followed by "\\n", ordered by (recorded_at, partition,
offset), gzipped with mtime 0 so the same lines always give the same bytes. The manifest
(`/open-data/days.json`) names each day's SHA-256 — of the UNCOMPRESSED ndjson: the .gz is
only transport — and chains it to the day before:

    head(day) = sha256_hex(f"{previous}\\n{day}\\n{sha256}"),  previous = head(day - 1),

the first day's previous being 64 zeros. The last head therefore commits to every day and
every line: whoever kept a head can tell, later, that no earlier day was rewritten, and
`verify_chain` names the first day where files and manifest stop agreeing.

A day D is publishable once the city has left it for good: now ≥ the end of D + the grace,
and the projection has every record the log held a while ago, or holds now and has been
quiet for that while (`is_settled`). The days run contiguously from the first line's day, empty days included, so
a missing day can never be mistaken for a quiet one. A line recorded for a day already
published goes to the first day not yet published (`day_of_line`): a file never changes.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

GENESIS = "0" * 64
"""The `previous` of the first published day."""

CHAIN_RULE = ('head = SHA-256 hex of "<previous>\\n<day>\\n<sha256>" (UTF-8), where sha256 is '
              "the SHA-256 hex of the day's uncompressed ndjson and previous is the head of "
              "the day before (64 zeros for the first day)")
"""The chain's formula in words, as `/open-data/days.json` states it."""

ONE_DAY = timedelta(days=1)


def city_day(moment: datetime, tz: tzinfo) -> date:
    """The city's date at `moment` (an aware datetime)."""
    if moment.tzinfo is None:
        raise ValueError("a moment needs its timezone")
    return moment.astimezone(tz).date()


def day_end(day: date, tz: tzinfo) -> datetime:
    """The moment `day` ends in the city: midnight at the start of the next day."""
    return datetime.combine(day + ONE_DAY, time(0), tzinfo=tz)


def day_of_line(recorded_at: datetime, tz: tzinfo, last_published: date | None) -> date:
    """The day whose file holds a line recorded at `recorded_at`: its city date, unless that
    day is already published — then the first day not yet published."""
    day = city_day(recorded_at, tz)
    if last_published is not None and day <= last_published:
        return last_published + ONE_DAY
    return day


Ends = Mapping[int, int]
"""The end offset of each partition of the case event log."""
Progress = Mapping[int, Mapping[str, object]]
"""Per partition, the projection's last projected `offset`, and when (`at`)."""


def caught_up(ends: Ends, progress: Progress) -> bool:
    """Whether the projection has every record of the log up to `ends`."""
    for partition, end in ends.items():
        if end <= 0:
            continue  # an empty partition has nothing to project
        mark = progress.get(partition)
        offset = mark.get("offset") if mark else None
        if not isinstance(offset, int) or offset < end - 1:
            return False
    return True


def is_settled(ends: Ends, progress: Progress, now: datetime, settle_s: float,
               earlier: tuple[datetime, Ends] | None = None) -> bool:
    """Whether a past day's set of lines is final: the projection has every record the log
    held at least `settle_s` ago (`earlier`: the end offsets read then, and when) — a busy
    city's projection is never idle, yet a day that ended the grace ago is all in the log
    by then — or, with no such reading yet, every record the log holds `now` and has
    projected nothing for `settle_s` seconds."""
    settle = timedelta(seconds=settle_s)
    if earlier is not None and now - earlier[0] >= settle and caught_up(earlier[1], progress):
        return True
    if not caught_up(ends, progress):
        return False
    moments = [mark.get("at") for mark in progress.values()]
    last_at = max((at for at in moments if isinstance(at, datetime)), default=None)
    return last_at is None or now - last_at >= settle


def publishable_days(now: datetime, tz: tzinfo, grace_s: float, first_day: date | None,
                     last_published: date | None, settled: bool) -> list[date]:
    """The days to publish now, oldest first: from the day after the last published one (or
    the first line's day) to the last day that ended at least `grace_s` seconds ago — none
    while the projection is not settled or there is no line at all."""
    if not settled or (first_day is None and last_published is None):
        return []
    day = last_published + ONE_DAY if last_published is not None else first_day
    assert day is not None
    days = []
    while day_end(day, tz) + timedelta(seconds=grace_s) <= now:
        days.append(day)
        day += ONE_DAY
    return days


@dataclass(frozen=True)
class Line:
    """A stored feed line: where it sits in the log, when it was recorded, its text."""

    partition: int
    offset: int
    recorded_at: datetime
    text: str

    @property
    def key(self) -> str:
        """Its `_id` in opendata_events."""
        return line_key(self.partition, self.offset)


def line_key(partition: int, offset: int) -> str:
    return f"{partition:03d}:{offset:012d}"


def file_order(lines: Iterable[Line]) -> list[Line]:
    return sorted(lines, key=lambda line: (line.recorded_at, line.partition, line.offset))


def ndjson_of(lines: Iterable[Line]) -> bytes:
    """A day's file, uncompressed: each line's text and "\\n", in file order."""
    return "".join(line.text + "\n" for line in file_order(lines)).encode("utf-8")


def gzipped(ndjson: bytes) -> bytes:
    """The file as served: gzip with mtime 0 (the same bytes for the same lines, always)."""
    return gzip.compress(ndjson, compresslevel=9, mtime=0)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chain_head(previous: str, day: date, sha256: str) -> str:
    return sha256_hex(f"{previous}\n{day.isoformat()}\n{sha256}".encode())


@dataclass(frozen=True)
class Link:
    """A day of the manifest: its file's hash, the head before it, its own head."""

    day: date
    sha256: str
    previous: str
    head: str


@dataclass(frozen=True)
class Break:
    """Where the chain stops holding, and why."""

    day: date
    reason: str


def verify_chain(entries: Sequence[Link], files: Mapping[date, bytes] | None = None,
                 ) -> Break | None:
    """The first day where the chain breaks, or None: days must follow each other, each
    `previous` be the head before it, each head follow the formula, and — for each day whose
    uncompressed file is in `files` — the file hash to the day's sha256."""
    previous, expected_day = GENESIS, None
    for entry in entries:
        if expected_day is not None and entry.day != expected_day:
            return Break(entry.day, f"the day after {expected_day - ONE_DAY} should be "
                                    f"{expected_day}")
        if entry.previous != previous:
            return Break(entry.day, "its previous is not the head of the day before")
        if files is not None and entry.day in files and sha256_hex(files[entry.day]) != entry.sha256:
            return Break(entry.day, "its file does not hash to its sha256")
        if chain_head(entry.previous, entry.day, entry.sha256) != entry.head:
            return Break(entry.day, "its head does not follow from previous, day and sha256")
        previous, expected_day = entry.head, entry.day + ONE_DAY
    return None
