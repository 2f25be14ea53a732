"""Deadlines in working days on the real broker and store: a case routed on the eve of the
2026 National Day holiday, and cases across the adjusted working Sunday before it (Sun
2026-09-20 is worked). The city counts general cases' triage and first response (签收) in
1 working day and their resolution in 3; the sweeps mark what runs late — intake's the triage
of a case awaiting it (intake records that case's events), routing's the department's — and the
flags clear as the case moves on.

Run with `-s` to see the deadline table of these cases, as the log recorded them."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest_asyncio
import yaml
from helpers import TEST_SECRET, case_once, publish_envelopes, running
from integration.routing.test_routing_on_the_stack import SIGNAL_CO, log_of, post, until_types
from unit.lifecycle.casebook import a_submission

from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.facts import Actor, Role
from services.common.catalogue import load_city
from services.common.clock import ManualClock
from services.common.keys import KeyRing
from services.common.settings import REPO_ROOT, CommonSettings
from services.intake.service import IntakeService
from services.intake.settings import IntakeSettings
from services.lifecycle.codes import tracking_code_for
from services.lifecycle.history import History
from services.lifecycle.policy import Policy
from services.routing.service import RoutingService

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICER = Actor(role=Role.OFFICER, staff_id="officer-1")
KEYS = KeyRing()


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest_asyncio.fixture(loop_scope="session")
async def city_dir(tmp_path_factory: object) -> Path:
    """The demo city, its general cases due in 3 working days (first response in 1)."""
    folder: Path = tmp_path_factory.mktemp("city")  # type: ignore[attr-defined]
    for source in (REPO_ROOT / "deploy" / "config").glob("*.yaml"):
        shutil.copy(source, folder / source.name)
    limits = yaml.safe_load((folder / "deadlines.yaml").read_text(encoding="utf-8"))
    limits["general"] = {"triage": "1 working day", "response": "1 working day",
                         "resolution": "3 working days"}
    (folder / "deadlines.yaml").write_text(yaml.safe_dump(limits), encoding="utf-8")
    return folder


@pytest_asyncio.fixture(loop_scope="session")
async def clock() -> ManualClock:
    return ManualClock(at(9, 18, 16))


@pytest_asyncio.fixture(loop_scope="session")
async def intake(settings: CommonSettings, clock: ManualClock,
                 city_dir: Path) -> AsyncIterator[IntakeService]:
    """Intake on the same clock and city: it sweeps the triage deadlines."""
    service = IntakeService(IntakeSettings.from_common(
        settings, sweep_every_s=0.2, config_dir=city_dir), clock=clock)
    async with running(service):
        yield service


def story_of(case_id: str, city_dir: Path) -> History:
    policy = Policy(city=load_city(city_dir))
    return History(case_id, policy=policy, producer="intake",
                   tracking_code=tracking_code_for(TEST_SECRET, case_id), seal=KEYS.seal)


async def submitted(settings: CommonSettings, city_dir: Path, when: datetime) -> History:
    """A resident's traffic-signals case (general), as intake records it at `when`."""
    letters = uuid.uuid4().hex.upper()
    case_id = f"ZB{when:%y%m%d}-{letters[:4]}-{letters[4:8]}"
    story = story_of(case_id, city_dir).submit(when, a_submission())
    await publish_envelopes(settings, story.latest, KEYS)
    return story


async def accepted(settings: CommonSettings, story: History, when: datetime) -> None:
    """An officer accepts it at `when` (intake records it; routing routes it, dated then),
    after what the log holds of it already (routing may have marked it overdue)."""
    story.case = story.case.fold(await log_of(settings, story.case_id))
    facts = story.facts
    story.given(when, ev.CaseAccepted(officer=OFFICER, category=facts.category,
                                      district=facts.district, priority=facts.priority))
    await publish_envelopes(settings, story.latest)


def deadlines_of(events: list[Envelope]) -> dict[str, str]:
    """The row of the deadline table: when submitted and routed, and the three deadlines."""
    facts = events[-1].facts

    def local(moment: datetime | None) -> str:
        return moment.astimezone(SHANGHAI).strftime("%a %Y-%m-%d %H:%M") if moment else "-"

    return {"submitted": local(facts.submitted_at), "routed": local(facts.routed_at),
            "triage due": local(facts.triage_due_at),
            "response due": local(facts.response_due_at),
            "resolution due": local(facts.due_at)}


def table(rows: dict[str, dict[str, str]]) -> str:
    """The deadline table (printed with `-s`): limits of a general case in this city."""
    head = ["case", "limits (general)", *next(iter(rows.values()))]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows.items():
        lines.append(f"| {name} | triage 1 wd, response 1 wd, resolution 3 wd | "
                     + " | ".join(row.values()) + " |")
    return "\n".join(lines)


async def test_a_case_routed_on_the_eve_of_national_day(
    routing: RoutingService, http: httpx.AsyncClient, clock: ManualClock,
    settings: CommonSettings, city_dir: Path,
) -> None:
    clock.set(at(9, 30, 14))
    story = await submitted(settings, city_dir, at(9, 30, 14))
    await accepted(settings, story, at(9, 30, 15))
    events = await until_types(settings, story.case_id, "CaseSubmitted", "CaseAccepted",
                               "CaseRouted")
    routed = events[-1]
    # Thu 10-08, Fri 10-09 and the worked Sat 10-10: 3 working days after Wed 09-30 15:00
    assert routed.facts.due_at == at(10, 10, 15)
    assert routed.facts.response_due_at == at(10, 8, 15)
    assert routed.facts.triage_due_at == at(10, 8, 14)
    print("\n" + table({"routed on the eve of National Day": deadlines_of(events)}))
    # the whole holiday passes: nothing is late
    clock.set(at(10, 8, 15))
    assert (await routing.sweep()).overdue == 0
    # a minute after: the department has not signed for it (签收)
    clock.set(at(10, 8, 15, 1))
    events = await until_types(settings, story.case_id, "CaseSubmitted", "CaseAccepted",
                               "CaseRouted", "CaseOverdue", "CaseEscalated")
    assert events[3].data["clock"] == "response" and events[3].facts.response_overdue
    assert not events[3].facts.overdue and events[4].data["reason"] == "overdue"
    # it acknowledges on Friday: the response flag clears, the resolution clock runs on
    clock.set(at(10, 9, 9))
    answer = await post(http, story.case_id, "acknowledge", {}, SIGNAL_CO)
    assert answer["facts"]["response_overdue"] is False
    clock.set(at(10, 10, 15))  # the worked Saturday, at the deadline: still in time
    assert (await routing.sweep()).overdue == 0
    clock.set(at(10, 10, 15, 1))
    events = await until_types(settings, story.case_id, "CaseSubmitted", "CaseAccepted",
                               "CaseRouted", "CaseOverdue", "CaseEscalated", "CaseAcknowledged",
                               "CaseOverdue", "CaseEscalated")
    assert events[6].data["clock"] == "resolution" and events[6].facts.overdue
    # resolved on Monday: late, and no longer overdue
    clock.set(at(10, 12, 10))
    answer = await post(http, story.case_id, "resolve", {"resolution": "已修复"}, SIGNAL_CO)
    assert answer["facts"]["overdue"] is False and answer["facts"]["resolved_on_time"] is False


async def test_cases_across_the_adjusted_working_sunday(
    routing: RoutingService, intake: IntakeService, clock: ManualClock,
    settings: CommonSettings, city_dir: Path,
) -> None:
    clock.set(at(9, 18, 16))
    waiting = await submitted(settings, city_dir, at(9, 18, 16))
    routed = await submitted(settings, city_dir, at(9, 18, 15))
    await accepted(settings, routed, at(9, 18, 16))
    events = await until_types(settings, routed.case_id, "CaseSubmitted", "CaseAccepted",
                               "CaseRouted")
    # Fri 09-18 16:00: Sat 09-19 is off, Sun 09-20 is worked, then Mon 09-21 and Tue 09-22
    assert events[-1].facts.response_due_at == at(9, 20, 16)
    assert events[-1].facts.due_at == at(9, 22, 16)
    rows = {"routed before the worked Sunday": deadlines_of(events)}
    # nobody triages the other before the weekend: due on the worked Sunday, not on Monday
    [submission] = await until_types(settings, waiting.case_id, "CaseSubmitted")
    assert submission.facts.triage_due_at == at(9, 20, 16)
    # intake sweeps what it has folded: the one waiting, and the other's acceptance (else it
    # is a submission of 15:00, overdue at 16:00)
    await case_once(intake.streams, waiting.case_id, lambda case: case.version >= 1,
                    what="intake to fold the waiting case")
    await case_once(intake.streams, routed.case_id, lambda case: case.version >= events[-1].seq,
                    what="intake to fold the routed case")
    clock.set(at(9, 20, 16))
    assert (await routing.sweep()).overdue == 0
    assert await intake.sweep_deadlines() == 0
    clock.set(at(9, 20, 16, 1))
    late = await until_types(settings, waiting.case_id, "CaseSubmitted", "CaseOverdue",
                             "CaseEscalated")
    assert late[1].data["clock"] == "triage" and late[1].facts.triage_overdue
    late = await until_types(settings, routed.case_id, "CaseSubmitted", "CaseAccepted",
                             "CaseRouted", "CaseOverdue", "CaseEscalated")
    assert late[3].data["clock"] == "response"
    # accepted on Monday morning: triage no longer overdue; routed with its own deadlines
    await accepted(settings, waiting, at(9, 21, 9))
    events = await until_types(settings, waiting.case_id, "CaseSubmitted", "CaseOverdue",
                               "CaseEscalated", "CaseAccepted", "CaseRouted")
    assert not events[3].facts.triage_overdue and events[3].facts.escalated
    # Mon 09-21 09:00: Tue 09-22 (response); 09-22, 09-23, 09-24 (resolution)
    assert events[-1].facts.response_due_at == at(9, 22, 9)
    assert events[-1].facts.due_at == at(9, 24, 9)
    rows["submitted before the worked Sunday, triaged late"] = deadlines_of(events)
    print("\n" + table(rows))
