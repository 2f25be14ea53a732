"""Inside a department, as tracking shows it: staff see who handles a case, the public only
that it has a handler; the inbox puts the late cases first, then the soonest deadline; "mine"
is a reporter's or a handler's own cases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from unit.tracking.tracking_stories import (
    CITY,
    HANDLERS,
    SUPERVISOR,
    a_handled_case,
    a_long_handling,
    accepted,
    day,
    routed,
    submitted,
)

from contracts import case_events as ev
from contracts.facts import Role
from services.common.catalogue import LANGUAGES, Language
from services.lifecycle.history import History
from services.tracking import inbox
from services.tracking.render import present_entry, public_view, resident_view, staff_view, summary
from services.tracking.store import row_fields
from services.tracking.timeline import CaseView, fold, staff_hash


def project(history: History) -> CaseView:
    view = fold(None, history.envelopes)
    assert view is not None
    return view


def routed_story(case_id: str, due: datetime) -> History:
    return (History(case_id).given(day("10-06", 9), submitted(case_id))
            .given(day("10-06", 10), accepted())
            .given(day("10-06", 11), routed("signal-co", due)))


@pytest.mark.parametrize("language", LANGUAGES)
def test_staff_see_the_handler_the_public_and_the_resident_do_not(language: Language) -> None:
    view = project(a_handled_case())
    assert view.handler == HANDLERS[1]
    assert summary(view, language, CITY, staff=True)["handler"] == HANDLERS[1]
    assert staff_view(view, language, CITY)["handler"] == HANDLERS[1]

    shown = json.dumps([public_view(view, language, CITY), summary(view, language, CITY),
                        resident_view(view, language, CITY)], ensure_ascii=False)
    for handler in HANDLERS:
        assert handler not in shown
    # the public timeline says it, without a name
    given, handed_on = [present_entry(e, language, CITY) for e in view.timeline
                        if e.type == "HandlerAssigned"]
    assert given["what"] == {"handed_on": False} and handed_on["what"] == {"handed_on": True}
    assert given["text"] != handed_on["text"] and "{" not in given["text"] + handed_on["text"]


def test_the_handler_holds_for_the_routing_in_force() -> None:
    reassigned = a_handled_case().given(day("10-08", 9), ev.CaseReassigned(
        by=SUPERVISOR, from_department="signal-co", to_department="roads-office",
        due_at=day("10-15", 9), reason="路面塌陷"))
    view = project(reassigned)
    assert view.handler is None and inbox.fields(view)["handler"] is None
    back = reassigned.given(day("10-08", 10), ev.CaseReassigned(
        by=SUPERVISOR, from_department="roads-office", to_department="signal-co",
        due_at=day("10-15", 10), reason="还是信号灯"))
    assert project(back).handler is None  # signal-co assigns again


def test_the_read_model_keeps_the_handler_and_the_reporter_hashed_for_mine() -> None:
    doc = row_fields(project(a_handled_case()))
    assert doc["handler"] == staff_hash(HANDLERS[1])
    assert doc["deadline"] == day("10-13", 11) and doc["late"] is False
    searched = {key: value for key, value in doc.items() if key != "view"}
    assert not any(h in json.dumps(searched, default=str) for h in HANDLERS)
    assert row_fields(project(a_long_handling()))["reporter"] == staff_hash("reporter-0042")

    assert inbox.mine(Role.REPORTER, "reporter-0042") == {"reporter": staff_hash("reporter-0042")}
    assert inbox.mine(Role.DEPARTMENT, HANDLERS[0], "signal-co") == {
        "handler": staff_hash(HANDLERS[0]), "department": "signal-co"}
    for role in (Role.OFFICER, Role.SUPERVISOR, Role.ADMIN):
        with pytest.raises(inbox.NotMine, match="mine: only reporters"):
            inbox.mine(role, "someone")


def test_the_inbox_puts_late_cases_first_then_the_soonest_deadline() -> None:
    def case_due(case_id: str, due: datetime, *, overdue: bool = False) -> dict[str, object]:
        story = routed_story(case_id, due)
        if overdue:
            story.given(due + timedelta(minutes=1), ev.CaseOverdue(due_at=due,
                                                                   department="signal-co"))
        return row_fields(project(story))

    docs = [case_due("C-SOON", day("10-08")), case_due("C-LATER", day("10-20")),
            case_due("C-LATE", day("10-10"), overdue=True)]
    for field, direction in reversed(inbox.SORT):  # the store's sort, key by key
        docs.sort(key=lambda d, field=field: d[field], reverse=direction == -1)
    assert [d["_id"] for d in docs] == ["C-LATE", "C-SOON", "C-LATER"]

    soon = project(routed_story("C-SOON", day("10-08")))
    assert inbox.row_fields(soon, day("10-07")) == {"deadline": day("10-08").isoformat(),
                                                    "late": False}
    # past its deadline before routing's sweep said so: late all the same
    assert inbox.row_fields(soon, day("10-09"))["late"] is True
    assert inbox.deadline(soon.facts.model_copy(update={"status": "resolved"})) is None
