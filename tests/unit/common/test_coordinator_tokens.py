"""A department's coordinator holds a department token that says so; nobody else can."""

from __future__ import annotations

import pytest
from helpers import TEST_SECRET

from contracts.facts import Role
from services.common.auth import issue_token, verify_token


def test_a_coordinators_token_says_so_and_a_handlers_does_not() -> None:
    coordinator = verify_token(TEST_SECRET, issue_token(
        TEST_SECRET, "signal-chen", Role.DEPARTMENT, "signal-co", coordinator=True))
    assert coordinator.coordinator and coordinator.department == "signal-co"
    handler = verify_token(TEST_SECRET, issue_token(
        TEST_SECRET, "signal-wang", Role.DEPARTMENT, "signal-co"))
    assert not handler.coordinator
    assert handler.actor() == coordinator.actor().model_copy(update={"staff_id": "signal-wang"})


def test_only_a_departments_staff_coordinate() -> None:
    for role in (Role.OFFICER, Role.SUPERVISOR, Role.REPORTER, Role.ADMIN):
        with pytest.raises(ValueError, match="coordinator is a member of a department"):
            issue_token(TEST_SECRET, "someone", role, coordinator=True)
    with pytest.raises(ValueError, match="coordinator"):
        issue_token(TEST_SECRET, "app", Role.DEPARTMENT, "signal-co", kind="api_key",
                    coordinator=True)
