"""The open-data feed: one line per case event, the public history anyone may download.

A line is what the public may know of one record of the case event log: where it stands in
the log (`position`, partition and offset), which city day's file holds it (`day`), the
envelope's identity and times, the case's public facts after the event (`CaseFacts` is
public by contract), who acted by role and department only, and the public part of what
happened — the case timeline's, free texts masked. Every event has a line, internal notes
too (`public` false, `what` empty): the public figures count every event's facts, so a
reader recomputing them needs all of them.

Never in a line: the address, the position (lat/lon), the sealed personal data, the
tracking code, staff or reporter ids, the handler, the resident's comments.

The line's canonical text (sorted keys, no spaces, UTF-8 as is) is what the daily files and
their hash chain commit to (`services/opendata/lines.py`, `line_text`).
"""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.facts import CaseFacts, Role

FeedValue = str | int | float | bool | None | list[str]


class FeedWho(BaseModel):
    """Who acted: a role, and the department for department staff."""

    model_config = ConfigDict(frozen=True)

    role: Role
    department: str | None = None


class FeedLine(BaseModel):
    """One case event as the public feed publishes it (`/open-data/events.ndjson`)."""

    model_config = ConfigDict(frozen=True, title="FeedLine")

    position: str = Field(pattern=r"^[0-9]+:[0-9]+$",
                          description="partition:offset of the record in the case event log.")
    day: date = Field(description="The city day whose daily file holds this line.")
    event_id: uuid.UUID
    case_id: str
    type: str = Field(description="The event type, e.g. CaseResolved.")
    schema_version: int = Field(ge=1, description="The version the event was recorded at.")
    seq: int = Field(ge=1, description="Position of the event in its case's stream, from 1.")
    occurred_at: AwareDatetime = Field(description="When it happened in the world.")
    recorded_at: AwareDatetime = Field(description="When the producer recorded it.")
    facts: CaseFacts = Field(description="The case's public dimensions after the event.")
    who: FeedWho
    public: bool = Field(description="False for an internal note: `what` is then empty.")
    what: dict[str, FeedValue] = Field(
        description="The public part of what happened, as the case timeline says it, free "
                    "texts masked; CaseSubmitted adds the masked description and the street.")
