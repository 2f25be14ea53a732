"""The public feed's lines, told as stories: given a case's history, then these lines.

Each event of the log becomes one line: its place in the log, its day, the case's public
facts, who acted by role and department, and what the public timeline says of it — free
texts masked, nothing about a person.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from unit.tracking.tracking_stories import (
    HANDLERS,
    PRIVATE_DETAILS,
    SIGNAL_CO,
    STORY_TITLE,
    STORY_URL,
    WATER_CO,
    a_disputed_case,
    a_handled_case,
    a_long_handling,
    code_of,
    day,
    reference_case,
    submitted,
    water_case,
)

from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.opendata import FeedLine
from services.lifecycle.history import History
from services.opendata.lines import day_of, feed_line, line_text

CST = timezone(timedelta(hours=8), "Asia/Shanghai")


def lines_of(history: History, *, partition: int = 1, first_offset: int = 100,
             last_published: date | None = None) -> list[FeedLine]:
    return [feed_line(envelope, partition=partition, offset=first_offset + n, tz=CST,
                      last_published=last_published)
            for n, envelope in enumerate(history.envelopes)]


def texts_of(history: History) -> str:
    return "\n".join(line_text(line) for line in lines_of(history))


# --- what each line says --------------------------------------------------------------


def test_the_reference_case_is_eight_lines_in_log_order_each_with_its_public_step() -> None:
    case = reference_case()
    lines = lines_of(case)

    assert [(line.position, line.seq, line.type) for line in lines] == [
        (f"1:{100 + n}", n + 1, envelope.type) for n, envelope in enumerate(case.envelopes)]
    assert [line.day.isoformat() for line in lines] == [
        "2026-10-06", "2026-10-06", "2026-10-07", "2026-10-07", "2026-10-07",
        "2026-10-12", "2026-10-12", "2026-10-12"]
    assert all(line.facts == envelope.facts for line, envelope in zip(lines, case.envelopes,
                                                                       strict=True))
    submitted_line, accepted_line, visit, routed_line, story, resolved, feedback, closed = lines
    assert submitted_line.who.role == "resident" and submitted_line.what == {
        "category": "traffic-signals", "district": "jinshui", "channel": "web",
        "description": "沙口路王府坟菜市场门口的红绿灯不亮了，过马路很危险。", "street": "沙口路"}
    assert accepted_line.who.model_dump() == {"role": "officer", "department": None}
    assert accepted_line.what["reporter"] is False
    assert visit.who.role == "reporter" and visit.what == {"note": "路口四个方向的信号灯全部不亮。"}
    assert routed_line.what["department"] == "signal-co"
    assert routed_line.what["due_at"] == "2026-10-14T10:00:00+08:00"
    assert story.what == {"title": STORY_TITLE, "url": STORY_URL, "column": "inquiry"}
    assert resolved.who.model_dump() == {"role": "department", "department": "signal-co"}
    assert resolved.what["on_time"] is True
    assert feedback.what == {"fixed": True, "satisfied": True, "rating": 5}  # no comment
    assert closed.who.role == "system" and closed.what == {"reason": "confirmed"}
    assert all(line.public for line in lines)


def test_an_internal_note_has_its_line_but_the_public_reads_nothing_of_it() -> None:
    lines = lines_of(a_long_handling())
    internal = [line for line in lines if not line.public]

    assert [line.type for line in internal] == ["ProgressNoted", "SiteVisited"]
    assert all(line.what == {} for line in internal)
    assert internal[0].who.model_dump() == {"role": "department", "department": "water-co"}
    assert internal[0].facts.department == "water-co"  # its facts still count in the figures
    closed = lines[-1]
    assert closed.what == {"reason": "no_answer"}  # counted as unanswered by the verifier


def test_free_texts_are_masked_in_every_line_that_carries_one() -> None:
    phone, plate = "13912345678", "豫A12345"
    case = (History("ZB261020-MSK0-0001")
            .given(day("10-20", 9), submitted("ZB261020-MSK0-0001",
                                              description=f"灯不亮，请打{phone}",
                                              street=f"停着{plate}的路口"))
            .given(day("10-20", 10), ev.CaseAcknowledged(by=SIGNAL_CO, note=f"回电{phone}"))
            .given(day("10-20", 11), ev.ProgressNoted(by=SIGNAL_CO, note=f"车主{plate}已联系"))
            .given(day("10-20", 12), ev.CaseResolved(by=SIGNAL_CO, on_time=True,
                                                     resolution=f"已修复，联系人{phone}")))
    text = texts_of(case)

    assert phone not in text and plate not in text
    submitted_line, acknowledged, noted, resolved = lines_of(case)
    assert submitted_line.what["description"] == "灯不亮，请打139****5678"
    assert acknowledged.what["note"] == "回电139****5678"
    assert resolved.what["resolution"] == "已修复，联系人139****5678"
    assert "*" in str(noted.what["note"]) and "*" in str(submitted_line.what["street"])


STORIES = [reference_case, a_long_handling, a_disputed_case, a_handled_case, water_case]


@pytest.mark.parametrize("story", STORIES, ids=lambda story: story.__name__)
def test_no_line_names_a_person_or_their_place(story: Callable[[], History]) -> None:
    history = story()
    text = texts_of(history)

    for detail in (*PRIVATE_DETAILS, *HANDLERS, code_of(history.case_id),
                   "34.7995", "113.639", "灯亮了，谢谢", "还是在漏水", "修了一周"):
        assert detail not in text
    for envelope in history.envelopes:
        if code_hash := envelope.data.get("tracking_code_hash"):
            assert code_hash not in text
    keys = {key for line in lines_of(history) for key in (*line.what, *line.model_dump())}
    assert not keys & {"address", "lat", "lon", "personal", "tracking_code_hash", "handler",
                       "comment", "staff_id", "reporter_id", "media", "attributes", "previous"}


def test_who_acted_is_a_role_and_a_department_never_a_member_of_staff() -> None:
    lines = lines_of(a_long_handling())
    whos = {(line.who.role.value, line.who.department) for line in lines}

    assert whos == {("resident", None), ("officer", None), ("supervisor", None),
                    ("system", None), ("reporter", None), ("department", "water-co"),
                    ("department", "roads-office")}
    assert WATER_CO.staff_id not in texts_of(a_long_handling())


# --- days -----------------------------------------------------------------------------


def test_a_lines_day_is_the_city_date_it_was_recorded() -> None:
    late_evening_utc = datetime(2026, 10, 6, 17, 30, tzinfo=UTC)  # 01:30 on the 7th in the city

    assert day_of(late_evening_utc, CST, None) == date(2026, 10, 7)
    assert day_of(late_evening_utc, CST, date(2026, 10, 5)) == date(2026, 10, 7)


def test_a_line_for_a_day_already_published_joins_the_first_day_not_published() -> None:
    recorded = datetime(2026, 10, 6, 23, 59, tzinfo=CST)

    assert day_of(recorded, CST, date(2026, 10, 6)) == date(2026, 10, 7)
    assert day_of(recorded, CST, date(2026, 10, 9)) == date(2026, 10, 10)
    line = lines_of(reference_case(), last_published=date(2026, 10, 8))[0]
    assert line.day == date(2026, 10, 9)


# --- the canonical text ---------------------------------------------------------------


def test_the_canonical_text_is_sorted_compact_and_reads_back_as_the_line() -> None:
    line = lines_of(reference_case())[0]
    text = line_text(line)

    assert text == json.dumps(json.loads(text), ensure_ascii=False, sort_keys=True,
                              separators=(",", ":"))
    assert "\n" not in text and "沙口路" in text  # UTF-8 as is, not \\u escapes
    assert FeedLine.model_validate_json(text) == line
    parsed = json.loads(text)
    assert list(parsed) == sorted(parsed)
    assert parsed["position"] == "1:100" and parsed["day"] == "2026-10-06"
    assert parsed["occurred_at"] == "2026-10-06T09:12:00+08:00"


def test_the_same_record_always_gives_the_same_text() -> None:
    envelope: Envelope = reference_case().envelopes[5]
    again = Envelope.from_bytes(envelope.to_bytes())

    assert line_text(feed_line(envelope, partition=2, offset=7, tz=CST, last_published=None)) \
        == line_text(feed_line(again, partition=2, offset=7, tz=CST, last_published=None))
