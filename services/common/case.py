"""The case aggregate: the state a command is checked against, rebuilt from events.

State changes only by applying recorded events (`Case.apply`), so a case read
back from the log is the same case its commands saw. Deciding what may happen
next lives with the service that owns that part of the life: triage in
`services/intake/triage.py`, handling in `services/routing/handling.py`.
Both speak through `Refused` and produce plain events; `Case.record` wraps
them for the log and computes the public facts that travel with each one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from contracts import case_events as ev
from contracts.envelope import Envelope, derived_id
from contracts.facts import Actor, CaseFacts, CaseStatus, Location, Role
from contracts.registry import read_event, record


class Refused(Exception):
    """A command that may not happen now. `status` is the HTTP answer it maps to."""

    def __init__(self, reason: str, status: int = 409,
                 problems: list[dict[str, str]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.problems = problems or []


def forbidden(reason: str) -> Refused:
    return Refused(reason, status=403)


def next_facts(facts: CaseFacts | None, event: ev.CaseEvent, at: datetime) -> CaseFacts:
    """The public facts of a case after `event`, which happened at `at`.

    Definitions used by every figure the platform publishes:
    - first response: the first acknowledgement, progress note or resolution
      by the handling department;
    - resolved (辦結): status resolved or closed after a resolution; a reopen
      undoes it until the next resolution;
    - on time: resolved no later than the deadline in force when it was resolved.
    """
    if isinstance(event, ev.CaseSubmitted):
        return CaseFacts(
            status=CaseStatus.SUBMITTED,
            category=event.category,
            district=event.location.district,
            channel=event.channel,
            priority=event.priority,
            submitted_at=at,
        )
    if facts is None:
        raise Refused("the case has not been submitted", status=404)
    change: dict[str, Any] = {}
    match event:
        case ev.CaseAccepted():
            change = dict(
                status=CaseStatus.ACCEPTED,
                category=event.category,
                district=event.district,
                priority=event.priority,
                accepted_at=at,
            )
        case ev.CaseRejected():
            change = dict(status=CaseStatus.REJECTED, closed_at=at)
        case ev.CaseMerged():
            change = dict(status=CaseStatus.MERGED, merged_into=event.into_case_id, closed_at=at)
        case ev.CaseRouted():
            change = dict(
                status=CaseStatus.ROUTED,
                department=event.department,
                priority=event.priority,
                routed_at=at,
                due_at=event.due_at,
                overdue=False,
            )
        case ev.CaseReassigned():
            change = dict(
                status=CaseStatus.ROUTED,
                department=event.to_department,
                routed_at=at,
                due_at=event.due_at,
                overdue=False,
            )
        case ev.CaseReturned():
            change = dict(status=CaseStatus.AWAITING_DISPATCH, department=None, due_at=None)
        case ev.CaseAcknowledged():
            change = dict(
                status=CaseStatus.ACKNOWLEDGED,
                first_response_at=facts.first_response_at or at,
            )
        case ev.ProgressNoted() if event.by.role is Role.DEPARTMENT:
            change = dict(first_response_at=facts.first_response_at or at)
        case ev.CaseOverdue():
            change = dict(overdue=True)
        case ev.CaseEscalated():
            change = dict(escalated=True)
        case ev.CaseResolved():
            change = dict(
                status=CaseStatus.RESOLVED,
                resolved_at=at,
                resolved_on_time=event.on_time,
                first_response_at=facts.first_response_at or at,
            )
        case ev.CaseReopened():
            change = dict(
                status=CaseStatus.ROUTED,
                department=event.department,
                priority=event.priority,
                due_at=event.due_at,
                routed_at=at,
                resolved_at=None,
                resolved_on_time=None,
                overdue=False,
                reopened=facts.reopened + 1,
            )
        case ev.CaseClosed():
            change = dict(status=CaseStatus.CLOSED, closed_at=at)
    return facts.model_copy(update=change) if change else facts


class Case(BaseModel):
    """What a service knows of one case, enough to decide on its next command."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    version: int = 0
    facts: CaseFacts | None = None
    tracking_code_hash: str = ""
    location: Location | None = None
    description: str = ""
    contact: ev.ResidentContact | None = None
    media: tuple[ev.MediaRef, ...] = ()
    attributes: dict[str, str | tuple[str, ...]] = {}
    reporter_id: str | None = None
    assisting: tuple[str, ...] = ()
    disputed: bool = False
    last_event_at: datetime | None = None
    returned_by: tuple[str, ...] = ()
    """Departments that returned the case as not theirs; re-routing skips them."""
    from_history: bool = False
    """The last event came from a `history:*` producer: a past to keep, not news to act on."""

    @property
    def status(self) -> CaseStatus | None:
        return self.facts.status if self.facts else None

    def require_facts(self) -> CaseFacts:
        if self.facts is None:
            raise Refused(f"case {self.case_id} not found", status=404)
        return self.facts

    # -- rebuilding -----------------------------------------------------------

    def apply(self, envelope: Envelope) -> Case:
        """This case after a recorded event. Events at or below `version` change nothing."""
        if envelope.seq <= self.version:
            return self
        event = read_event(envelope)
        change: dict[str, Any] = dict(
            version=envelope.seq,
            facts=envelope.facts,
            last_event_at=envelope.occurred_at,
            from_history=envelope.is_history,
        )
        match event:
            case ev.CaseSubmitted():
                change.update(
                    tracking_code_hash=event.tracking_code_hash,
                    location=event.location,
                    description=event.description,
                    contact=event.contact,
                    media=event.media,
                    attributes=event.attributes,
                )
            case ev.CaseAccepted() if event.reporter_id:
                change.update(reporter_id=event.reporter_id)
            case ev.ReporterAssigned():
                change.update(reporter_id=event.reporter_id)
            case ev.CaseRouted():
                change.update(assisting=event.assisting, disputed=False)
            case ev.CaseReturned() if self.facts and self.facts.department:
                change.update(returned_by=(*self.returned_by, self.facts.department))
            case ev.FeedbackGiven():
                change.update(disputed=not event.fixed or not event.satisfied)
        return self.model_copy(update=change)

    # -- recording ------------------------------------------------------------

    def record(
        self,
        events: Sequence[ev.CaseEvent],
        *,
        at: datetime,
        recorded_at: datetime,
        producer: str,
        correlation_id: str,
        cause: str,
    ) -> list[Envelope]:
        """Envelopes for `events`, numbered after this case's version.

        Event ids derive from `cause` (a command id or the id of the event that
        led here), so deciding the same thing twice records the same ids.
        """
        envelopes: list[Envelope] = []
        facts = self.facts
        for index, event in enumerate(events):
            facts = next_facts(facts, event, at)
            seq = self.version + index + 1
            envelopes.append(
                record(
                    event,
                    event_id=derived_id(cause, self.case_id, seq, event.TYPE),
                    case_id=self.case_id,
                    seq=seq,
                    occurred_at=at,
                    recorded_at=recorded_at,
                    producer=producer,
                    correlation_id=correlation_id,
                    causation_id=cause,
                    facts=facts,
                )
            )
        return envelopes

    def fold(self, envelopes: Sequence[Envelope]) -> Case:
        case = self
        for envelope in envelopes:
            case = case.apply(envelope)
        return case


def new_command_id() -> str:
    return str(uuid.uuid4())


def actor_label(actor: Actor) -> str:
    """How logs name an actor: role and department, never a person."""
    return f"{actor.role.value}:{actor.department}" if actor.department else actor.role.value
