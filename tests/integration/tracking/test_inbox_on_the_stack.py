"""A department's inbox and "my cases" on the real stack: given cases routed to signal-co,
some given to its handlers, one overdue, when its staff, another department, an officer or a
reporter ask, then the late case on top, the soonest deadline next, each with its handler —
and the handlers' names nowhere the public reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from helpers import eventually, publish_envelopes
from servicefixtures import token
from unit.tracking.tracking_stories import (
    HANDLERS,
    RING,
    SIGNAL_CO,
    a_long_handling,
    accepted,
    day,
    routed,
    submitted,
)

from contracts import case_events as ev
from contracts.facts import Role
from services.common.settings import CommonSettings
from services.lifecycle.history import History

pytestmark = pytest.mark.stack

WANG, LI = HANDLERS
COORDINATOR = token(Role.DEPARTMENT, "signal-co", subject="signal-chen", coordinator=True)


def routed_case(case_id: str, due: datetime, handler: str | None = None,
                overdue: bool = False, department: str = "signal-co") -> History:
    story = (History(case_id).given(day("10-06", 9), submitted(case_id))
             .given(day("10-06", 10), accepted())
             .given(day("10-06", 11), routed(department, due)))
    if handler:
        story.given(day("10-06", 12), ev.HandlerAssigned(by=SIGNAL_CO, handler=handler))
    if overdue:
        story.given(due, ev.CaseOverdue(due_at=due, department=department))
    return story


async def rows(http: httpx.AsyncClient, path: str, headers: dict[str, str],
               **params: Any) -> list[dict[str, Any]]:
    answer = await http.get(path, headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def test_the_inbox_puts_the_late_case_on_top_then_the_soonest_deadline(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    today = datetime.now(UTC).replace(microsecond=0)
    later = routed_case("ZB261006-LATR-0001", today + timedelta(days=14), handler=WANG)
    soon = routed_case("ZB261006-SOON-0002", today + timedelta(days=2))
    late = routed_case("ZB261006-LATE-0003", day("10-07"), handler=LI, overdue=True)
    resolved = routed_case("ZB261006-DONE-0004", day("10-08"), handler=WANG).given(
        day("10-07"), ev.CaseResolved(by=SIGNAL_CO, resolution="已修好", on_time=True))
    water = routed_case("ZB261006-WTR0-0005", day("10-06", 20), department="water-co")
    newsroom = a_long_handling()
    stories = (later, soon, late, resolved, water, newsroom)
    await publish_envelopes(settings, [e for s in stories for e in s.envelopes], keys=RING)

    async def all_projected() -> bool:
        found = await rows(http, "/api/staff/cases", token(Role.OFFICER), limit=20)
        return {r["case_id"]: r["seq"] for r in found} == {
            s.case_id: s.case.version for s in stories}

    await eventually(all_projected, what="the six cases projected")

    inbox = await rows(http, "/api/staff/inbox", COORDINATOR)
    assert [(r["case_id"], r["late"], r["handler"]) for r in inbox] == [
        (late.case_id, True, LI), (soon.case_id, False, None), (later.case_id, False, WANG)]
    assert inbox[0]["overdue"] is True
    assert inbox[1]["deadline"] == (today + timedelta(days=2)).isoformat()
    # a supervisor reads the same inbox by naming the department
    supervised = await rows(http, "/api/staff/inbox", token(Role.SUPERVISOR),
                            department="signal-co")
    assert [r["case_id"] for r in supervised] == [r["case_id"] for r in inbox]

    # the handler sees theirs; the same staff id in another department is somebody else
    mine = await rows(http, "/api/staff/inbox", token(Role.DEPARTMENT, "signal-co", WANG),
                      mine="true")
    assert [r["case_id"] for r in mine] == [later.case_id]
    also_mine = await rows(http, "/api/staff/cases", token(Role.DEPARTMENT, "signal-co", WANG),
                           mine="true", open="true")
    assert {r["case_id"] for r in also_mine} == {later.case_id, resolved.case_id}
    namesake = token(Role.DEPARTMENT, "water-co", WANG)
    assert await rows(http, "/api/staff/inbox", namesake, mine="true") == []
    assert await rows(http, "/api/staff/cases", namesake, mine="true") == []

    # another department may not read signal-co's inbox; who has no inbox is told why
    answer = await http.get("/api/staff/inbox", headers=namesake,
                            params={"department": "signal-co"})
    assert answer.status_code == 403 and "water-co" in answer.text
    answer = await http.get("/api/staff/inbox", headers=token(Role.OFFICER))
    assert answer.status_code == 422 and "department" in answer.text
    answer = await http.get("/api/staff/inbox", headers=token(Role.REPORTER))
    assert answer.status_code == 403
    answer = await http.get("/api/staff/cases", headers=token(Role.OFFICER),
                            params={"mine": "true"})
    assert answer.status_code == 422 and "mine" in answer.text

    # a reporter's own cases: those handed to them
    reporters = await rows(http, "/api/staff/cases", token(Role.REPORTER, subject="reporter-0042"),
                           mine="true")
    assert [r["case_id"] for r in reporters] == [newsroom.case_id]
    assert await rows(http, "/api/staff/cases", token(Role.REPORTER, subject="reporter-9"),
                      mine="true") == []

    # the public reads that the case has a handler, never who
    public = ""
    for path in ("/api/cases?limit=50", f"/api/cases/{later.case_id}",
                 f"/api/cases/{late.case_id}?lang=en"):
        answer = await http.get(path)
        assert answer.status_code == 200
        public += answer.text
    assert HANDLERS[0] not in public and HANDLERS[1] not in public
    entries = (await http.get(f"/api/cases/{later.case_id}?lang=en")).json()["timeline"]
    [given] = [e for e in entries if e["type"] == "HandlerAssigned"]
    assert given["what"] == {"handed_on": False} and "gave the case to a handler" in given["text"]
