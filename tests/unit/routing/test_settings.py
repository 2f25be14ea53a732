"""Routing's settings: the feedback window the lifecycle decides with (the deadlines are the
city's: tests/unit/common/test_workdays.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from unit.lifecycle.casebook import CITY

from services.routing.settings import RoutingSettings


def test_the_feedback_window_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZAIBAN_FEEDBACK_REMINDER", "P2D")
    monkeypatch.setenv("ZAIBAN_FEEDBACK_WINDOW", "P3D")
    policy = RoutingSettings().policy(CITY)
    assert policy.city is CITY
    assert (policy.feedback_reminder, policy.feedback_window) == (timedelta(days=2),
                                                                  timedelta(days=3))


def test_the_resident_is_asked_again_before_the_window_closes_or_routing_does_not_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = RoutingSettings().policy(CITY)
    assert (defaults.feedback_reminder, defaults.feedback_window) == (timedelta(days=7),
                                                                      timedelta(days=10))
    monkeypatch.setenv("ZAIBAN_FEEDBACK_WINDOW", "P7D")  # no later than the reminder
    with pytest.raises(ValueError, match="feedback reminder"):
        RoutingSettings().policy(CITY)
