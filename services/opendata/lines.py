"""One line of the public feed per case event: what it says, which day holds it, its text. Pure.

`feed_line(envelope, partition, offset, tz, last_published)` is the whole projection: the
live consumer and a replay from offset 0 run it alike. What the public reads of an event is
the case timeline's public step (`services/lifecycle/publicstep.py`, shared with tracking),
its free texts masked (`services/common/masking.py`) — the log keeps notes and reasons as
written, the public reads them masked, here as on the case page. `CaseSubmitted` adds what
its public case page shows beside the timeline: the masked description and the street. The
address, the position, the sealed personal data, the tracking code, staff and reporter ids,
the handler and the resident's comment never reach a line: `what` is built from the step's
public part only, and an internal note's is empty.

A line's day is the city date of its `recorded_at`, unless that day is already published
(its file can no longer change): then the first day not published yet
(`day_of`). The line's canonical text (`line_text`) is computed once, at projection, and
stored: the daily files and the feed serve it as it is, so what the chain commits to is
what anyone downloads.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.opendata import FeedLine, FeedValue, FeedWho
from contracts.registry import read_event
from services.common.masking import mask
from services.lifecycle.publicstep import FREE_TEXT, step_of


def position(partition: int, offset: int) -> str:
    """Where a record stands in the case event log, as a line says it: `"1:4711"`."""
    return f"{partition}:{offset}"


def day_of(recorded_at: datetime, tz: tzinfo, last_published: date | None) -> date:
    """The city day whose file holds a line recorded at `recorded_at`: its city date, or the
    day after the last published one if that date is published already."""
    city_date = recorded_at.astimezone(tz).date()
    if last_published is not None and city_date <= last_published:
        return last_published + timedelta(days=1)
    return city_date


def public_what(event: ev.CaseEvent) -> tuple[FeedWho, bool, dict[str, FeedValue]]:
    """Who acted, whether the public may read the event, and what it may read, masked."""
    step = step_of(event)
    who = FeedWho(role=step.who.role, department=step.who.department)
    if not step.public:
        return who, False, {}
    what: dict[str, FeedValue] = {
        name: mask(value) if isinstance(value, str) and name in FREE_TEXT else value
        for name, value in step.what.items()}
    if isinstance(event, ev.CaseSubmitted):
        what["description"] = mask(event.description)
        what["street"] = mask(event.location.street)
    return who, True, what


def feed_line(envelope: Envelope, *, partition: int, offset: int, tz: tzinfo,
              last_published: date | None) -> FeedLine:
    """The public line of the record at `partition`:`offset` holding `envelope`."""
    who, public, what = public_what(read_event(envelope))
    return FeedLine(
        position=position(partition, offset),
        day=day_of(envelope.recorded_at, tz, last_published),
        event_id=envelope.event_id, case_id=envelope.case_id, type=envelope.type,
        schema_version=envelope.schema_version, seq=envelope.seq,
        occurred_at=envelope.occurred_at, recorded_at=envelope.recorded_at,
        facts=envelope.facts, who=who, public=public, what=what)


def line_json(line: FeedLine) -> dict[str, Any]:
    """The line as JSON values (datetimes as in the envelope: ISO 8601 with offset)."""
    return line.model_dump(mode="json")


def line_text(line: FeedLine) -> str:
    """The canonical text of a line: sorted keys, no spaces, non-ASCII as is. What the daily
    files hold (each line and a newline) and their SHA-256 commits to."""
    return json.dumps(line_json(line), ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))
