"""Triage, told as stories.

Given a submitted case, when an officer accepts, rejects or merges it, then these events — or
this refusal.
"""

from __future__ import annotations

from unit.lifecycle.casebook import (
    OFFICER,
    POLICY,
    REPORTER,
    SIGNAL_CO,
    T0,
    refusal,
    submitted_case,
    submitted_story,
)

from contracts.case_commands import AcceptCase, MergeCase, RejectCase
from contracts.case_events import CaseAccepted, CaseMerged, CaseRejected
from contracts.facts import Priority
from services.lifecycle import triage
from services.lifecycle.errors import Invalid, NotAllowed, NotFound, NotNow


def test_accepting_with_a_corrected_category_takes_its_priority_and_remembers_the_old() -> None:
    events = triage.accept(submitted_case(), AcceptCase(category="power"), OFFICER, T0, POLICY)
    assert events == [CaseAccepted(officer=OFFICER, category="power", district="zhongyuan",
                                   priority=Priority.UTILITIES,
                                   corrected={"category": "traffic-signals",
                                              "priority": "general"})]


def test_an_unknown_category_or_district_is_invalid() -> None:
    case = submitted_case()
    assert "fireworks" in refusal(
        lambda: triage.accept(case, AcceptCase(category="fireworks"), OFFICER, T0, POLICY), Invalid)
    assert "atlantis" in refusal(
        lambda: triage.accept(case, AcceptCase(district="atlantis"), OFFICER, T0, POLICY), Invalid)


def test_only_a_submitted_case_can_be_triaged() -> None:
    case = submitted_story().given(T0, CaseRejected(officer=OFFICER, reason="不属于受理范围")).case
    for decide in (lambda: triage.accept(case, AcceptCase(), OFFICER, T0, POLICY),
                   lambda: triage.reject(case, RejectCase(reason="again"), OFFICER, T0, POLICY)):
        assert "rejected" in refusal(decide, NotNow)


def test_a_duplicate_merges_into_an_open_original_only() -> None:
    original = submitted_case("ZB261006-ORIG-0001")
    duplicate = submitted_case("ZB261006-DUPE-0002")
    assert triage.merge(duplicate, MergeCase(into_case_id=original.case_id), OFFICER, T0, POLICY,
                        into=original) == [
        CaseMerged(officer=OFFICER, into_case_id=original.case_id)]
    refusal(lambda: triage.merge(duplicate, MergeCase(into_case_id=duplicate.case_id), OFFICER,
                                 T0, POLICY, into=duplicate), NotNow)
    refusal(lambda: triage.merge(duplicate, MergeCase(into_case_id="ZB000000-NONE-0000"), OFFICER,
                                 T0, POLICY, into=None), NotFound)
    merged = submitted_story(original.case_id).given(
        T0, CaseMerged(officer=OFFICER, into_case_id="ZB261001-ROOT-0000")).case
    assert "ZB261001-ROOT-0000" in refusal(lambda: triage.merge(
        duplicate, MergeCase(into_case_id=merged.case_id), OFFICER, T0, POLICY, into=merged), NotNow)


def test_only_officers_and_supervisors_triage() -> None:
    case = submitted_case()
    assert "may not accept" in refusal(
        lambda: triage.accept(case, AcceptCase(), SIGNAL_CO, T0, POLICY), NotAllowed)
    refusal(lambda: triage.reject(case, RejectCase(reason="重复"), REPORTER, T0, POLICY),
            NotAllowed)
