"""One case as the figures see it: its mark, and what it adds to the counters.

A case's contribution to the counters is a pure function of its public facts
(`contributions(mark_of(facts))`). When an event arrives, its case's
contribution moves from what the facts were before to what they are after:
``delta = contributions(after) - contributions(before)`` (plus the feedback
answer, and a resolution left unanswered: the figures about an event rather than a state). So an
officer correcting the category at acceptance moves the case from one category
to the other; a reopen takes back the resolution, its on-time count and its
resolution time; a case reassigned to another department takes its figures
along. What each counter means is in `definitions.FIGURES`; how the
contributions are summed per partition, in `ledger.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from functools import lru_cache
from typing import Any

from contracts.facts import CaseStatus
from services.metrics.counters import ALL, FIRST_RESPONSE, RESOLUTION_TIME, key
from services.metrics.definitions import NO_DEPARTMENT
from services.metrics.histograms import bucket_of
from services.metrics.reading import Counted, CountedFacts

OPEN_STATUSES = frozenset({CaseStatus.SUBMITTED, CaseStatus.ACCEPTED,
                           CaseStatus.AWAITING_DISPATCH, CaseStatus.ROUTED,
                           CaseStatus.ACKNOWLEDGED})
FINISHED_STATUSES = frozenset({CaseStatus.CLOSED, CaseStatus.REJECTED, CaseStatus.MERGED})
"""A finished case takes no more events (routing's `_admit`), so its figures are final."""


@dataclass(frozen=True, slots=True)
class Mark:
    """What the figures know of one case after its event `seq`: dimensions and outcome."""

    seq: int
    status: str
    category: str
    district: str
    channel: str
    department: str | None
    day: str
    accepted: bool = False
    first_response: int | None = None
    resolved_day: str | None = None
    resolution: int | None = None
    on_time: bool = False
    reopened: int = 0

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def shape(self) -> tuple[Any, ...]:
        """Everything the contributions depend on (all but `seq`)."""
        return (self.status, self.category, self.district, self.channel, self.department,
                self.day, self.accepted, self.first_response, self.resolved_day,
                self.resolution, self.on_time, self.reopened)

    def to_json(self) -> list[Any]:
        return [self.seq, *self.shape()]

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> Mark:
        (seq, status, category, district, channel, department, day, accepted, first_response,
         resolved_day, resolution, on_time, reopened) = data
        return cls(seq, status, category, district, channel, department, day, bool(accepted),
                   first_response, resolved_day, resolution, bool(on_time), int(reopened))


def city_day(moment: Any, tz: tzinfo) -> str:
    return str(moment.astimezone(tz).date().isoformat())


def mark_of(seq: int, facts: CountedFacts, tz: tzinfo) -> Mark:
    """The case's mark from its public facts after event `seq`."""
    submitted = facts.submitted_at
    first_response = (
        bucket_of((facts.first_response_at - submitted).total_seconds())
        if facts.first_response_at is not None else None
    )
    resolved = facts.resolved_at
    return Mark(
        seq=seq,
        status=facts.status.value,
        category=facts.category,
        district=facts.district,
        channel=facts.channel.value,
        department=facts.department,
        day=city_day(submitted, tz),
        accepted=facts.accepted_at is not None,
        first_response=first_response,
        resolved_day=city_day(resolved, tz) if resolved is not None else None,
        resolution=bucket_of((resolved - submitted).total_seconds()) if resolved else None,
        on_time=resolved is not None and facts.resolved_on_time is True,
        reopened=facts.reopened,
    )


# --- what a mark adds to the counters -------------------------------------------------------------


def _measures(mark: Mark) -> tuple[str, ...]:
    """The case counts a case with this mark is part of."""
    resolved = mark.resolved_day is not None
    status = mark.status
    measures = ["received"]
    if mark.accepted:
        measures.append("accepted")
    if status == CaseStatus.REJECTED:
        measures.append("rejected")
    elif status == CaseStatus.MERGED:
        measures.append("merged")
    elif status in OPEN_STATUSES:
        measures.append("open")
    if resolved:
        measures.append("resolved")
        if mark.on_time:
            measures.append("on_time")
    if resolved or mark.reopened:
        measures.append("resolved_ever")
    if mark.reopened:
        measures.append("reopened")
    return tuple(measures)


@lru_cache(maxsize=16_384)
def _group_keys(measures: tuple[str, ...], category: str, district: str, channel: str,
                department: str | None) -> tuple[str, ...]:
    groups = (ALL, ("category", category), ("district", district), ("channel", channel),
              ("department", department or NO_DEPARTMENT))
    return tuple(key(m, dimension, value) for dimension, value in groups for m in measures)


@lru_cache(maxsize=65_536)
def _histogram_keys(measure: str, bucket: int, category: str, district: str, channel: str,
                    department: str | None) -> tuple[str, ...]:
    return _group_keys((f"{measure}#{bucket}",), category, district, channel, department)


@lru_cache(maxsize=16_384)
def _day_keys(measures: tuple[str, ...], day: str, resolved_day: str | None) -> tuple[str, ...]:
    keys = [key(m, "day", day) for m in measures]
    if resolved_day is not None:
        keys.append(key("resolved_on", "day", resolved_day))
    return tuple(keys)


def contribution_keys(mark: Mark) -> tuple[str, ...]:
    """The counters one case adds 1 to, given its mark (see `definitions.FIGURES`)."""
    measures = _measures(mark)
    where = (mark.category, mark.district, mark.channel, mark.department)
    keys = _group_keys(measures, *where) + _day_keys(measures, mark.day, mark.resolved_day)
    if mark.first_response is not None:
        keys += _histogram_keys(FIRST_RESPONSE, mark.first_response, *where)
    if mark.resolution is not None:
        keys += _histogram_keys(RESOLUTION_TIME, mark.resolution, *where)
    return keys


def contributions(mark: Mark | None) -> dict[str, int]:
    """What one case adds to the counters, given its mark (nothing if unknown)."""
    return dict.fromkeys(contribution_keys(mark), 1) if mark is not None else {}


def move(total: dict[str, int], before: Mark | None, after: Mark | None) -> None:
    """Add to `total` the change of one case's contribution from `before` to `after`."""
    if before is not None and after is not None and before.shape() == after.shape():
        return
    if after is not None:
        for k in contribution_keys(after):
            total[k] = total.get(k, 0) + 1
    if before is not None:
        for k in contribution_keys(before):
            total[k] = total.get(k, 0) - 1


# --- what an event changes ------------------------------------------------------------------------


def answer_counts(event: Counted, tz: tzinfo) -> dict[str, int]:
    """The feedback answer an event gives (or the resolution left unanswered, when a case
    closes for want of one), counted under the case's dimensions now."""
    if not event.answer:
        return {}
    facts = event.facts
    keys = _group_keys(event.answer, facts.category, facts.district, facts.channel.value,
                       facts.department) + _day_keys(event.answer,
                                                     city_day(facts.submitted_at, tz), None)
    return dict.fromkeys(keys, 1)


def deltas(before: Mark | None, event: Counted, tz: tzinfo) -> tuple[Mark, dict[str, int]]:
    """The case's mark after `event`, and how the counters change because of it."""
    after = mark_of(event.seq, event.facts, tz)
    change: dict[str, int] = {}
    move(change, before, after)
    for k, v in answer_counts(event, tz).items():
        change[k] = change.get(k, 0) + v
    return after, {k: v for k, v in change.items() if v}
