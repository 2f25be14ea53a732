"""What a department's own systems receive when a case is routed, reassigned or reopened to it."""

from __future__ import annotations

from datetime import timedelta

from unit.lifecycle.casebook import ADMIN, SUPERVISOR, T0, routed_case

from contracts import case_events as ev
from services.routing import departments

WEEK = timedelta(days=7)


def test_a_routed_case_reaches_its_departments_without_the_residents_details_in_clear() -> None:
    """The topic carries no personal data; the department reads it with its token."""
    story = routed_case("heating-co", category="heating", assisting=("housing",))
    lead, helper = departments.messages_for(story.envelopes[-1], story.case)
    assert (lead.department, lead.role, lead.action, lead.reason) == (
        "heating-co", "lead", "assigned", "accepted")
    assert helper.department == "housing" and helper.role == "assisting"
    assert lead.personal_data and helper.personal_data
    sent = lead.model_dump_json()
    assert "13800000000" not in sent and "李女士" not in sent and "正门" not in sent
    assert lead.location and lead.location.street == "沙口路王府坟菜市场门口"
    assert lead.due_at == T0 + WEEK and lead.message_id == story.envelopes[-1].event_id


def test_an_erasure_tells_every_department_holding_the_case_to_forget_the_resident() -> None:
    story = routed_case("heating-co", category="heating", assisting=("housing",)).given(
        T0, ev.PersonalDataErased(by=ADMIN, reason="request"))
    notices = departments.messages_for(story.envelopes[-1], story.case)
    assert [(n.department, n.role, n.action, n.reason) for n in notices] == [
        ("heating-co", "lead", "erased", "request"), ("housing", "assisting", "erased", "request")]
    assert all(n.message_id == story.envelopes[-1].event_id for n in notices)
    assert not story.case.personal and story.case.erased


def test_a_reassignment_tells_the_new_department_and_withdraws_from_the_old() -> None:
    story = routed_case().given(T0, ev.CaseReassigned(
        by=SUPERVISOR, from_department="signal-co", to_department="roads-office",
        due_at=T0 + WEEK, reason="路面问题", response_due_at=T0 + timedelta(hours=4)))
    new, old = departments.messages_for(story.envelopes[-1], story.case)
    assert (new.department, new.action, new.reason) == ("roads-office", "assigned", "reassigned")
    # the new department's own clocks: its first response (签收) and the resolution
    assert (new.response_due_at, new.due_at) == (T0 + timedelta(hours=4), T0 + WEEK)
    assert (old.department, old.action, old.personal_data) == ("signal-co", "withdrawn", False)
    assert departments.messages_for(routed_case().envelopes[0], story.case) == []
