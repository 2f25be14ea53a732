"""Triage by information officers (信息員): accept, reject, merge.

When a case is submitted, an officer (or a supervisor) decides what it is,
24/7. Only a case that is still `submitted` can be triaged; every decision
is a function of the case and the command, and a refusal says why.

- Accept (`accept`): the officer may correct the category, district and
  priority; a corrected category brings its own priority class unless the
  officer sets one, and the event remembers what was corrected. After
  acceptance the case is routed (`dispatching.on_accepted`), or handed to the
  reporter the officer names.
- Reject (`reject`): with a reason; the case ends there.
- Merge (`merge`): a duplicate joins an open original, which must not itself
  be merged (merge into the case it went into) or rejected. Officers find
  candidates with intake's duplicate suggestions (`services/intake/duplicates.py`).
"""

from __future__ import annotations

from contracts.case_commands import AcceptCase, MergeCase, RejectCase
from contracts.case_events import CaseAccepted, CaseMerged, CaseRejected
from contracts.facts import Actor, CaseStatus
from services.common.catalogue import CityConfig
from services.lifecycle.case import Case
from services.lifecycle.errors import Invalid, NotFound, NotNow


def _require_submitted(case: Case, action: str) -> None:
    facts = case.require_facts()
    if facts.status is not CaseStatus.SUBMITTED:
        raise NotNow(f"case {case.case_id} is {facts.status.value}; only a submitted case can be {action}")


def accept(case: Case, command: AcceptCase, officer: Actor, city: CityConfig) -> list[CaseAccepted]:
    _require_submitted(case, "accepted")
    facts = case.require_facts()
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
            officer=officer,
            category=category_code,
            district=district,
            priority=priority,
            corrected=corrected,
            reporter_id=command.reporter_id,
            note=command.note,
        )
    ]


def reject(case: Case, command: RejectCase, officer: Actor) -> list[CaseRejected]:
    _require_submitted(case, "rejected")
    return [CaseRejected(officer=officer, reason=command.reason)]


def merge(case: Case, command: MergeCase, original: Case | None, officer: Actor) -> list[CaseMerged]:
    _require_submitted(case, "merged")
    if command.into_case_id == case.case_id:
        raise NotNow("a case cannot be merged into itself")
    if original is None or original.facts is None:
        raise NotFound(f"case {command.into_case_id} not found")
    if original.facts.status is CaseStatus.MERGED:
        raise NotNow(
            f"case {original.case_id} was itself merged into {original.facts.merged_into}; merge into that one"
        )
    if original.facts.status is CaseStatus.REJECTED:
        raise NotNow(f"case {original.case_id} was rejected; it cannot take duplicates")
    return [CaseMerged(officer=officer, into_case_id=original.case_id)]
