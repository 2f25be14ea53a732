"""The figures of one log partition, folded: the pure `state + records -> state`.

The same `fold` serves the live consumer (`store.py` writes what it returns)
and a replay from offset 0 (`fold_envelopes`), so the two cannot disagree.

The counters are always the sum of the contributions (`marks.py`) of every
case's latest facts, which is what replaying the log from offset 0 gives too,
and why a batch may move each case once, from its mark before the batch to its
mark after it: the steps in between cancel out. Any split of the log into
batches therefore gives the replay's counters.

To know "before", the ledger remembers each open case's `Mark` (its
dimensions and outcome: ~110 bytes of JSON, ~20 compressed), and only the
last `seq` of a finished (closed, rejected, merged) case, whose figures can no
longer change. That memory is also what makes a duplicated record harmless:
an event at or below the case's remembered `seq` is skipped, as is a record
at or below the ledger's offset (a redelivery), see `fold`. Counting from the
events alone (`CaseResolved.on_time`, `CaseAccepted.corrected` ...) would need
no memory, but could not tell a record published twice from a new one, nor a
second progress note at the same instant from a first response; the facts
before and after can.

Each change is also kept under the day its case was submitted
(`Folded.day_deltas`, see `daily.py`): the whole-time deltas are their sum, so
the figures of every period and of all time come from the same moves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo

from contracts.envelope import Envelope
from services.metrics.daily import DayCounters
from services.metrics.marks import (
    FINISHED_STATUSES,
    Mark,
    answer_counts,
    city_day,
    mark_of,
    move,
)
from services.metrics.reading import Counted, counted


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
    """A record as the figures read it (`reading.Counted`), and its offset in its partition."""

    offset: int
    envelope: Counted


@dataclass
class Folded:
    """A ledger after a batch, and what changed (for a writer that stores only that)."""

    ledger: Ledger
    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    counters_changed: bool = False
    open_changed: bool = False
    open_touched: set[str] = field(default_factory=set)
    """The cases whose open mark was set or dropped (a writer stores only their buckets)."""
    done_changed: set[int] = field(default_factory=set)
    done_dropped: set[int] = field(default_factory=set)
    deltas: dict[str, int] = field(default_factory=dict)
    day_deltas: DayCounters = field(default_factory=dict)
    """The same changes, by the day each case was submitted (`daily.py`)."""


@dataclass
class _Latest:
    """A case's last event in a batch, and where it was."""

    envelope: Counted
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
    by_day: DayCounters = {}
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
        answers = answer_counts(envelope, tz)
        if answers:
            day = by_day.setdefault(city_day(envelope.facts.submitted_at, tz), {})
            for k, v in answers.items():
                day[k] = day.get(k, 0) + v
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
            if before is None or before.day == after.day:
                move(by_day.setdefault(after.day, {}), before, after)
            else:  # a submission day never changes; were it to, each side moves its own day
                move(by_day.setdefault(after.day, {}), None, after)
                move(by_day.setdefault(before.day, {}), before, None)
            if last.finished:
                if before is not None:
                    del open_marks[case_id]
                    result.open_changed = True
                    result.open_touched.add(case_id)
                generation = last.offset // window
                if generation not in result.done_changed:
                    done = {**done, generation: dict(done.get(generation, {}))}
                    result.done_changed.add(generation)
                done[generation][case_id] = after.seq
            else:
                open_marks[case_id] = after
                result.open_changed = True
                result.open_touched.add(case_id)
    if offset >= 0:
        keep_from = offset // window - 1
        dropped = {g for g in done if g < keep_from}
        if dropped:
            done = {g: cases for g, cases in done.items() if g not in dropped}
            result.done_dropped = dropped
            result.done_changed -= dropped

    total: dict[str, int] = {}
    for changes in by_day.values():
        for k, v in changes.items():
            total[k] = total.get(k, 0) + v
    counters = dict(ledger.counters)
    for k, v in total.items():
        if v:
            now = counters.get(k, 0) + v
            if now:
                counters[k] = now
            else:
                del counters[k]
    result.deltas = {k: v for k, v in total.items() if v}
    result.day_deltas = {day: nonzero for day, changes in by_day.items()
                         if (nonzero := {k: v for k, v in changes.items() if v})}
    result.counters_changed = bool(result.deltas)
    result.ledger = Ledger(offset=offset, counters=counters, open=open_marks, done=done)
    return result


def positioned(envelopes: Sequence[Envelope], start: int = 0) -> list[Positioned]:
    """Envelopes at hand as the figures read them from the log, at offsets from `start`."""
    return [Positioned(start + i, counted(e)) for i, e in enumerate(envelopes)]


def fold_envelopes(envelopes: Sequence[Envelope], tz: tzinfo, window: int = 1 << 40,
                   ledger: Ledger | None = None) -> Ledger:
    """A ledger from envelopes in log order (offsets 0..n-1): what replaying them gives."""
    records = positioned(envelopes, (ledger or Ledger()).offset + 1)
    return fold(ledger or Ledger(), records, tz, window).ledger


def fold_days(envelopes: Sequence[Envelope], tz: tzinfo) -> DayCounters:
    """The counters by submission day that replaying `envelopes` (in log order) gives."""
    return fold(Ledger(), positioned(envelopes), tz, 1 << 40).day_deltas
