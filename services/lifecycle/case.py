"""The case aggregate: the state a command is checked against, rebuilt from events.

State changes only by events, and each event type has ONE evolve function
below (`@evolves(...)`) that moves the case's own state and its public facts
together. `Case.record` runs it to number the events, compute the facts that
travel in each envelope and give the case after them; `Case.apply` runs the
same function when an event comes back from the log, so a case read back is
the case its commands saw. Deciding what may happen next lives in the slice
modules beside this one.

Definitions used by every figure the platform publishes (the facts below):
- first response: the first acknowledgement, progress note or resolution
  by the handling department;
- resolved (辦結): status resolved or closed after a resolution; a reopen
  undoes it until the next resolution;
- on time: resolved no later than the deadline in force when it was resolved.

Deadlines (`services/lifecycle/policy.py`): triage's is recorded at submission,
the department's first response's (签收) and resolution's (`due_at`) when the case
reaches a department (routed, reassigned, reopened), which also starts them afresh.
Each overdue flag clears when the case moves past its step (`supervision.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict

from contracts import case_events as ev
from contracts.envelope import Envelope, derived_id
from contracts.facts import CaseFacts, CaseStatus, Handling, Location, Role
from contracts.personal import Sealed
from contracts.registry import read_event, record
from services.lifecycle.errors import NotFound

Status = CaseStatus

REPLY_CAUSE = "reply/"
"""How the cause of what a department's reply on the bus recorded begins (`reply_cause`)."""


def reply_cause(department: str, reply_id: str) -> str:
    """The cause of what the reply `reply_id` of `department` records: the same for each copy
    of the reply (delivery is at least once), another for each department (reply ids are
    each sender's own)."""
    return f"{REPLY_CAUSE}{derived_id('department-reply', department, reply_id)}"


class Case(BaseModel):
    """What a service knows of one case, enough to decide on its next command."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    version: int = 0
    facts: CaseFacts | None = None
    tracking_code_hash: str = ""
    location: Location | None = None
    description: str = ""
    personal: Sealed | None = None
    """The resident's personal data, sealed with the case's key (`contracts/personal.py`)."""
    erased: bool = False
    """The personal data was erased (`PersonalDataErased`): it is gone for good."""
    media: tuple[ev.MediaRef, ...] = ()
    attributes: dict[str, str | tuple[str, ...]] = {}
    reporter_id: str | None = None
    assisting: tuple[str, ...] = ()
    disputed: bool = False
    """The resident answered the resolution in force: fixed, but not satisfied; a supervisor
    rules on it (`supervision.settle_dispute`)."""
    closes_unanswered_at: datetime | None = None
    """The resident was asked again about the resolution in force (`ResidentAskedAgain`):
    when the case closes if they still do not answer."""
    last_event_at: datetime | None = None
    returned_by: tuple[str, ...] = ()
    """Departments that returned the case as not theirs; re-routing skips them."""
    from_history: bool = False
    """The last event came from a `history:*` producer: a past to keep, not news to act on."""
    replies: tuple[str, ...] = ()
    """The causes of the department replies taken on the case (`reply_cause`), in its events'
    `causation_id`: a copy of a reply taken already is known by the case itself, without a
    record of its own to look up before each reply and to write after it."""
    handling: Handling | None = None
    """The last handler its department gave it (`assigning.py`); `handler` says whether
    that assignment still holds."""

    @property
    def handler(self) -> str | None:
        """The handler of the routing in force, if its department assigned one."""
        if self.handling is None or self.facts is None:
            return None
        return self.handling.in_force(self.facts)

    @property
    def status(self) -> CaseStatus | None:
        return self.facts.status if self.facts else None

    def require_facts(self) -> CaseFacts:
        if self.facts is None:
            raise NotFound(f"case {self.case_id} not found")
        return self.facts

    # -- rebuilding -----------------------------------------------------------

    def apply(self, envelope: Envelope) -> Case:
        """This case after a recorded event. Events at or below `version` change nothing."""
        if envelope.seq <= self.version:
            return self
        event = read_event(envelope)
        before = self
        if self.facts is None and not isinstance(event, ev.CaseSubmitted):
            # A case whose submission this service never saw starts where the log says it stood.
            before = self.model_copy(update={"facts": envelope.facts})
        after = evolve(before, event, envelope.occurred_at)
        return after.model_copy(update=dict(
            version=envelope.seq,
            facts=envelope.facts,  # old events in the forever log keep the facts they had
            last_event_at=envelope.occurred_at,
            from_history=envelope.is_history,
            replies=self.replies_after(envelope.causation_id),
        ))

    def fold(self, envelopes: Sequence[Envelope]) -> Case:
        case = self
        for envelope in envelopes:
            case = case.apply(envelope)
        return case

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
    ) -> Recorded:
        """Envelopes for `events`, numbered after this case's version, each with the
        case's public facts after it; and the case after them (what `fold` of the
        envelopes gives, without reading them back).

        Event ids derive from `cause` (a command id or the id of the event that
        led here), so deciding the same thing twice records the same ids.

        An event is never dated before the one it follows: `at` earlier than the case's
        last event (two services' clocks a hair apart, or one whose clock could not be
        measured, `services/common/clock.py`) is taken as that event's moment, so a
        timeline never goes backwards and no duration is negative.
        """
        if self.last_event_at is not None and at < self.last_event_at:
            at = self.last_event_at
        envelopes: list[Envelope] = []
        case = self
        for index, event in enumerate(events):
            case = evolve(case, event, at)
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
                    facts=case.require_facts(),
                )
            )
        if not envelopes:
            return Recorded(envelopes, self)
        last = envelopes[-1]
        # (its facts are the ones the last envelope carries already)
        return Recorded(envelopes, case.model_copy(update=dict(
            version=last.seq, last_event_at=at, from_history=last.is_history,
            replies=self.replies_after(cause))))

    def replies_after(self, cause: str | None) -> tuple[str, ...]:
        """`replies` after an event caused by `cause`."""
        if cause is None or not cause.startswith(REPLY_CAUSE) or cause in self.replies:
            return self.replies
        return (*self.replies, cause)


class Recorded(NamedTuple):
    """What recording events gives: their envelopes, and the case after them."""

    envelopes: list[Envelope]
    case: Case


def new_command_id() -> str:
    return str(uuid.uuid4())


# --- evolve: one function per event type ------------------------------------------

E = TypeVar("E", bound=ev.CaseEvent)
EvolveOf = Callable[[Case, E, datetime], Case]
"""How an event of type E changes a case: the case after it, which happened at the given time."""

EVOLVE: dict[type[ev.CaseEvent], EvolveOf[Any]] = {}
"""Each event type's evolve (registered with `@evolves`)."""

CHANGES_NOTHING: frozenset[type[ev.CaseEvent]] = frozenset({ev.SiteVisited, ev.StoryPublished})
"""Events that are part of the timeline but move neither the case's state nor its facts."""


def evolves(event_type: type[E]) -> Callable[[EvolveOf[E]], EvolveOf[E]]:
    """Register the decorated function as the evolve of `event_type` (one per type)."""

    def register(evolve_: EvolveOf[E]) -> EvolveOf[E]:
        if event_type in EVOLVE or event_type in CHANGES_NOTHING:
            raise TypeError(f"{event_type.__name__} evolves in one place only")
        EVOLVE[event_type] = evolve_
        return evolve_

    return register


def evolve(case: Case, event: ev.CaseEvent, at: datetime) -> Case:
    """`case` after `event` (at `at`): its state and its public facts, together."""
    if case.facts is None and not isinstance(event, ev.CaseSubmitted):
        raise NotFound("the case has not been submitted")
    if type(event) in CHANGES_NOTHING:
        return case
    return EVOLVE[type(event)](case, event, at)


def _changed(case: Case, facts: dict[str, Any] | None = None, **state: Any) -> Case:
    """`case` with these facts and these fields of its own state changed."""
    if facts:
        state["facts"] = case.require_facts().model_copy(update=facts)
    return case.model_copy(update=state) if state else case


def _first_response(case: Case, at: datetime) -> datetime:
    return case.require_facts().first_response_at or at


def _reaches_department(response_due_at: datetime | None) -> dict[str, Any]:
    """The department's clocks start afresh: it has not responded yet, nothing is overdue."""
    return dict(response_due_at=response_due_at, responded_at=None, response_overdue=False)


def _responded(case: Case, at: datetime) -> dict[str, Any]:
    """The department the case is with has responded (签收): its response is not overdue."""
    return dict(responded_at=case.require_facts().responded_at or at, response_overdue=False)


@evolves(ev.CaseSubmitted)
def _submitted(case: Case, event: ev.CaseSubmitted, at: datetime) -> Case:
    facts = CaseFacts(
        status=Status.SUBMITTED,
        category=event.category,
        district=event.location.district,
        channel=event.channel,
        priority=event.priority,
        submitted_at=at,
        triage_due_at=event.triage_due_at,
    )
    return case.model_copy(update=dict(
        facts=facts,
        tracking_code_hash=event.tracking_code_hash,
        location=event.location,
        description=event.description,
        personal=event.personal,
        media=event.media,
        attributes=event.attributes,
    ))


@evolves(ev.CaseAccepted)
def _accepted(case: Case, event: ev.CaseAccepted, at: datetime) -> Case:
    return _changed(
        case,
        facts=dict(status=Status.ACCEPTED, category=event.category, district=event.district,
                   priority=event.priority, accepted_at=at, triage_overdue=False),
        reporter_id=event.reporter_id or case.reporter_id,
    )


@evolves(ev.CaseRejected)
def _rejected(case: Case, event: ev.CaseRejected, at: datetime) -> Case:
    return _changed(case, facts=dict(status=Status.REJECTED, closed_at=at, triage_overdue=False))


@evolves(ev.CaseMerged)
def _merged(case: Case, event: ev.CaseMerged, at: datetime) -> Case:
    return _changed(case, facts=dict(status=Status.MERGED, merged_into=event.into_case_id,
                                     closed_at=at, triage_overdue=False))


@evolves(ev.CaseRouted)
def _routed(case: Case, event: ev.CaseRouted, at: datetime) -> Case:
    return _changed(
        case,
        facts=dict(status=Status.ROUTED, department=event.department, priority=event.priority,
                   routed_at=at, due_at=event.due_at, overdue=False,
                   **_reaches_department(event.response_due_at)),
        assisting=event.assisting,
        disputed=False,
    )


@evolves(ev.CaseReassigned)
def _reassigned(case: Case, event: ev.CaseReassigned, at: datetime) -> Case:
    return _changed(case, facts=dict(status=Status.ROUTED, department=event.to_department,
                                     routed_at=at, due_at=event.due_at, overdue=False,
                                     **_reaches_department(event.response_due_at)))


@evolves(ev.CaseReturned)
def _returned(case: Case, event: ev.CaseReturned, at: datetime) -> Case:
    department = case.require_facts().department
    return _changed(
        case,
        facts=dict(status=Status.AWAITING_DISPATCH, department=None, due_at=None,
                   response_due_at=None, response_overdue=False),
        returned_by=(*case.returned_by, department) if department else case.returned_by,
    )


@evolves(ev.CaseAcknowledged)
def _acknowledged(case: Case, event: ev.CaseAcknowledged, at: datetime) -> Case:
    return _changed(case, facts=dict(status=Status.ACKNOWLEDGED,
                                     first_response_at=_first_response(case, at),
                                     **_responded(case, at)))


@evolves(ev.ProgressNoted)
def _progress_noted(case: Case, event: ev.ProgressNoted, at: datetime) -> Case:
    if event.by.role is not Role.DEPARTMENT:
        return case  # an officer's or reporter's note is no response from the department
    lead = event.by.department == case.require_facts().department
    return _changed(case, facts=dict(first_response_at=_first_response(case, at),
                                     **(_responded(case, at) if lead else {})))


@evolves(ev.ReporterAssigned)
def _reporter_assigned(case: Case, event: ev.ReporterAssigned, at: datetime) -> Case:
    return _changed(case, reporter_id=event.reporter_id)


@evolves(ev.CaseOverdue)
def _overdue(case: Case, event: ev.CaseOverdue, at: datetime) -> Case:
    flag = {"triage": "triage_overdue", "response": "response_overdue"}.get(event.clock, "overdue")
    return _changed(case, facts={flag: True})


@evolves(ev.CaseEscalated)
def _escalated(case: Case, event: ev.CaseEscalated, at: datetime) -> Case:
    return _changed(case, facts=dict(escalated=True))


@evolves(ev.CaseResolved)
def _resolved(case: Case, event: ev.CaseResolved, at: datetime) -> Case:
    return _changed(case, facts=dict(status=Status.RESOLVED, resolved_at=at,
                                     resolved_on_time=event.on_time,
                                     first_response_at=_first_response(case, at),
                                     overdue=False, **_responded(case, at)),
                    disputed=False, closes_unanswered_at=None)


@evolves(ev.FeedbackGiven)
def _feedback_given(case: Case, event: ev.FeedbackGiven, at: datetime) -> Case:
    # not fixed reopens the case (CaseReopened follows): only fixed-but-not-satisfied disputes it
    return _changed(case, disputed=event.fixed and not event.satisfied)


@evolves(ev.ResidentAskedAgain)
def _asked_again(case: Case, event: ev.ResidentAskedAgain, at: datetime) -> Case:
    return _changed(case, closes_unanswered_at=event.closes_at)


@evolves(ev.DisputeSettled)
def _dispute_settled(case: Case, event: ev.DisputeSettled, at: datetime) -> Case:
    return _changed(case, disputed=False)


@evolves(ev.CaseReopened)
def _reopened(case: Case, event: ev.CaseReopened, at: datetime) -> Case:
    return _changed(case, facts=dict(
        status=Status.ROUTED, department=event.department, priority=event.priority,
        due_at=event.due_at, routed_at=at, resolved_at=None, resolved_on_time=None,
        overdue=False, reopened=case.require_facts().reopened + 1,
        **_reaches_department(event.response_due_at),
    ), disputed=False, closes_unanswered_at=None)


@evolves(ev.PersonalDataErased)
def _personal_data_erased(case: Case, event: ev.PersonalDataErased, at: datetime) -> Case:
    # the photos are deleted with the personal data: their references lead nowhere now
    return _changed(case, personal=None, erased=True, media=())


@evolves(ev.CaseClosed)
def _closed(case: Case, event: ev.CaseClosed, at: datetime) -> Case:
    return _changed(case, facts=dict(status=Status.CLOSED, closed_at=at))


@evolves(ev.HandlerAssigned)
def _handler_assigned(case: Case, event: ev.HandlerAssigned, at: datetime) -> Case:
    facts = case.require_facts()
    return _changed(case, handling=Handling(handler=event.handler, department=facts.department,
                                            routed_at=facts.routed_at))
