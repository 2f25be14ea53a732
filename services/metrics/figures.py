"""The platform's public figures, defined once, computed purely. No I/O here.

Every figure is defined in `FIGURES` below, in the words of
`services.common.case.next_facts`, whose facts travel with every event:

- *first response*: the first acknowledgement, progress note or resolution by
  the handling department (`facts.first_response_at`);
- *resolved* (辦結): the case has a resolution in force (`facts.resolved_at`
  is set: status resolved, or closed after a resolution); a reopen takes it
  back until the next resolution;
- *on time*: resolved no later than the deadline in force when it was
  resolved (`CaseResolved.on_time`, kept as `facts.resolved_on_time`).

How the figures are kept
------------------------
A case's contribution to the counters is a pure function of its public facts
(`contributions(mark_of(facts))`). When an event arrives, its case's
contribution moves from what the facts were before to what they are after:
``delta = contributions(after) - contributions(before)`` (plus the feedback
answer, the one figure that is about an event rather than a state). So an
officer correcting the category at acceptance moves the case from one category
to the other; a reopen takes back the resolution, its on-time count and its
resolution time; a case reassigned to another department takes its figures
along. The counters are always the sum of the contributions of every case's
latest facts, which is what replaying the log from offset 0 gives too (and
why a batch may move each case once, from its mark before the batch to its
mark after it: the steps in between cancel out).

To know "before", the projection remembers each open case's `Mark` (its
dimensions and outcome: ~110 bytes of JSON, ~20 compressed), and only the
last `seq` of a finished (closed, rejected, merged) case, whose figures can no
longer change. That memory is also what makes a duplicated record harmless:
an event at or below the case's remembered `seq` is skipped (see `fold`).
Counting from the events alone (`CaseResolved.on_time`, `CaseAccepted.corrected`
...) would need no memory, but could not tell a record published twice from
a new one, nor a second progress note at the same instant from a first
response; the facts before and after can.

Breakdowns
----------
A case counts under its *current* category, district, channel and department
(the department responsible for it now; `_none` before it is routed or while
it waits to be re-routed), and under the day it was *submitted* (city time).
Every breakdown therefore partitions the cases, and its rows sum to the total.
Feedback counts under the case's dimensions when the answer was given.
Durations (first response, resolution) are kept by every dimension except the
day.

Durations are kept as histograms with `BUCKETS_PER_DOUBLING` logarithmic
buckets per doubling of seconds: a median or 90th percentile is an estimate
that lies within the bucket holding the true value (at most 9% wide), see
`quantile`. The counts and rates are exact.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.facts import CaseFacts, CaseStatus
from contracts.registry import read_event

# --- the definitions --------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One published figure: its name in three languages and what exactly it counts."""

    code: str
    zh_hans: str
    zh_hant: str
    en: str
    definition: str

    def name(self, language: str) -> str:
        return {"zh-Hans": self.zh_hans, "zh-Hant": self.zh_hant}.get(language, self.en)


FIGURES: tuple[Figure, ...] = (
    Figure("received", "收到诉求", "收到訴求", "Received",
           "Cases submitted (CaseSubmitted), through any channel, whatever became of them "
           "later (rejected and merged cases included)."),
    Figure("accepted", "受理", "受理", "Accepted",
           "Cases an information officer accepted at triage (CaseAccepted)."),
    Figure("rejected", "不予受理", "不予受理", "Rejected",
           "Cases rejected at triage (CaseRejected)."),
    Figure("merged", "合并", "合併", "Merged",
           "Cases merged into another case as duplicates (CaseMerged)."),
    Figure("open", "在办", "在辦", "Being handled",
           "Cases neither resolved nor finished: submitted, accepted, awaiting dispatch, "
           "routed or acknowledged now."),
    Figure("resolved", "办结", "辦結", "Resolved",
           "Cases with a resolution in force: resolved (CaseResolved), or closed after a "
           "resolution. A reopen (CaseReopened) takes the resolution back until the next one."),
    Figure("resolution_rate", "办结率", "辦結率", "Resolution rate",
           "resolved / received."),
    Figure("on_time", "按时办结", "按時辦結", "Resolved on time",
           "Resolved cases whose resolution in force came no later than the deadline in "
           "force when it was resolved (CaseResolved.on_time)."),
    Figure("on_time_rate", "按时办结率", "按時辦結率", "On-time rate",
           "on_time / resolved."),
    Figure("feedback", "评价", "評價", "Feedback answers",
           "Answers residents gave to a resolution (FeedbackGiven); a case reopened and "
           "resolved again may be answered again, and each answer counts."),
    Figure("satisfied", "满意", "滿意", "Satisfied",
           "Feedback answers saying the resident is satisfied (FeedbackGiven.satisfied)."),
    Figure("satisfaction_rate", "满意率", "滿意率", "Satisfaction rate",
           "satisfied / feedback."),
    Figure("resolved_ever", "曾办结", "曾辦結", "Ever resolved",
           "Cases resolved at least once: resolved now, or reopened since."),
    Figure("reopened", "重新办理", "重新辦理", "Reopened",
           "Cases reopened at least once because the resident said the fix did not hold "
           "(CaseReopened)."),
    Figure("reopen_rate", "重新办理率", "重新辦理率", "Reopen rate",
           "reopened / resolved_ever."),
    Figure("first_response", "首次响应用时", "首次回應用時", "Time to first response",
           "first_response_at - submitted_at, for cases with a first response: the first "
           "acknowledgement, progress note or resolution by the handling department. "
           "Median and 90th percentile (nearest rank), estimated within one histogram bucket."),
    Figure("resolution_time", "办结用时", "辦結用時", "Time to resolution",
           "resolved_at - submitted_at of the resolution in force, for resolved cases. "
           "Median and 90th percentile (nearest rank), estimated within one histogram bucket."),
    Figure("resolved_on", "当日办结", "當日辦結", "Resolved that day",
           "By day only: resolutions in force that were recorded on that day (city time)."),
)

Dimension = Literal["category", "district", "channel", "department", "day"]
DIMENSIONS: tuple[Dimension, ...] = ("category", "district", "channel", "department", "day")
ALL = ("all", "*")
NO_DEPARTMENT = "_none"
"""The department of a case no department is responsible for (not routed yet, or returned)."""

OPEN_STATUSES = frozenset({CaseStatus.SUBMITTED, CaseStatus.ACCEPTED,
                           CaseStatus.AWAITING_DISPATCH, CaseStatus.ROUTED,
                           CaseStatus.ACKNOWLEDGED})
FINISHED_STATUSES = frozenset({CaseStatus.CLOSED, CaseStatus.REJECTED, CaseStatus.MERGED})
"""A finished case takes no more events (routing's `_admit`), so its figures are final."""

# --- durations ----------------------------------------------------------------------------------

BUCKETS_PER_DOUBLING = 8
"""Bucket b >= 0 holds durations in [2^(b/8), 2^((b+1)/8)) seconds, 9% wide; b = -1 holds [0, 1)."""


def bucket_of(seconds: float) -> int:
    if seconds < 1:
        return -1
    b = math.floor(BUCKETS_PER_DOUBLING * math.log2(seconds))
    # guard float error at the edges so bounds(b) always contains `seconds`
    while seconds < bucket_bounds(b)[0]:
        b -= 1
    while seconds >= bucket_bounds(b)[1]:
        b += 1
    return b


def bucket_bounds(b: int) -> tuple[float, float]:
    if b < 0:
        return 0.0, 1.0
    return 2 ** (b / BUCKETS_PER_DOUBLING), 2 ** ((b + 1) / BUCKETS_PER_DOUBLING)


def quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (nearest rank: the value of rank ceil(q*n)) estimated from `histogram`.

    The walk finds the bucket holding that rank, so the estimate lies in the same
    bucket as the true value; within it, it interpolates geometrically by rank.
    """
    n = sum(count for count in histogram.values() if count > 0)
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for b in sorted(histogram):
        count = histogram[b]
        if count <= 0:
            continue
        if seen + count >= rank:
            share = (rank - seen) / count
            low, high = bucket_bounds(b)
            if b < 0:
                return low + (high - low) * share
            return float(low * (high / low) ** share)
        seen += count
    return None  # pragma: no cover - rank <= n


# --- one case, as the figures see it -------------------------------------------------------------


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


def mark_of(seq: int, facts: CaseFacts, tz: tzinfo) -> Mark:
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


# --- counters ----------------------------------------------------------------------------------
#
# A counter key names a measure and the group it counts in:
#     received|all=*   received|category=roads   resolved|day=2026-10-06
#     fr#37|department=signal-co   (first-response histogram, bucket 37)
#     rt#52|all=*                  (resolution-time histogram, bucket 52)
# Keys live inside a stored blob, never as document field names.

FIRST_RESPONSE = "fr"
RESOLUTION_TIME = "rt"


def key(measure: str, dimension: str, value: str) -> str:
    return f"{measure}|{dimension}={value}"


def parse_key(text: str) -> tuple[str, str, str]:
    measure, _, group = text.partition("|")
    dimension, _, value = group.partition("=")
    return measure, dimension, value


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
    """The counters one case adds 1 to, given its mark (see FIGURES)."""
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


def reads_data_of(event_type: str) -> bool:
    """The events whose own fields the figures read; every other figure comes from the
    envelope's facts (so the consumer need not validate the rest: `parse_envelope`)."""
    return event_type == ev.FeedbackGiven.TYPE


def answer_counts(envelope: Envelope, tz: tzinfo) -> dict[str, int]:
    """The feedback answer an event gives, counted under the case's dimensions now."""
    if envelope.type != ev.FeedbackGiven.TYPE:
        return {}
    answer = read_event(envelope)
    assert isinstance(answer, ev.FeedbackGiven)
    facts = envelope.facts
    measures = ("feedback", "satisfied") if answer.satisfied else ("feedback",)
    keys = _group_keys(measures, facts.category, facts.district, facts.channel.value,
                       facts.department) + _day_keys(measures, city_day(facts.submitted_at, tz),
                                                     None)
    return dict.fromkeys(keys, 1)


def deltas(before: Mark | None, envelope: Envelope, tz: tzinfo) -> tuple[Mark, dict[str, int]]:
    """The case's mark after `envelope`, and how the counters change because of it."""
    after = mark_of(envelope.seq, envelope.facts, tz)
    change: dict[str, int] = {}
    move(change, before, after)
    for k, v in answer_counts(envelope, tz).items():
        change[k] = change.get(k, 0) + v
    return after, {k: v for k, v in change.items() if v}


# --- a partition's worth of figures, folded ----------------------------------------------------


@dataclass
class Ledger:
    """The figures of the cases of one log partition, as of `offset` (the last record applied).

    `counters` sum the contributions of these cases; `open` remembers each open
    case's mark; `done` remembers the last seq of finished cases, grouped in
    generations of `window` records (`offset // window`): only the current and
    the previous generation are kept, so the memory of finished cases stays
    bounded, and a duplicate record arriving more than `window` records after
    its case finished would be counted again (see the store's module doc).
    """

    offset: int = -1
    counters: dict[str, int] = field(default_factory=dict)
    open: dict[str, Mark] = field(default_factory=dict)
    done: dict[int, dict[str, int]] = field(default_factory=dict)

    def finished_seq(self, case_id: str) -> int | None:
        for generation in self.done.values():
            found = generation.get(case_id)
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class Positioned:
    """An envelope and its offset in its partition."""

    offset: int
    envelope: Envelope


@dataclass
class Folded:
    """A ledger after a batch, and what changed (for a writer that stores only that)."""

    ledger: Ledger
    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    counters_changed: bool = False
    open_changed: bool = False
    done_changed: set[int] = field(default_factory=set)
    done_dropped: set[int] = field(default_factory=set)
    deltas: dict[str, int] = field(default_factory=dict)


@dataclass
class _Latest:
    """A case's last event in a batch, and where it was."""

    envelope: Envelope
    offset: int
    finished: bool


def fold(ledger: Ledger, records: Iterable[Positioned], tz: tzinfo, window: int,
         through: int | None = None) -> Folded:
    """Apply a partition's records, in log order, to a copy of `ledger`.

    `through`: the last offset these records cover, when the records after the
    last one given were unreadable (the ledger's offset moves past them).

    - a record at or below `ledger.offset` was applied already (redelivery): skipped;
    - an event at or below its case's remembered seq is a duplicate record: skipped;
    - an event of a finished case was never meant to happen (routing refuses
      them): skipped as stale, since no figure of a finished case may change.

    A case's contribution moves once per batch, from its mark before the batch
    to its mark after its last event in it: the steps in between cancel out.
    """
    total: dict[str, int] = {}
    latest: dict[str, _Latest] = {}
    result = Folded(ledger=ledger)
    offset = ledger.offset
    for record in records:
        if record.offset <= offset:
            continue
        offset = record.offset
        envelope = record.envelope
        case_id = envelope.case_id
        seen = latest.get(case_id)
        if seen is not None:
            known, finished = seen.envelope.seq, seen.finished
        else:
            mark = ledger.open.get(case_id)
            finished_seq = None if mark is not None else ledger.finished_seq(case_id)
            known = mark.seq if mark is not None else finished_seq or 0
            finished = finished_seq is not None
        if envelope.seq <= known:
            result.duplicates += 1
            continue
        if finished:
            result.stale += 1
            continue
        latest[case_id] = _Latest(envelope, offset,
                                  envelope.facts.status in FINISHED_STATUSES)
        for k, v in answer_counts(envelope, tz).items():
            total[k] = total.get(k, 0) + v
        result.applied += 1

    if through is not None:
        offset = max(offset, through)
    open_marks = ledger.open
    done = ledger.done
    if latest:
        open_marks = dict(ledger.open)
        result.open_changed = False
        for case_id, last in latest.items():
            before = open_marks.get(case_id)
            after = mark_of(last.envelope.seq, last.envelope.facts, tz)
            move(total, before, after)
            if last.finished:
                if before is not None:
                    del open_marks[case_id]
                    result.open_changed = True
                generation = last.offset // window
                if generation not in result.done_changed:
                    done = {**done, generation: dict(done.get(generation, {}))}
                    result.done_changed.add(generation)
                done[generation][case_id] = after.seq
            else:
                open_marks[case_id] = after
                result.open_changed = True
    if offset >= 0:
        keep_from = offset // window - 1
        dropped = {g for g in done if g < keep_from}
        if dropped:
            done = {g: cases for g, cases in done.items() if g not in dropped}
            result.done_dropped = dropped
            result.done_changed -= dropped

    counters = dict(ledger.counters)
    for k, v in total.items():
        if v:
            now = counters.get(k, 0) + v
            if now:
                counters[k] = now
            else:
                del counters[k]
    result.deltas = {k: v for k, v in total.items() if v}
    result.counters_changed = bool(result.deltas)
    result.ledger = Ledger(offset=offset, counters=counters, open=open_marks, done=done)
    return result


def fold_envelopes(envelopes: Sequence[Envelope], tz: tzinfo, window: int = 1 << 40,
                   ledger: Ledger | None = None) -> Ledger:
    """A ledger from envelopes in log order (offsets 0..n-1): what replaying them gives."""
    start = (ledger or Ledger()).offset + 1
    records = [Positioned(start + i, e) for i, e in enumerate(envelopes)]
    return fold(ledger or Ledger(), records, tz, window).ledger


def add_counters(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return {k: v for k, v in total.items() if v}


# --- from counters to figures -------------------------------------------------------------------


def rate_parts(numerator: int, denominator: int) -> tuple[float | None, float | None, int | None]:
    """(exact fraction, percent to one decimal, whole percent); rounded half up, exactly."""
    if denominator <= 0:
        return None, None, None
    tenths = (numerator * 2000 + denominator) // (2 * denominator)
    whole = (numerator * 200 + denominator) // (2 * denominator)
    return numerator / denominator, tenths / 10, whole


class Durations(BaseModel):
    """Median and 90th percentile of a duration, estimated from its histogram."""

    model_config = ConfigDict(frozen=True)

    cases: int = Field(description="How many cases the durations are of.")
    median_s: float | None
    p90_s: float | None
    median_h: float | None
    p90_h: float | None

    @classmethod
    def of(cls, histogram: Mapping[int, int]) -> Durations:
        median, p90 = quantile(histogram, 0.5), quantile(histogram, 0.9)
        return cls(
            cases=sum(histogram.values()),
            median_s=None if median is None else round(median, 1),
            p90_s=None if p90 is None else round(p90, 1),
            median_h=None if median is None else round(median / 3600, 2),
            p90_h=None if p90 is None else round(p90 / 3600, 2),
        )


class Row(BaseModel):
    """The figures of one group of cases (all of them, or one category, day, ...)."""

    received: int
    accepted: int
    rejected: int
    merged: int
    open: int
    resolved: int
    resolution_rate: float | None
    resolution_rate_pct: float | None
    resolution_rate_whole: int | None
    on_time: int
    on_time_rate: float | None
    on_time_rate_pct: float | None
    on_time_rate_whole: int | None
    feedback: int
    satisfied: int
    satisfaction_rate: float | None
    satisfaction_rate_pct: float | None
    satisfaction_rate_whole: int | None
    resolved_ever: int
    reopened: int
    reopen_rate: float | None
    reopen_rate_pct: float | None
    reopen_rate_whole: int | None
    first_response: Durations | None = None
    resolution_time: Durations | None = None
    resolved_on: int | None = Field(default=None, description="Day rows only.")


RATES: tuple[tuple[str, str, str], ...] = (
    ("resolution_rate", "resolved", "received"),
    ("on_time_rate", "on_time", "resolved"),
    ("satisfaction_rate", "satisfied", "feedback"),
    ("reopen_rate", "reopened", "resolved_ever"),
)
COUNTS = ("received", "accepted", "rejected", "merged", "open", "resolved", "on_time",
          "feedback", "satisfied", "resolved_ever", "reopened")


@dataclass
class Tally:
    """One group's counters, parsed."""

    counts: Counter[str] = field(default_factory=Counter)
    first_response: Counter[int] = field(default_factory=Counter)
    resolution_time: Counter[int] = field(default_factory=Counter)

    def row(self, *, by_day: bool = False) -> Row:
        values: dict[str, Any] = {name: self.counts[name] for name in COUNTS}
        for name, numerator, denominator in RATES:
            exact, pct, whole = rate_parts(self.counts[numerator], self.counts[denominator])
            values.update({name: exact, f"{name}_pct": pct, f"{name}_whole": whole})
        if by_day:
            values["resolved_on"] = self.counts["resolved_on"]
        else:
            values["first_response"] = Durations.of(self.first_response)
            values["resolution_time"] = Durations.of(self.resolution_time)
        return Row(**values)


def tallies(counters: Mapping[str, int]) -> dict[tuple[str, str], Tally]:
    """The counters grouped: (dimension, value) -> Tally; ("all", "*") is every case."""
    groups: dict[tuple[str, str], Tally] = {}
    for text, count in counters.items():
        measure, dimension, value = parse_key(text)
        tally = groups.setdefault((dimension, value), Tally())
        name, _, bucket = measure.partition("#")
        if not bucket:
            tally.counts[name] += count
        elif name == FIRST_RESPONSE:
            tally.first_response[int(bucket)] += count
        elif name == RESOLUTION_TIME:
            tally.resolution_time[int(bucket)] += count
    return groups


@dataclass(frozen=True)
class Figures:
    """Everything the API publishes, from the summed counters."""

    groups: dict[tuple[str, str], Tally]

    @classmethod
    def of(cls, counters: Mapping[str, int]) -> Figures:
        return cls(tallies(counters))

    def overall(self) -> Row:
        return self.groups.get(ALL, Tally()).row()

    def breakdown(self, dimension: Dimension, known: Iterable[str] = ()) -> list[tuple[str, Row]]:
        """(value, row) for every value seen, plus the `known` ones with zero cases.

        Days in date order; other dimensions by received (most first), then code.
        """
        values = {v for d, v in self.groups if d == dimension} | set(known)
        by_day = dimension == "day"
        rows = [(v, self.groups.get((dimension, v), Tally()).row(by_day=by_day)) for v in values]
        if by_day:
            return sorted(rows, key=lambda item: item[0])
        return sorted(rows, key=lambda item: (-item[1].received, item[0]))


RankBy = Literal["resolution", "on_time", "satisfaction"]
RANK_ORDER: dict[str, tuple[str, ...]] = {
    "resolution": ("resolution_rate", "on_time_rate", "satisfaction_rate"),
    "on_time": ("on_time_rate", "resolution_rate", "satisfaction_rate"),
    "satisfaction": ("satisfaction_rate", "resolution_rate", "on_time_rate"),
}
_RATE_TERMS = {name: (numerator, denominator) for name, numerator, denominator in RATES}


def ranking(figures: Figures, by: RankBy = "resolution") -> list[tuple[int, str, Row]]:
    """Departments ranked, best first: (rank, department, row).

    Order: the chosen rate, then the other two in `RANK_ORDER`, then more cases
    resolved; rates are compared exactly (as fractions), and a department
    without a rate (nothing to divide) comes after every department with one.
    Departments equal on all of these share a rank (1, 2, 2, 4) and are listed
    by code. Cases no department is responsible for are not ranked.
    """

    def merit(tally: Tally) -> tuple[Any, ...]:
        """Smaller is better."""
        terms: list[Any] = []
        for name in RANK_ORDER[by]:
            numerator, denominator = _RATE_TERMS[name]
            den = tally.counts[denominator]
            has_rate = den > 0
            terms += [not has_rate, -Fraction(tally.counts[numerator], den) if has_rate else 0]
        terms.append(-tally.counts["resolved"])
        return tuple(terms)

    departments = sorted(
        ((merit(t), v, t) for (d, v), t in figures.groups.items()
         if d == "department" and v != NO_DEPARTMENT and t.counts["received"] > 0),
        key=lambda item: (item[0], item[1]),
    )
    ranked: list[tuple[int, str, Row]] = []
    previous: tuple[Any, ...] | None = None
    rank = 0
    for position, (current, code, tally) in enumerate(departments, start=1):
        if current != previous:
            rank, previous = position, current
        ranked.append((rank, code, tally.row()))
    return ranked
