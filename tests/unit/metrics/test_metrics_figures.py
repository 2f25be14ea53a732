"""The figures, as stories: given these events, then these counters and these figures.

Pure: no broker, no store. The ledger a batch is folded into is exactly what
the store keeps per partition, so what holds here holds there.
"""

from __future__ import annotations

import math
import random
from zoneinfo import ZoneInfo

import pytest
from unit.metrics.metrics_stories import (
    Story,
    accepted,
    acknowledged,
    at,
    city_of_cases,
    closed,
    feedback,
    lean_cases,
    lean_story,
    reopened,
    resolved,
    routed,
    submitted,
)

from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.facts import Actor, Channel, Role
from services.metrics.definitions import DIMENSIONS, NO_DEPARTMENT
from services.metrics.histograms import bucket_bounds, bucket_of, quantile
from services.metrics.ledger import Ledger, Positioned, fold, fold_envelopes
from services.metrics.marks import Mark, contributions, deltas
from services.metrics.report import Figures, ranking, rate_parts

TZ = ZoneInfo("Asia/Shanghai")
WINDOW = 1 << 40


def counters_after(*stories: Story) -> dict[str, int]:
    envelopes = [e for story in stories for e in story.envelopes]
    return fold_envelopes(envelopes, TZ, WINDOW).counters


def change_made_by(story: Story, index: int) -> dict[str, int]:
    """The counter changes the event at `index` of the story makes."""
    before = fold_envelopes(story.envelopes[:index], TZ).open.get(story.case_id)
    return deltas(before, story.envelopes[index], TZ)[1]


def signal_case(case_id: str = "ZB261006-AAAA-0001") -> Story:
    return Story(case_id).then(at("10-06", 9, 12), submitted(channel=Channel.HOTLINE))


# --- one event at a time -------------------------------------------------------------------------


def test_a_submission_counts_one_received_and_open_case_in_every_group() -> None:
    change = change_made_by(signal_case(), 0)
    for group in ("all=*", "category=traffic-signals", "district=jinshui", "channel=hotline",
                  f"department={NO_DEPARTMENT}", "day=2026-10-06"):
        assert change[f"received|{group}"] == 1
        assert change[f"open|{group}"] == 1
    assert not any(k.startswith(("resolved", "accepted", "fr#", "rt#")) for k in change)


def test_the_day_is_the_city_day_of_submission() -> None:
    late_evening_utc = at("10-06", 2, 30)  # 10-05 18:30 UTC is already 10-06 in Zhengzhou
    story = Story("ZB-DAY").then(late_evening_utc.astimezone(ZoneInfo("UTC")), submitted())
    assert counters_after(story)["received|day=2026-10-06"] == 1


def test_acceptance_counts_accepted_and_routing_moves_the_case_to_its_department() -> None:
    story = (signal_case().then(at("10-06", 10), accepted())
             .then(at("10-07", 10), routed("signal-co", at("10-14", 10))))
    assert change_made_by(story, 1) == {k.replace("received", "accepted"): 1
                                        for k in change_made_by(story, 0) if "received" in k}
    moved = change_made_by(story, 2)
    for measure in ("received", "accepted", "open"):
        assert moved[f"{measure}|department=_none"] == -1
        assert moved[f"{measure}|department=signal-co"] == 1
    assert not any("all=*" in k or "category=" in k for k in moved)


def test_a_first_response_is_counted_once_in_its_duration_bucket() -> None:
    story = (signal_case().then(at("10-06", 10), accepted())
             .then(at("10-07", 10), routed("signal-co", at("10-14", 10)))
             .then(at("10-07", 11), acknowledged("signal-co"))
             .then(at("10-07", 11), ev.ProgressNoted(by=acknowledged("signal-co").by,
                                                      note="已派人查看。")))
    waited = (at("10-07", 11) - at("10-06", 9, 12)).total_seconds()
    bucket = bucket_of(waited)
    assert change_made_by(story, 3) == {
        f"fr#{bucket}|{g}": 1 for g in ("all=*", "category=traffic-signals", "district=jinshui",
                                        "channel=hotline", "department=signal-co")}
    assert change_made_by(story, 4) == {}  # a later note at the same moment is no new response


def test_a_resolution_on_time_counts_resolved_on_time_and_its_time() -> None:
    story = (signal_case().then(at("10-06", 10), accepted())
             .then(at("10-07", 10), routed("signal-co", at("10-14", 10)))
             .then(at("10-12", 15), resolved("signal-co", on_time=True)))
    change = change_made_by(story, 3)
    assert change["resolved|all=*"] == 1 and change["on_time|all=*"] == 1
    assert change["resolved_ever|department=signal-co"] == 1
    assert change["open|all=*"] == -1
    assert change["resolved_on|day=2026-10-12"] == 1
    assert change[f"rt#{bucket_of((at('10-12', 15) - at('10-06', 9, 12)).total_seconds())}|all=*"] == 1
    # the resolution was also the department's first response
    assert sum(v for k, v in change.items() if k.startswith("fr#") and k.endswith("all=*")) == 1


def test_feedback_counts_answers_and_satisfied_ones_and_closing_changes_nothing_else() -> None:
    story = (signal_case().then(at("10-06", 10), accepted())
             .then(at("10-07", 10), routed("signal-co", at("10-14", 10)))
             .then(at("10-12", 15), resolved("signal-co"))
             .then(at("10-12", 16), feedback(satisfied=True), closed()))
    assert change_made_by(story, 4) == {
        f"{m}|{g}": 1 for m in ("feedback", "satisfied")
        for g in ("all=*", "category=traffic-signals", "district=jinshui", "channel=hotline",
                  "department=signal-co", "day=2026-10-06")}
    assert change_made_by(story, 5) == {}
    unhappy = (Story("ZB-UNHAPPY").then(at("10-06"), submitted())
               .then(at("10-07"), routed("signal-co", at("10-14")))
               .then(at("10-08"), resolved("signal-co"))
               .then(at("10-09"), feedback(satisfied=False)))
    figures = Figures.of(counters_after(story, unhappy)).overall()
    assert (figures.feedback, figures.satisfied, figures.satisfaction_rate_pct) == (2, 1, 50.0)


# --- corrections, reopening ------------------------------------------------------------------------


def test_a_category_corrected_at_acceptance_moves_the_case_to_the_right_category() -> None:
    story = (Story("ZB-CORRECTED").then(at("10-06"), submitted("roads", "erqi"))
             .then(at("10-06", 11), accepted("water", "jinshui",
                                             corrected={"category": "roads", "district": "erqi"})))
    change = change_made_by(story, 1)
    for place in ("category=roads", "district=erqi"):
        assert change[f"received|{place}"] == -1 and change[f"open|{place}"] == -1
    for place in ("category=water", "district=jinshui"):
        assert change[f"received|{place}"] == 1 and change[f"accepted|{place}"] == 1
    assert "received|all=*" not in change
    counters = counters_after(story)
    assert counters.get("received|category=roads", 0) == 0
    assert counters["received|category=water"] == 1
    assert counters["received|all=*"] == 1


def test_a_reopen_takes_the_resolution_back_and_a_late_second_resolution_is_not_on_time() -> None:
    story = (signal_case().then(at("10-06", 10), accepted())
             .then(at("10-07", 10), routed("signal-co", at("10-14", 10)))
             .then(at("10-12", 15), resolved("signal-co", on_time=True))
             .then(at("10-13", 9), feedback(satisfied=False, fixed=False),
                   reopened("signal-co", at("10-14", 9), was_on_time=True)))
    took_back = change_made_by(story, 5)
    assert took_back["resolved|all=*"] == -1 and took_back["on_time|all=*"] == -1
    assert took_back["reopened|all=*"] == 1 and took_back["open|all=*"] == 1
    assert "resolved_ever|all=*" not in took_back
    assert took_back["resolved_on|day=2026-10-12"] == -1
    assert sum(v for k, v in took_back.items() if k.startswith("rt#") and "all=*" in k) == -1

    reopened_now = Figures.of(counters_after(story)).overall()
    assert (reopened_now.resolved, reopened_now.on_time, reopened_now.reopened) == (0, 0, 1)
    assert reopened_now.resolution_time is not None and reopened_now.resolution_time.cases == 0

    story.then(at("10-15", 9), resolved("signal-co", on_time=False))
    again = Figures.of(counters_after(story)).overall()
    assert (again.received, again.resolved, again.on_time, again.resolved_ever) == (1, 1, 0, 1)
    assert (again.reopened, again.reopen_rate_pct, again.on_time_rate_pct) == (1, 100.0, 0.0)
    assert again.resolution_time is not None and again.resolution_time.cases == 1
    assert again.resolved_on is None  # day rows carry it; the overall row does not


def test_a_return_and_a_reassignment_carry_the_case_to_the_department_now_responsible() -> None:
    story = (signal_case().then(at("10-06", 10), accepted())
             .then(at("10-07", 10), routed("roads-office", at("10-14", 10)))
             .then(at("10-07", 12), ev.CaseReturned(by=acknowledged("roads-office").by,
                                                     reason="不是我们的")))
    counters = counters_after(story)
    assert counters.get("received|department=roads-office", 0) == 0
    assert counters["received|department=_none"] == 1
    story.then(at("10-07", 13), ev.CaseReassigned(
        by=Actor(role=Role.SUPERVISOR, staff_id="supervisor-1"),
        from_department=None, to_department="signal-co", due_at=at("10-14"), reason="信号灯"))
    counters = counters_after(story)
    assert counters["received|department=signal-co"] == 1
    assert counters.get("received|department=_none", 0) == 0


def test_retold_cases_are_what_case_record_makes() -> None:
    envelopes, _ = lean_cases(40, 30, seed=13)
    by_case: dict[str, list[Envelope]] = {}
    for envelope in envelopes:
        by_case.setdefault(envelope.case_id, []).append(envelope)
    for case_id, told in by_case.items():
        first = told[0]
        recorded = lean_story(case_id, first.facts.category, first.facts.district,
                              first.facts.channel, first.occurred_at,
                              told[1].occurred_at if len(told) > 1 else None).envelopes
        assert told == recorded


# --- exactness under redelivery and duplicates --------------------------------------------------


def test_records_at_or_below_the_ledger_offset_change_nothing() -> None:
    envelopes, _ = city_of_cases(60, 40, seed=7)
    records = [Positioned(i, e) for i, e in enumerate(envelopes)]
    once = fold(Ledger(), records, TZ, WINDOW)
    again = fold(once.ledger, records, TZ, WINDOW)
    assert again.ledger.counters == once.ledger.counters
    assert again.applied == 0 and again.ledger.offset == once.ledger.offset


def test_a_duplicated_record_at_a_new_offset_is_recognised_by_its_seq() -> None:
    envelopes, expected = city_of_cases(60, 40, seed=8)
    records = [Positioned(i, e) for i, e in enumerate(envelopes + envelopes)]
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
        ledger = fold(ledger, [Positioned(i, envelopes[i]) for i in range(start, end)],
                      TZ, WINDOW).ledger
        position = end
    assert ledger.counters == replayed


def test_finished_cases_are_remembered_for_a_window_of_records_then_forgotten() -> None:
    envelopes, _ = city_of_cases(200, 150, seed=10)
    folded = fold(Ledger(), [Positioned(i, e) for i, e in enumerate(envelopes)], TZ, window=100)
    ledger = folded.ledger
    assert set(ledger.done) <= {ledger.offset // 100, ledger.offset // 100 - 1}
    assert folded.done_dropped
    assert all(not Mark.from_json(m.to_json()).finished for m in ledger.open.values())


def test_a_mark_survives_its_stored_form() -> None:
    story = (signal_case().then(at("10-06", 10), accepted())
             .then(at("10-07", 10), routed("signal-co", at("10-14", 10)))
             .then(at("10-12", 15), resolved("signal-co")))
    mark = fold_envelopes(story.envelopes, TZ).open[story.case_id]
    assert Mark.from_json(mark.to_json()) == mark
    assert contributions(Mark.from_json(mark.to_json())) == contributions(mark)


# --- rates, durations, breakdowns, ranking ------------------------------------------------------


@pytest.mark.parametrize(("resolved_count", "received", "pct", "whole"), [
    (3960, 4314, 91.8, 92),
    (25807, 30148, 85.6, 86),
    (1, 8, 12.5, 13),       # half up, exactly
    (1, 3, 33.3, 33),
    (2, 3, 66.7, 67),
    (0, 5, 0.0, 0),
    (5, 5, 100.0, 100),
])
def test_rates_are_exact_fractions_rounded_half_up(resolved_count: int, received: int,
                                                   pct: float, whole: int) -> None:
    exact, one_decimal, whole_percent = rate_parts(resolved_count, received)
    assert exact == resolved_count / received
    assert (one_decimal, whole_percent) == (pct, whole)


def test_a_rate_of_nothing_is_undefined_not_zero() -> None:
    assert rate_parts(0, 0) == (None, None, None)


def test_duration_buckets_hold_their_values() -> None:
    rng = random.Random(2)
    for seconds in [0, 0.5, 1, 2, 3, 59.9, 60, 3600, 86_400, *[rng.uniform(1, 3e6) for _ in
                                                                range(2000)]]:
        low, high = bucket_bounds(bucket_of(seconds))
        assert low <= seconds < high
        if seconds >= 1:
            assert high / low == pytest.approx(2 ** (1 / 8))


def test_median_and_p90_are_estimated_within_the_bucket_of_the_true_value() -> None:
    rng = random.Random(3)
    for _trial in range(50):
        values = sorted(rng.lognormvariate(10, 1.5) for _ in range(rng.randrange(1, 400)))
        histogram: dict[int, int] = {}
        for value in values:
            histogram[bucket_of(value)] = histogram.get(bucket_of(value), 0) + 1
        for q in (0.5, 0.9):
            true = values[max(1, math.ceil(q * len(values))) - 1]  # nearest rank
            estimate = quantile(histogram, q)
            assert estimate is not None
            low, high = bucket_bounds(bucket_of(true))
            assert low <= estimate <= high
    assert quantile({}, 0.5) is None
    assert quantile({bucket_of(100): 1}, 0.5) == pytest.approx(
        bucket_bounds(bucket_of(100))[1])


def test_every_breakdown_sums_to_the_total() -> None:
    envelopes, expected = city_of_cases(300, 200, seed=11)
    figures = Figures.of(fold_envelopes(envelopes, TZ).counters)
    overall = figures.overall()
    assert (overall.received, overall.resolved, overall.on_time) == (
        expected.received, expected.resolved, expected.on_time)
    assert (overall.feedback, overall.satisfied) == (expected.feedback, expected.satisfied)
    for dimension in DIMENSIONS:
        rows = [row for _, row in figures.breakdown(dimension)]
        for field in ("received", "accepted", "resolved", "on_time", "open", "feedback",
                      "satisfied", "rejected"):
            assert sum(getattr(row, field) for row in rows) == getattr(overall, field), (
                dimension, field)
        if dimension != "day":
            assert sum(row.first_response.cases for row in rows
                       if row.first_response) == overall.first_response.cases  # type: ignore[union-attr]


def test_days_come_in_date_order_and_other_breakdowns_by_size_with_known_zero_rows() -> None:
    envelopes, _ = city_of_cases(100, 50, seed=12)
    figures = Figures.of(fold_envelopes(envelopes, TZ).counters)
    days = [day for day, _ in figures.breakdown("day")]
    assert days == sorted(days)
    categories = figures.breakdown("category", known=["no-such-category"])
    assert [row.received for _, row in categories] == sorted(
        (row.received for _, row in categories), reverse=True)
    assert dict(categories)["no-such-category"].received == 0


def test_departments_are_ranked_by_the_chosen_rate_then_the_others_with_shared_ranks() -> None:
    def dept(code: str, resolved_: int, received: int, on_time: int = 0,
             satisfied: int = 0, answers: int = 0) -> dict[str, int]:
        g = f"department={code}"
        return {f"received|{g}": received, f"resolved|{g}": resolved_,
                f"on_time|{g}": on_time, f"satisfied|{g}": satisfied,
                f"feedback|{g}": answers}

    counters = {**dept("a", 9, 10, on_time=9), **dept("b", 9, 10, on_time=9),
                **dept("c", 18, 20, on_time=9), **dept("d", 0, 3), **dept("e", 1, 1),
                f"received|department={NO_DEPARTMENT}": 50}
    ranked = [(rank, code) for rank, code, _ in ranking(Figures.of(counters), "resolution")]
    # e: 100%; c: 90% and on time 50%; a, b: 90% and 100% on time -> before c; d: 0%
    assert ranked == [(1, "e"), (2, "a"), (2, "b"), (4, "c"), (5, "d")]
    by_on_time = [code for _, code, _ in ranking(Figures.of(counters), "on_time")]
    assert by_on_time[-1] == "d"  # no resolution, no on-time rate: last
    assert NO_DEPARTMENT not in by_on_time
