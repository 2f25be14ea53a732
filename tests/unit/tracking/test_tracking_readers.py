"""Least privilege in the staff views: who reads a case, and who sees its resident's contact.

The story: a heating case is accepted and handed to reporter A, then routed by the rules
to the heating company (D1, the lead) with the housing bureau (D2) assisting. Reporter A
sees the resident's contact; reporter B reads the case without it. D1 and D2 read it
with the contact and find it in their lists, and D2 may note progress on it; the water
company (D3) may neither read it nor act on it.
"""

from __future__ import annotations

import pytest
from unit.tracking.tracking_stories import (
    CITY,
    EMAIL,
    NAME,
    OFFICER,
    PHONE,
    SUPERVISOR,
    accepted,
    day,
    opened,
    submitted,
)

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import Actor, Priority, Role
from services.lifecycle import handling
from services.lifecycle.errors import NotAllowed
from services.lifecycle.history import History
from services.lifecycle.policy import Policy
from services.tracking.readers import may_read, sees_contact
from services.tracking.render import staff_view, summary
from services.tracking.store import CaseQuery, row_fields
from services.tracking.timeline import CaseView, fold

CASE_ID = "ZB261020-HEAT-0001"
REPORTER_A = Actor(role=Role.REPORTER, staff_id="reporter-a")
REPORTER_B = Actor(role=Role.REPORTER, staff_id="reporter-b")
LEAD = Actor(role=Role.DEPARTMENT, department="heating-co", staff_id="heat-desk")
ASSISTING = Actor(role=Role.DEPARTMENT, department="housing", staff_id="housing-desk")
OTHER = Actor(role=Role.DEPARTMENT, department="water-co", staff_id="water-desk")
ADMIN = Actor(role=Role.ADMIN, staff_id="admin-root")
CONTACT = {"name": NAME, "phone": PHONE, "email": EMAIL}


def heating_case(reporter: str | None = "reporter-a") -> History:
    """Given a case handed to `reporter`, led by heating-co and assisted by housing."""
    return (
        History(CASE_ID, policy=Policy(city=CITY))
        .given(day("10-20", 8), submitted(CASE_ID, category="heating", street="文化路",
                                          description="暖气不热，室内只有十二度。"))
        .given(day("10-20", 9), accepted(category="heating", priority=Priority.UTILITIES,
                                         reporter_id=reporter))
        .given(day("10-20", 10), ev.CaseRouted(
            department="heating-co", assisting=("housing",), due_at=day("10-22", 10),
            priority=Priority.UTILITIES, rule="heating@*", by=REPORTER_A))
    )


def view_of(history: History) -> CaseView:
    view = fold(None, history.envelopes)
    assert view is not None
    return view


def as_staff(view: CaseView, reader: Actor) -> dict[str, object]:
    assert may_read(view, reader)
    if not sees_contact(view, reader):
        return staff_view(view, "zh-Hans", CITY, withheld=True)
    return staff_view(view, "zh-Hans", CITY, personal=opened(view))


def test_the_reporter_the_case_is_handed_to_sees_the_contact_and_no_other_reporter_does() -> None:
    view = view_of(heating_case())
    assert "reporter-a" not in view.model_dump_json()  # kept as a hash, as the tracking code
    mine = as_staff(view, REPORTER_A)
    assert mine["contact"] == CONTACT and mine["contact_withheld"] is False
    assert view.reporter_hash is not None and view.reporter_hash not in str(mine)

    theirs = as_staff(view, REPORTER_B)
    assert theirs["contact"] is None and theirs["contact_withheld"] is True
    assert NAME not in str(theirs) and PHONE not in str(theirs) and EMAIL not in str(theirs)
    # the case itself they read as before: every entry, the description, the street; the
    # exact address of a private place (a flat) is personal data, and not theirs to see
    assert theirs["timeline"] == mine["timeline"]
    assert theirs["description"] == mine["description"]
    assert theirs["location"]["street"] == mine["location"]["street"] == "文化路"
    assert mine["location"]["address"] == "沙口路王府坟菜市场门口"
    assert theirs["location"]["address"] == "" and theirs["location"]["lat"] is None


def test_a_case_handed_to_nobody_shows_no_reporter_the_contact() -> None:
    view = view_of(heating_case(reporter=None))
    assert view.reporter_hash is None
    assert not sees_contact(view, REPORTER_A) and not sees_contact(view, REPORTER_B)


def test_a_reporter_assigned_later_takes_over_the_contact() -> None:
    history = heating_case().given(day("10-21", 9), ev.ReporterAssigned(
        by=SUPERVISOR, reporter_id="reporter-b"))
    view = view_of(history)
    assert sees_contact(view, REPORTER_B) and not sees_contact(view, REPORTER_A)


def test_officers_supervisors_and_admins_keep_seeing_the_contact() -> None:
    view = view_of(heating_case())
    for reader in (OFFICER, SUPERVISOR, ADMIN):
        assert as_staff(view, reader)["contact"] == CONTACT


def test_the_lead_and_the_assisting_department_read_the_case_with_its_contact() -> None:
    view = view_of(heating_case())
    for department in (LEAD, ASSISTING):
        shown = as_staff(view, department)
        assert shown["contact"] == CONTACT
        assert shown["assisting"] == [{"code": "housing", "name": "住房保障和房地产管理局"}]


def test_a_department_neither_leading_nor_assisting_reads_nothing() -> None:
    view = view_of(heating_case())
    assert not may_read(view, OTHER) and not sees_contact(view, OTHER)


def test_the_assisting_department_notes_progress_and_another_department_is_refused() -> None:
    progress = cmd.NoteProgress(note="已协调物业检查管道", public=False)
    with pytest.raises(NotAllowed):
        heating_case().when(day("10-21"), handling.note_progress, progress, by=OTHER)

    history = heating_case().when(day("10-21"), handling.note_progress, progress, by=ASSISTING)
    assert [e.type for e in history.latest] == ["ProgressNoted"]
    shown = as_staff(view_of(history), ASSISTING)
    assert shown["timeline"][-1]["who"]["department"] == "housing"


def test_a_new_routing_names_the_assisting_departments_afresh() -> None:
    """As the lifecycle keeps them: a re-routing without helpers ends the assistance."""
    history = heating_case().given(day("10-21", 9), ev.CaseRouted(
        department="heating-co", due_at=day("10-23", 9), priority=Priority.UTILITIES,
        rule="manual", reason="manual", by=SUPERVISOR))
    view = view_of(history)
    assert view.assisting == () and not may_read(view, ASSISTING)


def test_a_department_s_list_holds_the_cases_it_leads_or_assists() -> None:
    view = view_of(heating_case())
    row = row_fields(view)
    assert row["department"] == "heating-co" and row["assisting"] == ["housing"]
    query = CaseQuery(involving="housing", text="暖气", staff=True).filter()
    assert query["$and"] == [{"$or": [{"department": "housing"}, {"assisting": "housing"}]}]
    assert "$or" in query  # the text search still stands beside it
    listed = summary(view, "zh-Hans", CITY, staff=True)
    assert listed["assisting"] == [{"code": "housing", "name": "住房保障和房地产管理局"}]
    assert "contact" not in listed and PHONE not in str(listed)
