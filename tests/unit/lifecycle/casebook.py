"""Cases in every state, for the lifecycle stories.

Given these events (`history().given(T0, ...)`, `routed_case()`, ...: histories told
with the story kit, `services/lifecycle/history.py`), a case as a service knows
it; when a decider runs, then the events it returns, or `refusal(...)`: the
reason it refused with, of the kind expected.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import Actor, Channel, Priority, Role
from services.common.catalogue import load_city
from services.common.keys import KeyRing
from services.common.settings import REPO_ROOT
from services.lifecycle import submitting
from services.lifecycle.case import Case
from services.lifecycle.codes import hash_tracking_code
from services.lifecycle.errors import Refused
from services.lifecycle.history import History
from services.lifecycle.policy import Policy

CITY = load_city(REPO_ROOT / "deploy" / "config")
POLICY = Policy(city=CITY)
CITY_WITHOUT_SIGNAL_RULE = CITY.model_copy(
    update={"rules": tuple(r for r in CITY.rules if r.category != "traffic-signals")}
)

T0 = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
"""10-06, the day the reference case came in."""
T1 = T0 + timedelta(days=1)
"""The day after."""

AFTER_NATIONAL_DAY_2025 = datetime(2025, 10, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
"""T0 and T1 fall in the National Day holiday of 2025 (Oct 1-8): one working day from either
starts on Thu Oct 9 and ends with it (the deadline of a general case's first response)."""

TRACKING_CODE = "7K3M-9QXA-ABCD-EFGH"

OFFICER = Actor(role=Role.OFFICER, staff_id="officer-1")
SUPERVISOR = Actor(role=Role.SUPERVISOR, staff_id="supervisor-1")
REPORTER = Actor(role=Role.REPORTER, staff_id="reporter-1")
ADMIN = Actor(role=Role.ADMIN, staff_id="admin-1")
RESIDENT = Actor(role=Role.RESIDENT)
SIGNAL_CO = Actor(role=Role.DEPARTMENT, department="signal-co", staff_id="signal-1")
WATER_CO = Actor(role=Role.DEPARTMENT, department="water-co", staff_id="water-1")
HEATING_CO = Actor(role=Role.DEPARTMENT, department="heating-co", staff_id="heating-1")
HOUSING = Actor(role=Role.DEPARTMENT, department="housing", staff_id="housing-1")


RING = KeyRing()
"""The stories' data keys, as intake keeps them in the key store."""


@cache  # sealed once: the same submission is the same bytes, as in a log
def submitted(category: str = "traffic-signals", district: str = "zhongyuan",
              priority: Priority = Priority.GENERAL, case_id: str = "ZB251006-TEST-0001",
              anonymous: bool = False) -> ev.CaseSubmitted:
    """As intake records it: the contact sealed, and the address where it is private."""
    command = a_submission(category=category, location={
        "district": district, "street": "沙口路王府坟菜市场门口", "address": "沙口路王府坟菜市场正门"},
        **({"contact": None} if anonymous else {}))
    personal = submitting.personal_part(command, CITY)
    return ev.CaseSubmitted(
        category=category,
        description="沙口路王府坟菜市场门口的红绿灯不亮了。",
        location=submitting.public_location(command, CITY),
        channel=Channel.WEB,
        priority=priority,
        personal=RING.seal(case_id, personal) if personal else None,
        tracking_code_hash=hash_tracking_code(TRACKING_CODE),
        attributes={"signal_state": "dark"},
    )


def accepted(category: str = "traffic-signals", district: str = "zhongyuan",
             priority: Priority = Priority.GENERAL, reporter_id: str | None = None
             ) -> ev.CaseAccepted:
    return ev.CaseAccepted(officer=OFFICER, category=category, district=district,
                           priority=priority, reporter_id=reporter_id)


def routed_to(department: str, *, due_at: datetime, assisting: tuple[str, ...] = (),
              priority: Priority = Priority.GENERAL) -> ev.CaseRouted:
    return ev.CaseRouted(department=department, assisting=assisting, due_at=due_at,
                         priority=priority, rule="test", reason="accepted",
                         by=Actor(role=Role.SYSTEM))


def a_submission(**change: object) -> cmd.SubmitCase:
    """What a resident sends for the reference case (the web form's body), with `change`."""
    body: dict[str, object] = {
        "category": "traffic-signals",
        "description": "沙口路王府坟菜市场门口的红绿灯不亮了，过马路很危险。",
        "location": {"district": "zhongyuan", "street": "沙口路王府坟菜市场门口",
                     "address": "沙口路王府坟菜市场正门", "lat": 34.77, "lon": 113.62},
        "attributes": {"signal_state": "dark"},
        "contact": {"name": "李女士", "phone": "13800000000"},
    }
    body.update(change)
    return cmd.SubmitCase.model_validate(body)


def history(case_id: str = "ZB251006-TEST-0001") -> History:
    """A case's history, to tell event by event."""
    return History(case_id, policy=POLICY, seal=RING.seal)


def submitted_story(case_id: str = "ZB261006-AAAA-BBBB",
                    command: cmd.SubmitCase | None = None) -> History:
    """A submission, checked by the city's rules (`submitting.submitted`)."""
    event = submitting.submitted(command or a_submission(), CITY, tracking_code_hash="h" * 64)
    return history(case_id).given(T0, event, producer="intake")


def submitted_case(case_id: str = "ZB261006-AAAA-BBBB",
                   command: cmd.SubmitCase | None = None) -> Case:
    """The case a submission makes."""
    return submitted_story(case_id, command).case


def accepted_case(category: str = "traffic-signals", district: str = "zhongyuan",
                  priority: Priority = Priority.GENERAL, reporter_id: str | None = None) -> History:
    return (history()
            .given(T0, submitted(category, district, priority), producer="intake")
            .given(T0, accepted(category, district, priority, reporter_id), producer="intake"))


def routed_case(department: str = "signal-co", *, category: str = "traffic-signals",
                assisting: tuple[str, ...] = (), priority: Priority = Priority.GENERAL,
                due_in: timedelta = timedelta(days=7)) -> History:
    return accepted_case(category, priority=priority).given(
        T0, routed_to(department, due_at=T0 + due_in, assisting=assisting, priority=priority))


def resolved_case(at: datetime = T0 + timedelta(days=2)) -> History:
    return routed_case().given(
        at, ev.CaseResolved(by=SIGNAL_CO, resolution="四个灯都亮了", on_time=True))


def refusal(decide: Callable[[], object], kind: type[Refused]) -> str:
    """Run `decide()`, which must be refused as `kind`; the reason, for the reader."""
    with pytest.raises(Refused) as refused:
        decide()
    assert type(refused.value) is kind, (type(refused.value).__name__, refused.value.reason)
    return refused.value.reason
