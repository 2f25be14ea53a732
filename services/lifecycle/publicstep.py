"""The public step of a case event: who acted, and what the public may read of it.

One function, `step_of`, says for every event type what of it is public (`what`), what
only the resident and staff may read (`private`), and whether the public may read it at
all (internal notes may not). Two readers share it so they cannot disagree: the case
timeline (services/tracking/timeline.py), and the open-data feed of every event
(services/opendata/lines.py), which publishes the history line by line.

Who acted is said by role and department only (`Who`): staff ids, reporter ids and the
handler in the events never leave this function. Free texts (notes, reasons) are given
as recorded; each reader masks what it shows (services/common/masking.py). Pure.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from contracts import case_events as ev
from contracts.facts import Actor, Role

JsonValue = str | int | float | bool | None | list[str]

FREE_TEXT = ("note", "reason", "resolution", "comment")
"""The fields of a step's `what` and `private` that people write in their own words: what
a reader shows the public of them is masked."""


class Who(BaseModel):
    """Who acted, as the timeline may say it: a role, and a department if any."""

    model_config = ConfigDict(frozen=True)

    role: Role
    department: str | None = None

    @classmethod
    def of(cls, actor: Actor | None) -> Who:
        if actor is None:
            return cls(role=Role.SYSTEM)
        return cls(role=actor.role, department=actor.department)


RESIDENT = Who(role=Role.RESIDENT)
SYSTEM = Who(role=Role.SYSTEM)


class Step(NamedTuple):
    """One event as a timeline tells it."""

    who: Who
    what: dict[str, JsonValue]
    """What anyone may read of it."""
    private: dict[str, JsonValue]
    """What only the resident and staff may read (the resident's comment, officers' notes)."""
    public: bool
    """False for an internal note: the public reads nothing of it."""


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def step_of(event: ev.CaseEvent) -> Step:
    """Who did it, what the public may read, what only the resident and staff may, public?"""
    return Step(*_step(event))


def _step(event: ev.CaseEvent) -> tuple[Who, dict[str, JsonValue], dict[str, JsonValue], bool]:
    match event:
        case ev.CaseSubmitted():
            who = Who.of(event.entered_by) if event.entered_by else RESIDENT
            return who, {"category": event.category, "district": event.location.district,
                         "channel": event.channel.value}, {}, True
        case ev.CaseAccepted():
            what: dict[str, JsonValue] = {
                "category": event.category, "district": event.district,
                "priority": event.priority.value, "corrected": sorted(event.corrected),
                "reporter": event.reporter_id is not None,
            }
            return Who.of(event.officer), what, _note(event.note), True
        case ev.CaseRejected():
            return Who.of(event.officer), {"reason": event.reason}, {}, True
        case ev.CaseMerged():
            return Who.of(event.officer), {"into": event.into_case_id}, {}, True
        case ev.CaseRouted():
            return Who.of(event.by), {
                "department": event.department, "assisting": list(event.assisting),
                "due_at": _iso(event.due_at), "priority": event.priority.value,
                "reason": event.reason,
            }, {}, True
        case ev.CaseAcknowledged():
            what = {"department": event.by.department}
            if event.note:
                what["note"] = event.note
            return Who.of(event.by), what, {}, True
        case ev.CaseReturned():
            return Who.of(event.by), {"department": event.by.department,
                                      "reason": event.reason}, {}, True
        case ev.CaseReassigned():
            return Who.of(event.by), {
                "department": event.to_department, "from_department": event.from_department,
                "due_at": _iso(event.due_at), "reason": event.reason,
            }, {}, True
        case ev.ProgressNoted() | ev.SiteVisited():
            return Who.of(event.by), {"note": event.note}, {}, event.public
        case ev.StoryPublished():
            return Who.of(event.by), {"title": event.title, "url": str(event.url),
                                      "column": event.column}, {}, True
        case ev.ReporterAssigned():
            return Who.of(event.by), {}, {}, True
        case ev.CaseOverdue():
            return SYSTEM, {"due_at": _iso(event.due_at), "department": event.department,
                            "clock": event.clock}, {}, True
        case ev.CaseEscalated():
            return Who.of(event.by), {"reason": event.reason}, _note(event.note), True
        case ev.CaseResolved():
            return Who.of(event.by), {"department": event.by.department,
                                      "resolution": event.resolution,
                                      "on_time": event.on_time}, {}, True
        case ev.FeedbackGiven():
            private: dict[str, JsonValue] = {"comment": event.comment} if event.comment else {}
            return RESIDENT, {"fixed": event.fixed, "satisfied": event.satisfied,
                              "rating": event.rating}, private, True
        case ev.ResidentAskedAgain():
            return SYSTEM, {"resolved_at": _iso(event.resolved_at),
                            "closes_at": _iso(event.closes_at)}, {}, True
        case ev.DisputeSettled():
            return Who.of(event.by), {"outcome": event.outcome, "note": event.note}, {}, True
        case ev.CaseReopened():
            private = {"comment": event.comment} if event.comment else {}
            return SYSTEM, {"department": event.department, "priority": event.priority.value,
                            "due_at": _iso(event.due_at)}, private, True
        case ev.CaseClosed():
            return SYSTEM, {"reason": event.reason}, {}, True
        case ev.PersonalDataErased():
            who = RESIDENT if event.by.role is Role.RESIDENT else Who.of(event.by)
            return who, {"reason": event.reason}, {}, True
        case ev.HandlerAssigned():  # who handles it is for staff: the view keeps it
            return Who.of(event.by), {"handed_on": event.previous is not None}, {}, True
    return SYSTEM, {}, {}, False


def _note(note: str | None) -> dict[str, JsonValue]:
    return {"note": note} if note else {}


