"""Reading and recording events: the type registry and the upcasters.

An event in the log is read at whatever version it was written and brought
to the current version one step at a time (`upcast_<type>_v1_v2`, ...). Old
events therefore stay readable after a contract changes, and consumers only
ever see the current shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from contracts.case_events import ALL_EVENTS, CaseEvent
from contracts.envelope import Envelope
from contracts.facts import CaseFacts

EVENT_TYPES: dict[str, type[CaseEvent]] = {cls.TYPE: cls for cls in ALL_EVENTS}


class UnreadableEvent(ValueError):
    """An event this code cannot read: unknown type, or a version from the future."""


def upcast_case_routed_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 routed to one department only; v2 adds the assisting departments."""
    return {**data, "assisting": data.get("assisting", [])}


def upcast_case_submitted_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 carried the resident's contact in clear; v2 seals personal data. A v1 event is
    read without the contact (it cannot be sealed on reading: there is no key for it)."""
    return {key: value for key, value in data.items() if key != "contact"}


def upcast_deadline_added(data: dict[str, Any]) -> dict[str, Any]:
    """The next version added a deadline, or which deadline passed (`CaseOverdue.clock`),
    with a default that says what the older event meant: none recorded, or resolution."""
    return data


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("CaseRouted", 1): upcast_case_routed_v1_v2,
    ("CaseSubmitted", 1): upcast_case_submitted_v1_v2,
    ("CaseSubmitted", 2): upcast_deadline_added,
    ("CaseRouted", 2): upcast_deadline_added,
    ("CaseReassigned", 1): upcast_deadline_added,
    ("CaseReopened", 1): upcast_deadline_added,
    ("CaseOverdue", 1): upcast_deadline_added,
}


def check_readable(event_type: str, version: int) -> None:
    """Raise UnreadableEvent unless this code can read `event_type` at `version` (known
    type, not newer than the code, an upcaster for every step) — without reading data."""
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise UnreadableEvent(f"unknown event type {event_type!r}")
    if version > cls.VERSION:
        raise UnreadableEvent(
            f"{event_type} v{version} is newer than this code reads (v{cls.VERSION})"
        )
    for step in range(version, cls.VERSION):
        if (event_type, step) not in UPCASTERS:
            raise UnreadableEvent(f"no upcaster for {event_type} v{step}")


def upcast(event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    check_readable(event_type, version)
    for step in range(version, EVENT_TYPES[event_type].VERSION):
        data = UPCASTERS[(event_type, step)](data)
    return data


_RECENT_SIZE = 2_048
"""As many as the largest batch whose events are all read (a replay reads 2,000 at a time;
a consumer 500): an envelope and its event take ~7.7 KB, and the entries keep them alive
after their batch (4,096 held 32 MB in every service that consumes the log)."""
_recent: dict[int, tuple[Envelope, CaseEvent]] = {}
"""Events read lately, by the identity of their envelope (kept, so the identity stays its
own): a consumer checks each envelope is readable when it arrives and its projection reads
it again; validating once is enough (envelopes and events are frozen)."""


def event_of(event_type: str, version: int, data: dict[str, Any]) -> CaseEvent:
    """The event of `event_type` whose `data` is at `version`, at the current version."""
    current = upcast(event_type, version, data)  # (refuses a type or version it cannot read)
    return EVENT_TYPES[event_type].model_validate(current)


def read_event(envelope: Envelope) -> CaseEvent:
    """The envelope's event, at the current version of its type."""
    known = _recent.get(id(envelope))
    if known is not None and known[0] is envelope:
        return known[1]
    event = event_of(envelope.type, envelope.schema_version, envelope.data)
    if len(_recent) >= _RECENT_SIZE:
        del _recent[next(iter(_recent))]
    _recent[id(envelope)] = (envelope, event)
    return event


def record(
    event: CaseEvent,
    *,
    event_id: uuid.UUID,
    case_id: str,
    seq: int,
    occurred_at: datetime,
    recorded_at: datetime,
    producer: str,
    correlation_id: str,
    causation_id: str | None,
    facts: CaseFacts,
) -> Envelope:
    """Wrap an event for the log."""
    return Envelope(
        event_id=event_id,
        type=event.TYPE,
        schema_version=event.VERSION,
        case_id=case_id,
        seq=seq,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        producer=producer,
        correlation_id=correlation_id,
        causation_id=causation_id,
        facts=facts,
        data=event.model_dump(mode="json"),
    )
