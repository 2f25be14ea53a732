"""What happens when a resident's personal data is erased, on request or when it is due.

A resident (with the case's tracking code) or an admin may ask at any time; the
system asks when a finished case's personal data has been kept as long as the
city keeps it (`retention_due`). Erasing destroys the case's key, so the sealed
personal data (`contracts/personal.py`) opens nowhere any more, deletes the
case's photos, and is recorded once as `PersonalDataErased` (`erase`). What the
public saw of the case stays: its facts, its figures, its timeline.

Every case has one writer at a time (`ownership.py`): intake while it awaits triage,
routing after. So the erasure is recorded by the one that holds the case at that stage
(`recorded_by_intake`), which keeps the case's events in one order.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from contracts.case_events import CaseEvent, PersonalDataErased
from contracts.facts import Actor, Role
from services.lifecycle.case import Case
from services.lifecycle.errors import NotAllowed, NotNow
from services.lifecycle.ownership import Writer, writer_of

ERASERS = frozenset({Role.RESIDENT, Role.ADMIN, Role.SYSTEM})
"""Who may erase: the resident themself, an admin, the system when retention is due."""

Reason = Literal["request", "retention"]


def check_erasable(case: Case, by: Actor) -> None:
    """Raise unless `by` may erase the case's personal data now (it exists, not erased yet)."""
    if by.role not in ERASERS:
        raise NotAllowed(f"a {by.role.value} may not erase a resident's personal data; "
                         f"the resident (with the tracking code) or an admin may")
    case.require_facts()
    if case.erased:
        raise NotNow(f"the personal data of case {case.case_id} was erased already")


def erase(case: Case, by: Actor, reason: Reason) -> list[CaseEvent]:
    """The erasure, recorded; nothing if it is recorded already (a repeated request)."""
    if case.erased:
        return []
    check_erasable(case, by)
    return [PersonalDataErased(by=by, reason=reason)]


def recorded_by_intake(case: Case) -> bool:
    """Intake holds the case (and records its erasure) until an officer triages it."""
    return writer_of(case) is Writer.INTAKE


def retention_due(case: Case, now: datetime, keep: timedelta) -> bool:
    """A finished case whose personal data has been kept `keep` since it ended."""
    facts = case.facts
    if facts is None or case.erased or facts.status.is_open:
        return False
    if case.personal is None and not case.media:
        return False  # nothing of the resident's kept
    ended = facts.closed_at or case.last_event_at
    return ended is not None and ended + keep <= now
