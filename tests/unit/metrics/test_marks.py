"""What one case adds to the figures, as stories: given these events, then these counters.

Pure: no broker, no store. Each story tells one case, and reads the change
one event makes to the counters (`marks.deltas`) or the counters after the
whole story (what a replay folds: `ledger.fold_envelopes`).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from unit.metrics.metrics_stories import (
    accepted,
    acknowledged,
    at,
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
from services.lifecycle.history import History
from services.metrics.definitions import NO_DEPARTMENT
from services.metrics.histograms import bucket_of
from services.metrics.ledger import fold_envelopes
from services.metrics.marks import Mark, contributions, deltas
from services.metrics.reading import counted
from services.metrics.report import Figures

TZ = ZoneInfo("Asia/Shanghai")
WINDOW = 1 << 40


def counters_after(*stories: History) -> dict[str, int]:
    envelopes = [e for story in stories for e in story.envelopes]
    return fold_envelopes(envelopes, TZ, WINDOW).counters


def change_made_by(story: History, index: int) -> dict[str, int]:
    """The counter changes the event at `index` of the story makes."""
    before = fold_envelopes(story.envelopes[:index], TZ).open.get(story.case_id)
    return deltas(before, counted(story.envelopes[index]), TZ)[1]


def signal_case(case_id: str = "ZB261006-AAAA-0001") -> History:
    return History(case_id).given(at("10-06", 9, 12), submitted(channel=Channel.HOTLINE))


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
    story = History("ZB-DAY").given(late_evening_utc.astimezone(ZoneInfo("UTC")), submitted())
    assert counters_after(story)["received|day=2026-10-06"] == 1


def test_acceptance_counts_accepted_and_routing_moves_the_case_to_its_department() -> None:
    story = (signal_case().given(at("10-06", 10), accepted())
             .given(at("10-07", 10), routed("signal-co", at("10-14", 10))))
    assert change_made_by(story, 1) == {k.replace("received", "accepted"): 1
                                        for k in change_made_by(story, 0) if "received" in k}
    moved = change_made_by(story, 2)
    for measure in ("received", "accepted", "open"):
        assert moved[f"{measure}|department=_none"] == -1
        assert moved[f"{measure}|department=signal-co"] == 1
    assert not any("all=*" in k or "category=" in k for k in moved)


def test_a_first_response_is_counted_once_in_its_duration_bucket() -> None:
    story = (signal_case().given(at("10-06", 10), accepted())
             .given(at("10-07", 10), routed("signal-co", at("10-14", 10)))
             .given(at("10-07", 11), acknowledged("signal-co"))
             .given(at("10-07", 11), ev.ProgressNoted(by=acknowledged("signal-co").by,
                                                       note="已派人查看。")))
    waited = (at("10-07", 11) - at("10-06", 9, 12)).total_seconds()
    bucket = bucket_of(waited)
    assert change_made_by(story, 3) == {
        f"fr#{bucket}|{g}": 1 for g in ("all=*", "category=traffic-signals", "district=jinshui",
                                        "channel=hotline", "department=signal-co")}
    assert change_made_by(story, 4) == {}  # a later note at the same moment is no new response


def test_a_resolution_on_time_counts_resolved_on_time_and_its_time() -> None:
    story = (signal_case().given(at("10-06", 10), accepted())
             .given(at("10-07", 10), routed("signal-co", at("10-14", 10)))
             .given(at("10-12", 15), resolved("signal-co", on_time=True)))
    change = change_made_by(story, 3)
    assert change["resolved|all=*"] == 1 and change["on_time|all=*"] == 1
    assert change["resolved_ever|department=signal-co"] == 1
    assert change["open|all=*"] == -1
    assert change["resolved_on|day=2026-10-12"] == 1
    assert change[f"rt#{bucket_of((at('10-12', 15) - at('10-06', 9, 12)).total_seconds())}|all=*"] == 1
    # the resolution was also the department's first response
    assert sum(v for k, v in change.items() if k.startswith("fr#") and k.endswith("all=*")) == 1


def test_feedback_counts_answers_and_satisfied_ones_and_closing_changes_nothing_else() -> None:
    story = (signal_case().given(at("10-06", 10), accepted())
             .given(at("10-07", 10), routed("signal-co", at("10-14", 10)))
             .given(at("10-12", 15), resolved("signal-co"))
             .given(at("10-12", 16), feedback(satisfied=True), closed()))
    assert change_made_by(story, 4) == {
        f"{m}|{g}": 1 for m in ("feedback", "satisfied")
        for g in ("all=*", "category=traffic-signals", "district=jinshui", "channel=hotline",
                  "department=signal-co", "day=2026-10-06")}
    assert change_made_by(story, 5) == {}
    unhappy = (History("ZB-UNHAPPY").given(at("10-06"), submitted())
               .given(at("10-07"), routed("signal-co", at("10-14")))
               .given(at("10-08"), resolved("signal-co"))
               .given(at("10-09"), feedback(satisfied=False)))
    figures = Figures.of(counters_after(story, unhappy)).overall()
    assert (figures.feedback, figures.satisfied, figures.satisfaction_rate_pct) == (2, 1, 50.0)


def test_a_dispute_is_an_answer_not_satisfied_and_silence_is_no_answer_at_all() -> None:
    supervisor = Actor(role=Role.SUPERVISOR, staff_id="supervisor-1")
    disputed = (History("ZB-DISPUTED").given(at("10-06"), submitted())
                .given(at("10-07"), routed("signal-co", at("10-14")))
                .given(at("10-08"), resolved("signal-co"))
                .given(at("10-09"), feedback(satisfied=False, rating=2),
                       ev.CaseEscalated(reason="disputed", by=Actor(role=Role.SYSTEM)))
                .given(at("10-10"), ev.DisputeSettled(by=supervisor, outcome="closed",
                                                      note="维持"), closed()))
    silent = (History("ZB-SILENT").given(at("10-06"), submitted())
              .given(at("10-07"), routed("signal-co", at("10-14")))
              .given(at("10-08"), resolved("signal-co"))
              .given(at("10-15"), ev.ResidentAskedAgain(resolved_at=at("10-08"),
                                                        closes_at=at("10-18")))
              .given(at("10-18"), ev.CaseClosed(reason="no_answer")))
    figures = Figures.of(counters_after(disputed, silent)).overall()
    assert (figures.feedback, figures.satisfied, figures.satisfaction_rate_pct) == (1, 0, 0.0)
    assert figures.unanswered == 1  # said beside the rate, in neither of its counts
    assert figures.resolved == 2  # both stay resolved: the figures of the handling are untouched
    alone = Figures.of(counters_after(silent)).overall()
    assert (alone.feedback, alone.satisfied, alone.satisfaction_rate_pct) == (0, 0, None)
    assert change_made_by(silent, 4) == {
        f"unanswered|{g}": 1
        for g in ("all=*", "category=traffic-signals", "district=jinshui", "channel=web",
                  "department=signal-co", "day=2026-10-06")}


# --- corrections, reopening ------------------------------------------------------------------------


def test_a_category_corrected_at_acceptance_moves_the_case_to_the_right_category() -> None:
    story = (History("ZB-CORRECTED").given(at("10-06"), submitted("roads", "erqi"))
             .given(at("10-06", 11), accepted("water", "jinshui",
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
    story = (signal_case().given(at("10-06", 10), accepted())
             .given(at("10-07", 10), routed("signal-co", at("10-14", 10)))
             .given(at("10-12", 15), resolved("signal-co", on_time=True))
             .given(at("10-13", 9), feedback(satisfied=False, fixed=False),
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

    story.given(at("10-15", 9), resolved("signal-co", on_time=False))
    again = Figures.of(counters_after(story)).overall()
    assert (again.received, again.resolved, again.on_time, again.resolved_ever) == (1, 1, 0, 1)
    assert (again.reopened, again.reopen_rate_pct, again.on_time_rate_pct) == (1, 100.0, 0.0)
    assert again.resolution_time is not None and again.resolution_time.cases == 1
    assert again.resolved_on is None  # day rows carry it; the overall row does not


def test_a_return_and_a_reassignment_carry_the_case_to_the_department_now_responsible() -> None:
    story = (signal_case().given(at("10-06", 10), accepted())
             .given(at("10-07", 10), routed("roads-office", at("10-14", 10)))
             .given(at("10-07", 12), ev.CaseReturned(by=acknowledged("roads-office").by,
                                                      reason="不是我们的")))
    counters = counters_after(story)
    assert counters.get("received|department=roads-office", 0) == 0
    assert counters["received|department=_none"] == 1
    story.given(at("10-07", 13), ev.CaseReassigned(
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


def test_a_mark_survives_its_stored_form() -> None:
    story = (signal_case().given(at("10-06", 10), accepted())
             .given(at("10-07", 10), routed("signal-co", at("10-14", 10)))
             .given(at("10-12", 15), resolved("signal-co")))
    mark = fold_envelopes(story.envelopes, TZ).open[story.case_id]
    assert Mark.from_json(mark.to_json()) == mark
    assert contributions(Mark.from_json(mark.to_json())) == contributions(mark)
