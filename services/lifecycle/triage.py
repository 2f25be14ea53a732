"""Triage by information officers (信息員): accept, reject, merge.

When a case is submitted, an officer (or a supervisor) decides what it is,
24/7. Only a case that is still `submitted` can be triaged; every decision
is a function of the case and the command, and a refusal says why.
Acceptance checks the command against the city (`policy.city`).

- Accept (`accept`): the officer may correct the category, district and
  priority; a corrected category brings its own priority class unless the
  officer sets one, and the event remembers what was corrected. After
  acceptance the case is routed (`dispatching.on_accepted`), or handed to the
  reporter the officer names.
- Reject (`reject`): with a reason; the case ends there.
- Merge (`merge`): a duplicate joins an open original (`into`, the case the
  command names, as the store has it), which must not itself be merged (merge
  into the case it went into) or rejected. Officers find candidates with
  intake's duplicate suggestions (`services/intake/duplicates.py`).
"""

from __future__ import annotations

from datetime import datetime

from contracts.case_commands import AcceptCase, Command, MergeCase, RejectCase
from contracts.case_events import CaseAccepted, CaseEvent, CaseMerged, CaseRejected
from contracts.facts import Actor, CaseFacts, CaseStatus
from services.lifecycle.access import permit
from services.lifecycle.case import Case
from services.lifecycle.errors import Invalid, NotFound, NotNow
from services.lifecycle.policy import Policy


def _submitted(case: Case, command: Command, actor: Actor, action: str, done: str) -> CaseFacts:
    permit(command, actor, action)
    facts = case.require_facts()
    if facts.status is not CaseStatus.SUBMITTED:
        # routing records its events from its triage on (`ownership.py`)
        raise NotNow(f"case {case.case_id} is {facts.status.value}; only a submitted case can "
                     f"be {done} (routing holds it since its triage)")
    return facts


def accept(
    case: Case, command: AcceptCase, actor: Actor, now: datetime, policy: Policy
) -> list[CaseEvent]:
    facts = _submitted(case, command, actor, "accept", "accepted")
    city = policy.city
    category_code = command.category or facts.category
    category = city.category(category_code)
    if category is None:
        raise Invalid(f"unknown category {category_code!r}")
    district = command.district or facts.district
    if city.district(district) is None:
        raise Invalid(f"unknown district {district!r}")
    # A corrected category brings its own priority class unless the officer sets one.
    if command.priority is not None:
        priority = command.priority
    elif command.category and command.category != facts.category:
        priority = category.priority
    else:
        priority = facts.priority
    corrected = {
        name: str(before.value if hasattr(before, "value") else before)
        for name, before, after in (
            ("category", facts.category, category_code),
            ("district", facts.district, district),
            ("priority", facts.priority, priority),
        )
        if before != after
    }
    return [
        CaseAccepted(
            officer=actor,
            category=category_code,
            district=district,
            priority=priority,
            corrected=corrected,
            reporter_id=command.reporter_id,
            note=command.note,
        )
    ]


def reject(
    case: Case, command: RejectCase, actor: Actor, now: datetime, policy: Policy
) -> list[CaseEvent]:
    _submitted(case, command, actor, "reject", "rejected")
    return [CaseRejected(officer=actor, reason=command.reason)]


def merge(
    case: Case, command: MergeCase, actor: Actor, now: datetime, policy: Policy, *,
    into: Case | None,
) -> list[CaseEvent]:
    _submitted(case, command, actor, "merge", "merged")
    if command.into_case_id == case.case_id:
        raise NotNow("a case cannot be merged into itself")
    if into is None or into.facts is None:
        raise NotFound(f"case {command.into_case_id} not found")
    if into.facts.status is CaseStatus.MERGED:
        raise NotNow(
            f"case {into.case_id} was itself merged into {into.facts.merged_into}; merge into that one"
        )
    if into.facts.status is CaseStatus.REJECTED:
        raise NotNow(f"case {into.case_id} was rejected; it cannot take duplicates")
    return [CaseMerged(officer=actor, into_case_id=into.case_id)]
