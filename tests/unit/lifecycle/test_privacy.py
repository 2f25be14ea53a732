"""Erasing a resident's personal data (`services/lifecycle/privacy.py`), told as stories.

Given a case, when the resident or an admin erases it, then `PersonalDataErased` is
recorded once and the case forgets its sealed data and photos; other staff may not
erase; a finished case's data is due for erasure once the retention period has passed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from unit.lifecycle.casebook import (
    ADMIN,
    OFFICER,
    RESIDENT,
    T0,
    accepted_case,
    history,
    routed_case,
    submitted,
)

from contracts import case_events as ev
from contracts.facts import SYSTEM
from services.lifecycle import privacy
from services.lifecycle.errors import NotAllowed, NotNow

KEEP = timedelta(days=180)


def test_the_resident_or_an_admin_erases_and_the_case_forgets_the_person() -> None:
    for who in (RESIDENT, ADMIN):
        before = routed_case().case
        assert before.personal is not None
        [event] = privacy.erase(before, who, "request")
        assert isinstance(event, ev.PersonalDataErased) and event.by == who
        after = routed_case().given(T0, event).case
        assert after.erased and after.personal is None and after.media == ()
        assert after.facts == before.facts  # what the public saw of the case stays


def test_other_staff_may_not_erase() -> None:
    with pytest.raises(NotAllowed, match="resident"):
        privacy.erase(routed_case().case, OFFICER, "request")


def test_an_erasure_is_recorded_once() -> None:
    story = routed_case()
    story.given(T0, *privacy.erase(story.case, ADMIN, "request"))
    assert privacy.erase(story.case, ADMIN, "request") == []  # a repeated request
    with pytest.raises(NotNow, match="erased already"):
        privacy.check_erasable(story.case, ADMIN)


def test_intake_records_the_erasure_until_triage_and_routing_after() -> None:
    waiting = history().given(T0, submitted())
    assert privacy.recorded_by_intake(waiting.case)
    assert not privacy.recorded_by_intake(accepted_case().case)
    assert not privacy.recorded_by_intake(routed_case().case)


def test_a_finished_case_is_due_once_kept_for_the_retention_period() -> None:
    open_case = routed_case()
    assert not privacy.retention_due(open_case.case, T0 + 2 * KEEP, KEEP)
    closed = routed_case().given(T0 + timedelta(days=3), ev.CaseClosed(reason="no_answer"))
    ended = T0 + timedelta(days=3)
    assert not privacy.retention_due(closed.case, ended + KEEP - timedelta(seconds=1), KEEP)
    assert privacy.retention_due(closed.case, ended + KEEP, KEEP)
    erased = closed.given(ended + KEEP, *privacy.erase(closed.case, SYSTEM, "retention"))
    assert not privacy.retention_due(erased.case, ended + 2 * KEEP, KEEP)
    anonymous = history().given(T0, submitted(anonymous=True)).given(
        T0, ev.CaseClosed(reason="no_answer"))
    assert not privacy.retention_due(anonymous.case, T0 + 2 * KEEP, KEEP)  # nothing to erase
