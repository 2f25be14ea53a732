"""The dispatch rules and the deadlines, as the city configures them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from unit.routing.casebook import CITY, CITY_WITHOUT_SIGNAL_RULE, T0

from contracts.facts import Priority
from services.routing.dispatch import Assignment, Deadlines, Policy, by_hand, by_rules
from services.routing.settings import RoutingSettings


def test_the_first_matching_rule_names_the_lead_and_assisting_departments() -> None:
    assert by_rules(CITY, "traffic-signals", "zhongyuan") == Assignment(
        "signal-co", (), "traffic-signals@*")
    assert by_rules(CITY, "heating", "erqi") == Assignment("heating-co", ("housing",), "heating@*")
    # a district's own rule comes before the city-wide one
    assert by_rules(CITY, "roads", "jinshui") == Assignment(
        "jinshui-roads", ("roads-office",), "roads@jinshui")
    assert by_rules(CITY, "roads", "erqi") == Assignment("roads-office", (), "roads@*")


def test_departments_that_returned_the_case_are_skipped() -> None:
    assert by_rules(CITY, "heating", "erqi", exclude={"heating-co"}) == Assignment(
        "housing", (), "heating@*")
    assert by_rules(CITY, "roads", "jinshui", exclude={"jinshui-roads"}) == Assignment(
        "roads-office", (), "roads@jinshui")
    assert by_rules(CITY, "roads", "jinshui", exclude={"jinshui-roads", "roads-office"}) is None
    assert by_rules(CITY, "traffic-signals", "erqi", exclude={"signal-co"}) is None


def test_no_rule_no_department() -> None:
    assert by_rules(CITY_WITHOUT_SIGNAL_RULE, "traffic-signals", "erqi") is None


def test_routing_by_hand_keeps_the_rule_when_it_agrees() -> None:
    assert by_hand(CITY, "heating-co", "heating", "erqi") == Assignment(
        "heating-co", ("housing",), "heating@*")
    assert by_hand(CITY, "housing", "heating", "erqi") == Assignment("housing")


def test_deadlines_default_to_the_priority_classes() -> None:
    deadlines = Deadlines()
    assert deadlines.due(Priority.EMERGENCY, T0) == T0 + timedelta(hours=2)
    assert deadlines.due(Priority.UTILITIES, T0) == T0 + timedelta(hours=24)
    assert deadlines.due(Priority.GENERAL, T0) == T0 + timedelta(days=7)
    assert deadlines.due(Priority.COMPLEX, T0) == T0 + timedelta(days=15)
    assert Deadlines.from_settings(RoutingSettings()) == deadlines


def test_deadlines_and_the_feedback_window_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZAIBAN_DEADLINE_EMERGENCY", "PT1H")
    monkeypatch.setenv("ZAIBAN_DEADLINE_COMPLEX", "P30D")
    monkeypatch.setenv("ZAIBAN_FEEDBACK_WINDOW", "P3D")
    policy = Policy.from_settings(CITY, RoutingSettings())
    assert policy.deadlines.allowed(Priority.EMERGENCY) == timedelta(hours=1)
    assert policy.deadlines.allowed(Priority.COMPLEX) == timedelta(days=30)
    assert policy.deadlines.allowed(Priority.GENERAL) == timedelta(days=7)
    assert policy.feedback_window == timedelta(days=3)
