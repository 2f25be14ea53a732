"""The ledger fold is exact: redelivery, duplicated records and any batching give the replay.

Pure: no broker, no store. The ledger a batch is folded into is exactly what
the store keeps per partition, so what holds here holds there.
"""

from __future__ import annotations

import random
from zoneinfo import ZoneInfo

from unit.metrics.metrics_stories import city_of_cases

from services.metrics.ledger import Ledger, Positioned, fold, fold_envelopes
from services.metrics.marks import Mark
from services.metrics.reading import counted
from services.metrics.report import Figures

TZ = ZoneInfo("Asia/Shanghai")
WINDOW = 1 << 40


def test_records_at_or_below_the_ledger_offset_change_nothing() -> None:
    envelopes, _ = city_of_cases(60, 40, seed=7)
    records = [Positioned(i, counted(e)) for i, e in enumerate(envelopes)]
    once = fold(Ledger(), records, TZ, WINDOW)
    again = fold(once.ledger, records, TZ, WINDOW)
    assert again.ledger.counters == once.ledger.counters
    assert again.applied == 0 and again.ledger.offset == once.ledger.offset


def test_a_duplicated_record_at_a_new_offset_is_recognised_by_its_seq() -> None:
    envelopes, expected = city_of_cases(60, 40, seed=8)
    records = [Positioned(i, counted(e)) for i, e in enumerate(envelopes + envelopes)]
    folded = fold(Ledger(), records, TZ, WINDOW)
    assert folded.duplicates == len(envelopes) and folded.applied == len(envelopes)
    assert folded.ledger.counters == fold_envelopes(envelopes, TZ).counters
    assert Figures.of(folded.ledger.counters).overall().received == expected.received


def test_any_split_into_batches_and_any_redelivery_gives_what_one_replay_gives() -> None:
    envelopes, _ = city_of_cases(120, 80, seed=9)
    replayed = fold_envelopes(envelopes, TZ).counters
    rng = random.Random(1)
    ledger = Ledger()
    position = 0
    while position < len(envelopes):
        # a batch may start before what was applied (redelivery after a crash)
        start = max(0, position - rng.randrange(0, 20))
        end = min(len(envelopes), position + rng.randrange(1, 40))
        ledger = fold(ledger, [Positioned(i, counted(envelopes[i])) for i in range(start, end)],
                      TZ, WINDOW).ledger
        position = end
    assert ledger.counters == replayed


def test_finished_cases_are_remembered_for_a_window_of_records_then_forgotten() -> None:
    envelopes, _ = city_of_cases(200, 150, seed=10)
    folded = fold(Ledger(), [Positioned(i, counted(e)) for i, e in enumerate(envelopes)], TZ, window=100)
    ledger = folded.ledger
    assert set(ledger.done) <= {ledger.offset // 100, ledger.offset // 100 - 1}
    assert folded.done_dropped
    assert all(not Mark.from_json(m.to_json()).finished for m in ledger.open.values())

