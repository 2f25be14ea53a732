"""How routing's sweep finds cases whose clocks ran out: the fields it keeps and queries by."""

from __future__ import annotations

from datetime import timedelta

from unit.lifecycle.casebook import SIGNAL_CO, T0, routed_case

from contracts import case_events as ev
from services.routing import sweeps

WEEK = timedelta(days=7)


def test_a_history_is_kept_apart_from_the_cases_the_sweep_acts_on() -> None:
    story = routed_case().given(T0, ev.ProgressNoted(by=SIGNAL_CO, note="旧数据"),
                                producer="history:demo")
    assert sweeps.index_fields(story.case)["from_history"] is True
    assert sweeps.past_due_query(T0)["from_history"] is False
    assert sweeps.unanswered_query(T0)["from_history"] is False
    assert sweeps.ask_again_query(T0, WEEK)["from_history"] is False


def test_the_sweep_finds_cases_by_top_level_fields() -> None:
    case = routed_case(due_in=WEEK).case
    assert sweeps.index_fields(case) == {
        "status": "routed", "due_at": T0 + WEEK, "overdue": False, "resolved_at": None,
        "department": "signal-co", "disputed": False, "closes_unanswered_at": None,
        "from_history": False, "triage_due_at": None, "response_due_at": None,
        "responded": False, "triage_overdue": False, "response_overdue": False}
    # (a case awaiting triage is intake's: its triage deadline is intake's to sweep)
    response, resolution = sweeps.past_due_query(T0)["$or"]
    assert response["response_due_at"] == {"$lt": T0}
    assert resolution["due_at"] == {"$lt": T0} and resolution["overdue"] is False


def test_the_sweep_asks_again_then_closes_only_cases_awaiting_their_residents_answer() -> None:
    asked = sweeps.ask_again_query(T0, WEEK)
    assert asked["status"] == "resolved" and asked["closes_unanswered_at"] is None
    assert asked["resolved_at"] == {"$lte": T0 - WEEK}
    closing = sweeps.unanswered_query(T0)
    assert closing["closes_unanswered_at"] == {"$lte": T0}
    # a disputed case waits for a supervisor, not for its resident
    assert asked["disputed"] == closing["disputed"] == {"$ne": True}
