"""What routing does by itself when the log says a case was accepted. Pure.

A reaction is decided on the case as routing knows it *after* folding the
event (and the rest of its batch), and recorded with the reacted-to event's
id as its cause, so a redelivered event finds the work done and reprocessing
mints the same event ids. What follows an acceptance is dated at the
acceptance (`now` is its time), so the deadline does not depend on how far
behind the log routing happens to be. Events from `history:*` producers are
never reacted to (the service filters them out before calling here).
"""

from __future__ import annotations

from datetime import datetime

from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.facts import SYSTEM, CaseStatus
from contracts.registry import read_event
from services.common.case import Case
from services.routing.dispatch import Policy, by_rules
from services.routing.handling import routed


def on_accepted(
    case: Case, accepted: Envelope, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """An accepted case goes to the department the rules name.

    - If the officer handed it to a reporter (newsroom handling), the reporter
      is assigned and the case is not dispatched: the reporter routes it
      later (as in the reference case, routed after the site visit).
    - If no rule fits, nothing is recorded: the case stays `accepted` with no
      department, which is the officers' queue of cases to route by hand.
    - Decided on where the case stands now, not on whether anything happened
      since: a note or an escalation before routing reacted changes nothing,
      while a redelivered acceptance finds the case routed (or its reporter
      assigned) and does nothing.
    """
    if case.status is not CaseStatus.ACCEPTED or accepted.seq > case.version:
        return []
    facts = case.require_facts()
    event = read_event(accepted)
    if not isinstance(event, ev.CaseAccepted):
        return []
    if event.reporter_id:
        if case.reporter_id == event.reporter_id and case.version > accepted.seq:
            return []  # assigned already (by this reaction, or by hand)
        return [ev.ReporterAssigned(by=event.officer, reporter_id=event.reporter_id)]
    assignment = by_rules(policy.city, facts.category, facts.district)
    if assignment is None:
        return []
    return [routed(facts, assignment, reason="accepted", by=SYSTEM, now=now, policy=policy)]
