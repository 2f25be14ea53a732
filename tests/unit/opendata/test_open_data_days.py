"""The days of the open data: which are publishable, their files' bytes, and the hash chain
that tells, later, on which day history was rewritten."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.opendata.days import (
    GENESIS,
    Break,
    Line,
    Link,
    chain_head,
    city_day,
    day_end,
    day_of_line,
    gzipped,
    is_settled,
    ndjson_of,
    publishable_days,
    sha256_hex,
    verify_chain,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
D = date.fromisoformat


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_city_day_runs_from_midnight_to_midnight_in_shanghai_not_in_utc() -> None:
    # 15:59 UTC is 23:59 in Shanghai; 16:00 UTC is already the next day there
    assert city_day(at("2026-11-29T15:59:59+00:00"), SHANGHAI) == D("2026-11-29")
    assert city_day(at("2026-11-29T16:00:00+00:00"), SHANGHAI) == D("2026-11-30")
    assert city_day(at("2026-11-29T00:30:00+08:00"), SHANGHAI) == D("2026-11-29")
    assert day_end(D("2026-11-29"), SHANGHAI) == at("2026-11-29T16:00:00+00:00")


def test_a_line_goes_to_its_day_unless_that_day_is_published() -> None:
    recorded = at("2026-11-28T10:00:00+08:00")
    assert day_of_line(recorded, SHANGHAI, None) == D("2026-11-28")
    assert day_of_line(recorded, SHANGHAI, D("2026-11-27")) == D("2026-11-28")
    # the day is out already: the line joins the first day not yet published
    assert day_of_line(recorded, SHANGHAI, D("2026-11-28")) == D("2026-11-29")
    assert day_of_line(recorded, SHANGHAI, D("2026-11-30")) == D("2026-12-01")


def test_a_day_is_publishable_once_it_ended_the_grace_ago_and_the_projection_settled() -> None:
    end_of_29 = at("2026-11-29T16:00:00+00:00")
    grace = 600

    def due(now: datetime, last: date | None = None, settled: bool = True) -> list[date]:
        return publishable_days(now, SHANGHAI, grace, D("2026-11-27"), last, settled)

    assert due(end_of_29 + timedelta(seconds=599), last=D("2026-11-28")) == []
    assert due(end_of_29 + timedelta(seconds=600), last=D("2026-11-28")) == [D("2026-11-29")]
    assert due(end_of_29 + timedelta(seconds=600), settled=False) == []
    # nothing published yet: from the first line's day on, the quiet days too
    assert due(end_of_29 + timedelta(hours=1)) == [D("2026-11-27"), D("2026-11-28"),
                                                   D("2026-11-29")]
    assert due(end_of_29 + timedelta(hours=1), last=D("2026-11-29")) == []
    assert publishable_days(end_of_29 + timedelta(days=9), SHANGHAI, grace, None, None,
                            True) == []  # no line at all: no day


def test_the_projection_is_settled_when_caught_up_with_every_partition_and_quiet() -> None:
    now = at("2026-11-30T00:00:00+00:00")
    quiet = {"at": now - timedelta(seconds=60)}
    ends = {0: 10, 1: 0, 2: 5}
    caught_up = {0: {"offset": 9, **quiet}, 2: {"offset": 4, **quiet}}
    assert is_settled(ends, caught_up, now, settle_s=30)
    assert not is_settled(ends, caught_up, now, settle_s=120)  # projected a minute ago
    assert not is_settled(ends, {0: {"offset": 8, **quiet}, 2: {"offset": 4, **quiet}}, now, 30)
    assert not is_settled(ends, {0: {"offset": 9, **quiet}}, now, 30)  # partition 2 unread
    assert is_settled({0: 0}, {}, now, 30)  # an empty log


def test_a_busy_projection_is_settled_once_it_has_what_the_log_held_a_while_ago() -> None:
    now = at("2026-11-30T00:00:00+00:00")
    busy = {"at": now - timedelta(seconds=1)}  # never quiet: a record every second
    progress = {0: {"offset": 120, **busy}, 1: {"offset": 80, **busy}}
    ends_now = {0: 122, 1: 81}  # two records on 0 not projected yet
    assert not is_settled(ends_now, progress, now, 30)
    assert is_settled(ends_now, progress, now, 30,
                      earlier=(now - timedelta(seconds=30), {0: 110, 1: 81}))
    assert not is_settled(ends_now, progress, now, 30,  # not that long ago
                          earlier=(now - timedelta(seconds=29), {0: 110, 1: 81}))
    assert not is_settled(ends_now, progress, now, 30,  # and not all of it either
                          earlier=(now - timedelta(seconds=90), {0: 110, 1: 82}))


def lines_of_a_day() -> list[Line]:
    base = at("2026-11-29T09:00:00+08:00")
    return [Line(2, 7, base + timedelta(minutes=5), '{"position":"2:7","seq":2}'),
            Line(0, 3, base, '{"position":"0:3","seq":1,"what":{"description":"红绿灯不亮"}}'),
            Line(1, 4, base + timedelta(minutes=5), '{"position":"1:4","seq":1}')]


def test_a_days_file_is_its_lines_in_recorded_then_log_order_each_with_a_newline() -> None:
    ndjson = ndjson_of(lines_of_a_day())
    assert ndjson.decode("utf-8").split("\n") == [
        '{"position":"0:3","seq":1,"what":{"description":"红绿灯不亮"}}',
        '{"position":"1:4","seq":1}',  # same moment: partition, then offset, decide
        '{"position":"2:7","seq":2}',
        ""]
    assert ndjson_of([]) == b""


def test_the_same_lines_always_give_the_same_bytes_gzipped_too() -> None:
    lines = lines_of_a_day()
    first = gzipped(ndjson_of(lines))
    again = gzipped(ndjson_of(list(reversed(lines))))
    assert first == again
    assert first[4:8] == b"\0\0\0\0"  # mtime 0: publishing later gives the same file
    assert gzip.decompress(first) == ndjson_of(lines)
    assert sha256_hex(ndjson_of(lines)) == hashlib.sha256(ndjson_of(lines)).hexdigest()


def chain(files: dict[date, bytes]) -> list[Link]:
    links, previous = [], GENESIS
    for day, data in sorted(files.items()):
        sha = sha256_hex(data)
        head = chain_head(previous, day, sha)
        links.append(Link(day, sha, previous, head))
        previous = head
    return links


def three_days() -> dict[date, bytes]:
    return {D("2026-11-27"): ndjson_of(lines_of_a_day()[:1]),
            D("2026-11-28"): b"",  # a quiet day is in the chain too
            D("2026-11-29"): ndjson_of(lines_of_a_day())}


def test_each_head_chains_the_day_to_the_one_before_from_64_zeros() -> None:
    links = chain(three_days())
    assert links[0].previous == "0" * 64
    assert links[1].sha256 == hashlib.sha256(b"").hexdigest()
    assert links[1].head == hashlib.sha256(
        f"{links[0].head}\n2026-11-28\n{links[1].sha256}".encode()).hexdigest()
    assert links[2].previous == links[1].head
    assert verify_chain(links, three_days()) is None
    assert verify_chain([]) is None


def test_a_rewritten_file_breaks_the_chain_on_its_own_day() -> None:
    files = three_days()
    links = chain(files)
    files[D("2026-11-27")] = files[D("2026-11-27")].replace(b'"seq":2', b'"seq":9')
    assert verify_chain(links, files) == Break(D("2026-11-27"),
                                               "its file does not hash to its sha256")


def test_a_manifest_rewritten_to_match_a_rewritten_file_breaks_on_the_next_day() -> None:
    files = three_days()
    links = chain(files)
    files[D("2026-11-28")] = b'{"invented":true}\n'
    forged = chain(files)[1]  # the forger recomputes the day's own hash and head...
    links[1] = forged
    broken = verify_chain(links, files)
    # ...but the next day committed to the old head
    assert broken is not None and broken.day == D("2026-11-29")
    assert "previous" in broken.reason


def test_a_missing_day_or_a_wrong_head_is_named() -> None:
    links = chain(three_days())
    assert verify_chain([links[0], links[2]]) == Break(
        D("2026-11-29"), "the day after 2026-11-27 should be 2026-11-28")
    wrong = Link(links[1].day, links[1].sha256, links[1].previous, "f" * 64)
    assert verify_chain([links[0], wrong, links[2]]) == Break(
        D("2026-11-28"), "its head does not follow from previous, day and sha256")


def test_a_moment_needs_its_timezone() -> None:
    try:
        city_day(datetime(2026, 11, 29, 12), SHANGHAI)
    except ValueError:
        pass
    else:
        raise AssertionError("a naive moment was given a day")
    assert city_day(datetime(2026, 11, 29, 12, tzinfo=UTC), SHANGHAI) == D("2026-11-29")
