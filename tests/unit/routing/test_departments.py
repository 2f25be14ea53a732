"""What a department's own systems receive when a case is routed, reassigned or reopened to it."""

from __future__ import annotations

from datetime import timedelta

from unit.lifecycle.casebook import SUPERVISOR, T0, routed_case

from contracts import case_events as ev
from services.routing import departments

WEEK = timedelta(days=7)


def test_a_routed_case_reaches_its_departments_with_the_contact_details() -> None:
    story = routed_case("heating-co", category="heating", assisting=("housing",))
    lead, helper = departments.messages_for(story.envelopes[-1], story.case)
    assert (lead.department, lead.role, lead.action, lead.reason) == (
        "heating-co", "lead", "assigned", "accepted")
    assert helper.department == "housing" and helper.role == "assisting"
    assert lead.contact and lead.contact.phone == "13800000000"
    assert lead.location and lead.location.address == "沙口路王府坟菜市场正门"
    assert lead.due_at == T0 + WEEK and lead.message_id == story.envelopes[-1].event_id


def test_a_reassignment_tells_the_new_department_and_withdraws_from_the_old() -> None:
    story = routed_case().given(T0, ev.CaseReassigned(
        by=SUPERVISOR, from_department="signal-co", to_department="roads-office",
        due_at=T0 + WEEK, reason="路面问题"))
    new, old = departments.messages_for(story.envelopes[-1], story.case)
    assert (new.department, new.action, new.reason) == ("roads-office", "assigned", "reassigned")
    assert (old.department, old.action, old.contact) == ("signal-co", "withdrawn", None)
    assert departments.messages_for(routed_case().envelopes[0], story.case) == []
