"""Who handles a case and by when: the dispatch rules and the deadlines.

The city's dispatch catalogue (`deploy/config/dispatch.yaml`) maps
category × district to a lead department (承辦單位) and optional assisting
ones; the first matching rule wins. Each priority class has three time limits
(`deploy/config/deadlines.yaml`; a category may set its own): triage, counted
from submission; the department's first response (签收) and resolution, counted
from the moment the case reaches its department. Each deadline is worked out
once, when its clock starts, and recorded in the event that starts it, so a
later change of the limits never moves a case's deadline (`Policy.due`;
working days by the official calendar, `services/common/workdays.py`).

A `Policy` is built from the city and plain values; routing builds it from its
settings (`RoutingSettings.policy`), tests and the demo build it directly.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.facts import Clock, Priority
from services.common.catalogue import CityConfig
from services.common.workdays import OutsideCalendar
from services.lifecycle.errors import NotNow


@dataclass(frozen=True)
class Policy:
    """Everything the deciders decide with besides the case: the city's rules and the clocks."""

    city: CityConfig
    feedback_reminder: timedelta = timedelta(days=7)
    """A resolution unanswered this long: the resident is asked once more."""
    feedback_window: timedelta = timedelta(days=10)
    """A resolution unanswered this long (and at least the rest of it after the asking)
    closes by itself."""
    config_version: int | None = None
    """The version of the city's configuration `city` is (services/common/cityconfig.py):
    recorded with each routing, so a case shows the rules it was routed by."""

    def __post_init__(self) -> None:
        if not timedelta(0) < self.feedback_reminder < self.feedback_window:
            raise ValueError(
                f"the feedback reminder ({self.feedback_reminder}) must come after the "
                f"resolution and before the feedback window closes ({self.feedback_window})")

    def due(self, clock: Clock, category: str, priority: Priority, start: datetime) -> datetime:
        """When `clock` of a case of `category` in `priority` class started at `start` runs
        out, by the city's time limits and calendar now."""
        return due_in(self.city, clock, category, priority, start)

    def reaching(self, category: str, priority: Priority, start: datetime) -> Reaching:
        """The deadlines a case gets when it reaches a department at `start`."""
        return Reaching(response_due_at=self.due("response", category, priority, start),
                        due_at=self.due("resolution", category, priority, start))


@dataclass(frozen=True)
class Reaching:
    """The deadlines of a case that reaches a department: its first response's (签收) and
    its resolution's (`due_at`), as `CaseRouted`, `CaseReassigned`, `CaseReopened` record them."""

    response_due_at: datetime
    due_at: datetime


def due_in(city: CityConfig, clock: Clock, category: str, priority: Priority,
           start: datetime) -> datetime:
    """`CityConfig.due`; a deadline counted in working days into a year the calendar does not
    know, in a city that chose to refuse rather than count weekdays, refuses the command (it
    can be given again once the year is in `calendar.yaml`)."""
    try:
        return city.due(clock, category, priority, start)
    except OutsideCalendar as unknown:
        raise NotNow(str(unknown)) from unknown


@dataclass(frozen=True)
class Assignment:
    """The department that leads a case, those that assist, and the rule that said so."""

    lead: str
    assisting: tuple[str, ...] = ()
    rule: str = "manual"


def by_rules(
    city: CityConfig, category: str, district: str, *, exclude: Collection[str] = ()
) -> Assignment | None:
    """The assignment the dispatch rules give, skipping departments in `exclude`.

    Without exclusions this is the first matching rule (`CityConfig.rule_for`).
    A department that returned the case is excluded: its rule's assisting
    departments come next, then later matching rules (a district rule falls
    back to the city-wide one). None when no department is left: the case
    then waits for an officer to route it by hand.
    """
    first = city.rule_for(category, district)
    if first is None:
        return None
    rules = [first, *(r for r in city.rules if r is not first and r.matches(category, district))]
    for rule in rules:
        candidates = [d for d in (rule.lead, *rule.assisting) if d not in exclude]
        if candidates:
            lead, *assisting = candidates
            return Assignment(lead=lead, assisting=tuple(assisting), rule=rule.name)
    return None


def by_hand(city: CityConfig, department: str, category: str, district: str) -> Assignment:
    """Someone named the department. If the rules agree, keep their name and assisting ones."""
    suggested = by_rules(city, category, district)
    if suggested is not None and suggested.lead == department:
        return suggested
    return Assignment(lead=department)
