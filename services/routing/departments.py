"""What a department's own systems receive: its routed cases, on its integration topic.

Each department has a topic (`Topics.department_cases(code)`,
`zaiban.routing.department.<code>.cases`) keyed by case id. When a case is
routed, reassigned or reopened to a department, the department receives
everything it needs to act except the resident's personal data, which no topic
carries in clear (`contracts/personal.py`): `personal_data` says the case has
some (the contact; the exact address of a private place; the description as
written, when the message carries it masked), and the department reads it with
its token at `GET /api/staff/cases/{case_id}` — each such read is recorded for
audit. A department that loses a case to a reassignment receives a `withdrawn`
notice; when the resident's personal data is erased, every department that
leads, assists or returned the case receives an `erased` notice, and must
delete any copy it keeps.

Delivery is at least once: a message repeats with the same `message_id` (the
id of the routing event it announces), which the receiver uses to skip
repeats. Built from the event and the case (pure); `service.py` publishes.

A department answers on a topic of its own, `Topics.department_replies(code)`
(`zaiban.routing.department.<code>.replies`), which only it may write: routing
takes the sender from the topic, and refuses a reply naming another department
(`services/common/commands.py`, `Row.from_reply`). `zaiban departments onboard
<code>` gives a department its topics and its client configuration (README,
"How a department connects").
"""

from __future__ import annotations

from contracts import case_events as ev
from contracts.departments import DepartmentCase
from contracts.envelope import Envelope
from contracts.registry import read_event
from services.lifecycle.case import Case

ANNOUNCED = frozenset({ev.CaseRouted.TYPE, ev.CaseReassigned.TYPE, ev.CaseReopened.TYPE,
                       ev.PersonalDataErased.TYPE})
"""The events that hand a case to a department, or tell it to forget the resident."""


def messages_for(envelope: Envelope, case: Case) -> list[DepartmentCase]:
    """The messages `envelope` sends to departments; none for other events."""
    if envelope.type not in ANNOUNCED:
        return []
    event = read_event(envelope)
    if isinstance(event, ev.PersonalDataErased):
        return erased_notices(envelope, event, case)
    facts = envelope.facts
    base = dict(
        message_id=envelope.event_id,
        case_id=envelope.case_id,
        occurred_at=envelope.occurred_at,
    )
    details = dict(
        category=facts.category,
        priority=facts.priority,
        due_at=facts.due_at,
        description=case.description,
        location=case.location,
        personal_data=case.personal is not None,
        media=case.media,
        attributes=case.attributes,
        reopened=facts.reopened,
        response_due_at=facts.response_due_at,
    )
    match event:
        case ev.CaseRouted():
            lead = event.department
            assisting = event.assisting
            reason: str = event.reason
        case ev.CaseReassigned():
            lead = event.to_department
            assisting = ()
            reason = "reassigned"
        case ev.CaseReopened() if event.department:
            lead = event.department
            assisting = case.assisting
            reason = "reopened"
        case _:
            return []
    messages = [
        DepartmentCase.model_validate(
            {**base, **details, "action": "assigned", "role": role, "reason": reason,
             "department": department, "lead_department": lead, "assisting": assisting}
        )
        for department, role in [(lead, "lead"), *((a, "assisting") for a in assisting)]
    ]
    if isinstance(event, ev.CaseReassigned) and event.from_department:
        messages.append(
            DepartmentCase.model_validate(
                {**base, "action": "withdrawn", "role": "lead", "reason": "reassigned",
                 "department": event.from_department, "lead_department": lead}
            )
        )
    return messages


def erased_notices(envelope: Envelope, event: ev.PersonalDataErased,
                   case: Case) -> list[DepartmentCase]:
    """`erased` to every department that may hold the resident's details."""
    lead = envelope.facts.department
    holders = dict.fromkeys([*([lead] if lead else []), *case.assisting, *case.returned_by])
    return [
        DepartmentCase(message_id=envelope.event_id, action="erased",
                       role="lead" if department == lead else "assisting",
                       reason=event.reason, case_id=envelope.case_id, department=department,
                       lead_department=lead, occurred_at=envelope.occurred_at)
        for department in holders
    ]
