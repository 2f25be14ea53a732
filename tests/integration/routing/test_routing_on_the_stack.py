"""Routing on the real broker and store: given what intake recorded, when staff, departments,
residents and the clock act, then these events reach the log (and nothing when refused)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from helpers import (
    TEST_SECRET,
    client_for,
    dead_letter_reasons,
    eventually,
    publish_envelopes,
    publish_raw,
    read_events,
    read_topic,
    running,
)
from pymongo.errors import AutoReconnect
from servicefixtures import token

from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.facts import Actor, Channel, Location, Priority, Role
from contracts.personal import PersonalData, ResidentContact
from contracts.topics import Topics
from services.common.clock import ManualClock
from services.common.commands import Desk
from services.common.http import build_app
from services.common.keys import KeyRing
from services.common.settings import CommonSettings
from services.lifecycle.codes import hash_tracking_code, tracking_code_for
from services.lifecycle.history import History
from services.routing.service import RoutingService, Swept
from services.routing.settings import RoutingSettings

T0 = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)

OFFICER = token(Role.OFFICER, subject="officer-1")
SUPERVISOR = token(Role.SUPERVISOR, subject="supervisor-1")
REPORTER = token(Role.REPORTER, subject="reporter-1")
SIGNAL_CO = token(Role.DEPARTMENT, "signal-co", subject="signal-desk")
WATER_CO = token(Role.DEPARTMENT, "water-co", subject="water-desk")
HEATING_CO = token(Role.DEPARTMENT, "heating-co", subject="heating-desk")


# --- given: what intake recorded ------------------------------------------------------------


def new_case_id() -> str:
    letters = uuid.uuid4().hex.upper()
    return f"ZB251006-{letters[:4]}-{letters[4:8]}"


async def given_accepted(
    settings: CommonSettings, *, category: str = "traffic-signals", district: str = "zhongyuan",
    priority: Priority = Priority.GENERAL, reporter_id: str | None = None, at: datetime = T0,
) -> str:
    """A case submitted by a resident and accepted by an officer, as intake writes it."""
    case_id = new_case_id()
    story = History(case_id, producer="intake").given(at, ev.CaseSubmitted(
        category=category,
        description="沙口路王府坟菜市场门口的红绿灯不亮了，过马路很危险。",
        location=Location(district=district, street="沙口路王府坟菜市场门口",
                          address="沙口路王府坟菜市场正门"),
        channel=Channel.WEB, priority=priority,
        personal=KeyRing().seal(case_id, PersonalData(
            contact=ResidentContact(name="李女士", phone="13800000000"))),
        tracking_code_hash=hash_tracking_code(tracking_code_for(TEST_SECRET, case_id)),
        attributes={"signal_state": "dark"},
    )).given(at, ev.CaseAccepted(
        officer=Actor(role=Role.OFFICER, staff_id="officer-1"), category=category,
        district=district, priority=priority, reporter_id=reporter_id,
    ))
    await publish_envelopes(settings, story.envelopes)
    return case_id


# --- then: what the log received ----------------------------------------------------------


async def log_of(settings: CommonSettings, case_id: str) -> list[Envelope]:
    """The case's events in the log, once each (a copy republished from an outbox has the same
    id and seq, and every consumer skips it); two different events never share a seq."""
    events = {(e.seq, e.event_id): e for e in await read_events(settings, case_id=case_id)}
    seqs = [seq for seq, _ in events]
    assert len(seqs) == len(set(seqs)), f"two different events share a seq: {sorted(events)}"
    return [events[key] for key in sorted(events)]


async def until_types(settings: CommonSettings, case_id: str, *types: str) -> list[Envelope]:
    """Wait until the case's log reads exactly `types`, in order."""
    async def probe() -> list[Envelope] | None:
        events = await log_of(settings, case_id)
        return events if [e.type for e in events] == list(types) else None

    try:
        return await eventually(probe, timeout=20, what=f"{case_id}: {types}")
    except AssertionError:
        found = [e.type for e in await log_of(settings, case_id)]
        raise AssertionError(f"{case_id}: wanted {list(types)}, the log has {found}") from None


async def department_messages(settings: CommonSettings, department: str,
                              min_count: int) -> list[dict[str, Any]]:
    raw = await read_topic(settings.kafka_bootstrap,
                           Topics(settings.topic_prefix).department_cases(department),
                           min_count=min_count, timeout=20)
    return [json.loads(value) for value in raw]


# --- the service under test ------------------------------------------------------------------


def routing_settings(settings: CommonSettings) -> RoutingSettings:
    return RoutingSettings.from_common(settings, sweep_every_s=0.2, relay_every_s=1.0)


@pytest_asyncio.fixture(loop_scope="session")
async def clock() -> ManualClock:
    return ManualClock(T0)


async def post(http: httpx.AsyncClient, case_id: str, action: str, body: dict[str, Any] | None,
               headers: dict[str, str], expect: int = 200) -> dict[str, Any]:
    answer = await http.post(f"/api/cases/{case_id}/{action}", json=body, headers=headers)
    assert answer.status_code == expect, f"{action}: {answer.status_code} {answer.text}"
    result: dict[str, Any] = answer.json()
    return result


# --- the stories ---------------------------------------------------------------------------


async def test_an_accepted_case_is_routed_and_reaches_its_department(
    routing: RoutingService, clock: ManualClock, settings: CommonSettings,
) -> None:
    clock.set(T0 + timedelta(hours=3))  # routing reads the log a while after the acceptance
    case_id = await given_accepted(settings, at=T0)
    events = await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted", "CaseRouted")
    routed = events[-1]
    assert routed.producer == "routing" and routed.causation_id == str(events[1].event_id)
    assert routed.data["department"] == "signal-co" and routed.data["reason"] == "accepted"
    # dated at the acceptance: the resident's deadline does not depend on routing's lag
    assert routed.occurred_at == T0 and routed.facts.due_at == T0 + timedelta(days=7)
    [message] = await department_messages(settings, "signal-co", 1)
    assert message["case_id"] == case_id and message["message_id"] == str(routed.event_id)
    # what it needs to act, and that the case has personal data it reads with its token:
    # never the resident's details themselves, which no topic carries in clear
    assert message["personal_data"] is True and "13800000000" not in json.dumps(message)
    assert message["location"]["address"] == "沙口路王府坟菜市场正门"  # a public place
    assert message["attributes"] == {"signal_state": "dark"} and message["priority"] == "general"
    # a case the officer hands to a reporter waits for the reporter, not for dispatch
    newsroom = await given_accepted(settings, reporter_id="reporter-1")
    events = await until_types(settings, newsroom, "CaseSubmitted", "CaseAccepted",
                               "ReporterAssigned")
    assert events[-1].data["reporter_id"] == "reporter-1"
    assert (await routing.streams.get(newsroom)).status == "accepted"  # type: ignore[union-attr]


async def test_the_reference_case_from_site_visit_to_confirmation(
    routing: RoutingService, http: httpx.AsyncClient, clock: ManualClock,
    settings: CommonSettings,
) -> None:
    case_id = await given_accepted(settings, reporter_id="reporter-1")
    await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted", "ReporterAssigned")
    clock.set(datetime(2025, 10, 7, 10, 0, tzinfo=UTC))
    await post(http, case_id, "site-visits", {"note": "现场四个信号灯全部不亮"}, REPORTER)
    routed = await post(http, case_id, "route", {"department": "signal-co"}, REPORTER)
    assert routed["facts"]["department"] == "signal-co" and routed["facts"]["status"] == "routed"
    assert [e["type"] for e in routed["events"]] == ["CaseRouted"]
    await post(http, case_id, "acknowledge", {"note": "已派维修人员"}, SIGNAL_CO)
    await post(http, case_id, "progress", {"note": "更换控制器", "public": True}, SIGNAL_CO)
    await post(http, case_id, "stories", {"title": "王府坟菜市场门口红绿灯何时能点亮?",
                                          "url": "https://news.example.cn/a/1",
                                          "column": "inquiry"}, REPORTER)
    clock.set(datetime(2025, 10, 12, 16, 0, tzinfo=UTC))
    resolved = await post(http, case_id, "resolve", {"resolution": "复访：四个灯都亮了"}, SIGNAL_CO)
    assert resolved["facts"]["resolved_on_time"] is True
    code = tracking_code_for(TEST_SECRET, case_id)
    closed = await post(http, case_id, "feedback", {"fixed": True, "satisfied": True,
                                                    "rating": 5, "comment": "谢谢"},
                        {"X-Tracking-Code": code})
    assert [e["type"] for e in closed["events"]] == ["FeedbackGiven", "CaseClosed"]
    events = await until_types(
        settings, case_id, "CaseSubmitted", "CaseAccepted", "ReporterAssigned", "SiteVisited",
        "CaseRouted", "CaseAcknowledged", "ProgressNoted", "StoryPublished", "CaseResolved",
        "FeedbackGiven", "CaseClosed")
    assert [e.seq for e in events] == list(range(1, 12))
    assert events[4].occurred_at.date().isoformat() == "2025-10-07"
    assert events[8].occurred_at.date().isoformat() == "2025-10-12"
    assert events[-1].data["reason"] == "confirmed" and events[-1].facts.status == "closed"
    # the answer named what was recorded, as the log has it
    assert closed["events"][1]["event_id"] == str(events[-1].event_id)
    [message] = await department_messages(settings, "signal-co", 1)
    assert message["reason"] == "manual" and message["personal_data"] is True


async def test_refused_commands_record_nothing(
    routing: RoutingService, http: httpx.AsyncClient, settings: CommonSettings,
) -> None:
    case_id = await given_accepted(settings, reporter_id="reporter-1")
    await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted", "ReporterAssigned")
    # wrong state: not routed yet
    answer = await post(http, case_id, "resolve", {"resolution": "好了"}, SUPERVISOR, 409)
    assert "before it is routed" in answer["error"]
    await post(http, case_id, "feedback", {"fixed": True, "satisfied": True, "rating": 5},
               {"X-Tracking-Code": tracking_code_for(TEST_SECRET, case_id)}, 409)
    await post(http, case_id, "route", {"department": "signal-co"}, REPORTER)
    await post(http, case_id, "route", {}, OFFICER, 409)
    # wrong department
    answer = await post(http, case_id, "acknowledge", None, WATER_CO, 403)
    assert "signal-co" in answer["error"]
    # wrong role
    await post(http, case_id, "resolve", {"resolution": "好了"}, OFFICER, 403)
    await post(http, case_id, "reassign", {"department": "water-co", "reason": "试试"}, REPORTER,
               403)
    # not signed in, a forged token, a wrong tracking code, an unknown case, a bad body
    await post(http, case_id, "acknowledge", None, {}, 401)
    await post(http, case_id, "acknowledge", None, {"Authorization": "Bearer zb1.x.y"}, 401)
    await post(http, case_id, "feedback", {"fixed": True, "satisfied": True, "rating": 5},
               {"X-Tracking-Code": "0000-0000-0000-0000"}, 403)
    await post(http, "ZB251006-NONE-NONE", "acknowledge", None, SIGNAL_CO, 404)
    answer = await post(http, case_id, "reassign", {"department": "Water Co!", "reason": "x"},
                        SUPERVISOR, 422)
    assert "department" in answer["error"]
    await post(http, case_id, "reassign", {"department": "water-company", "reason": "试试"},
               SUPERVISOR, 422)
    events = await log_of(settings, case_id)
    assert [e.type for e in events] == ["CaseSubmitted", "CaseAccepted", "ReporterAssigned",
                                        "CaseRouted"]


async def test_two_racing_resolutions_record_one(
    routing: RoutingService, http: httpx.AsyncClient, settings: CommonSettings,
) -> None:
    case_id = await given_accepted(settings)
    await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted", "CaseRouted")
    answers = await asyncio.gather(
        http.post(f"/api/cases/{case_id}/resolve", json={"resolution": "修好了"},
                  headers=SIGNAL_CO),
        http.post(f"/api/cases/{case_id}/resolve", json={"resolution": "复访：修好了"},
                  headers=REPORTER),
    )
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    loser = next(a for a in answers if a.status_code == 409)
    assert "already resolved" in loser.json()["error"]
    events = await log_of(settings, case_id)
    assert [e.type for e in events].count("CaseResolved") == 1 and len(events) == 4


async def as_kept_before_reminders(routing: RoutingService, case_id: str) -> None:
    """The case's snapshot in routing's store as routing kept it before it asked residents
    again: without the fields for disputes and reminders, at the top or in the case."""
    snapshots = routing.streams.collection
    doc = await snapshots.find_one({"_id": case_id})
    assert doc is not None and "closes_unanswered_at" in doc
    case = {k: v for k, v in json.loads(doc["case"]).items()
            if k not in ("disputed", "closes_unanswered_at")}
    await snapshots.update_one({"_id": case_id}, {
        "$set": {"case": json.dumps(case)},
        "$unset": {"disputed": "", "closes_unanswered_at": ""}})


async def test_an_overdue_case_is_escalated_even_across_a_restart(
    settings: CommonSettings, clock: ManualClock,
) -> None:
    first = RoutingService(routing_settings(settings), clock=clock)
    async with running(first), client_for(build_app([first], title="routing")) as http:
        late = await given_accepted(settings)
        silent = await given_accepted(settings)
        await until_types(settings, late, "CaseSubmitted", "CaseAccepted", "CaseRouted")
        await until_types(settings, silent, "CaseSubmitted", "CaseAccepted", "CaseRouted")
        clock.advance(timedelta(days=1))
        await post(http, late, "acknowledge", {}, SIGNAL_CO)  # in time: only resolution is late
        await post(http, silent, "resolve", {"resolution": "已修复"}, SIGNAL_CO)
        clock.set(T0 + timedelta(days=7))  # the deadline itself: not yet overdue
        assert await first.sweep() == Swept()
        await as_kept_before_reminders(first, silent)
    # routing is down while the deadline passes and the resident stays silent a week (and a
    # new routing, which asks residents again, starts on what the old one kept)
    clock.set(T0 + timedelta(days=8, minutes=1))
    second = RoutingService(routing_settings(settings), clock=clock)
    async with running(second):
        events = await until_types(settings, late, "CaseSubmitted", "CaseAccepted",
                                   "CaseRouted", "CaseAcknowledged", "CaseOverdue",
                                   "CaseEscalated")
        assert events[4].data["due_at"] == events[2].data["due_at"]
        assert events[4].data["clock"] == "resolution"
        assert events[5].data["reason"] == "overdue" and events[5].facts.overdue
        # asked once more (late, as routing was down: the rest of the window from now)
        asked = await until_types(settings, silent, "CaseSubmitted", "CaseAccepted",
                                  "CaseRouted", "CaseResolved", "ResidentAskedAgain")
        closes_at = T0 + timedelta(days=11, minutes=1)
        assert datetime.fromisoformat(asked[-1].data["closes_at"]) == closes_at
        # sweeping again (as another instance would) changes nothing
        assert await second.sweep() == Swept()
        clock.set(closes_at - timedelta(seconds=1))
        assert await second.sweep() == Swept()
    # and across another restart, the case closes when the asking said
    clock.set(closes_at)
    third = RoutingService(routing_settings(settings), clock=clock)
    async with running(third):
        closed = await until_types(settings, silent, "CaseSubmitted", "CaseAccepted",
                                   "CaseRouted", "CaseResolved", "ResidentAskedAgain",
                                   "CaseClosed")
        assert closed[-1].data["reason"] == "no_answer"
        assert await third.sweep() == Swept()
    assert len(await log_of(settings, late)) == 6


async def test_instances_sweeping_at_once_ask_a_silent_resident_once(
    settings: CommonSettings, clock: ManualClock,
) -> None:
    first = RoutingService(routing_settings(settings), clock=clock)
    second = RoutingService(routing_settings(settings), clock=clock)
    async with running(first, second), client_for(build_app([first], title="routing")) as http:
        silent = await given_accepted(settings)
        await until_types(settings, silent, "CaseSubmitted", "CaseAccepted", "CaseRouted")
        clock.set(T0 + timedelta(days=1))
        await post(http, silent, "resolve", {"resolution": "已修复"}, SIGNAL_CO)
        clock.set(T0 + timedelta(days=8))
        # both instances' own sweeps run too, every 0.2 s: all of them race for the one asking
        swept = await asyncio.gather(*(s.sweep() for s in (first, second) * 3))
        assert sum(s.asked_again for s in swept) <= 1
        await until_types(settings, silent, "CaseSubmitted", "CaseAccepted", "CaseRouted",
                          "CaseResolved", "ResidentAskedAgain")
        await asyncio.sleep(1)  # a second asking, had any instance recorded one, is in by now
        assert [e.type for e in await log_of(settings, silent)].count("ResidentAskedAgain") == 1
        clock.set(T0 + timedelta(days=11))
        swept = await asyncio.gather(*(s.sweep() for s in (first, second) * 3))
        assert sum(s.closed for s in swept) <= 1 and not any(s.asked_again for s in swept)
        await until_types(settings, silent, "CaseSubmitted", "CaseAccepted", "CaseRouted",
                          "CaseResolved", "ResidentAskedAgain", "CaseClosed")
        await asyncio.sleep(1)
        assert len(await log_of(settings, silent)) == 6


async def test_department_replies_on_the_bus_and_garbage_in_the_dead_letter_topic(
    routing: RoutingService, settings: CommonSettings,
) -> None:
    case_id = await given_accepted(settings)
    await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted", "CaseRouted")
    topics = Topics(settings.topic_prefix)

    def reply(**fields: Any) -> bytes:
        return json.dumps({"case_id": case_id, "department": "signal-co", **fields}).encode()

    acknowledged = reply(action="acknowledge", reply_id="sig-1", note="收到")
    await publish_raw(settings.kafka_bootstrap, topics.department_replies("signal-co"), [
        b"\xff\xfe not json",
        reply(action="explode", reply_id="sig-0"),
        acknowledged,
        acknowledged,  # a repeat changes nothing
        reply(action="resolve", reply_id="sig-2", resolution="控制器已更换"),
    ], key=case_id.encode())
    # the water company, in its own name on its own topic: not its case
    await publish_raw(settings.kafka_bootstrap, topics.department_replies("water-co"), [
        reply(action="resolve", reply_id="wat-1", department="water-co", resolution="好了"),
    ], key=case_id.encode())
    events = await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted", "CaseRouted",
                               "CaseAcknowledged", "CaseResolved")
    assert events[3].data["by"] == {"role": "department", "department": "signal-co",
                                    "staff_id": None}
    letters = await read_topic(settings.kafka_bootstrap, topics.dead_letter("routing"),
                               min_count=3)
    assert len(letters) == 3, dead_letter_reasons(letters)
    by_topic: dict[str, list[str]] = {}
    for letter in map(json.loads, letters):
        by_topic.setdefault(letter["source_topic"], []).append(letter["reason"])
    unreadable, unknown = by_topic[topics.department_replies("signal-co")]
    assert unreadable.startswith("invalid") and "action" in unknown
    [not_theirs] = by_topic[topics.department_replies("water-co")]
    assert not_theirs.startswith("refused (not_allowed)") and "water-co" in not_theirs


async def test_a_store_failure_amid_a_batch_of_replies_records_each_once(
    routing: RoutingService, settings: CommonSettings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a batch of replies is taken side by side, a case's in order: one failing brings the batch
    # again, and the replies recorded already are found by their ids, not refused as repeats
    case_id = await given_accepted(settings)
    await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted", "CaseRouted")
    reply = Desk.reply
    failed: list[str] = []

    async def failing_once(desk: Desk, row: Any, given: Any, **how: Any) -> Any:
        if given.action == "resolve" and not failed:
            failed.append(given.reply_id)
            raise AutoReconnect("the store went away for a moment")
        return await reply(desk, row, given, **how)

    monkeypatch.setattr(Desk, "reply", failing_once)
    said = {"case_id": case_id, "department": "signal-co"}
    await publish_raw(settings.kafka_bootstrap, Topics(settings.topic_prefix).department_replies(
        "signal-co"), [json.dumps({**said, **fields}).encode() for fields in (
            {"action": "acknowledge", "reply_id": "sig-31", "note": "收到"},
            {"action": "resolve", "reply_id": "sig-32", "resolution": "控制器已更换"})],
        key=case_id.encode())
    await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted", "CaseRouted",
                      "CaseAcknowledged", "CaseResolved")
    await asyncio.sleep(1)  # a second acknowledgement or a dead letter, had either come, is in
    assert failed == ["sig-32"]
    types = [e.type for e in await log_of(settings, case_id)]
    assert (types.count("CaseAcknowledged"), types.count("CaseResolved")) == (1, 1)
    assert await read_topic(settings.kafka_bootstrap, Topics(settings.topic_prefix).dead_letter(
        "routing"), min_count=0) == []


async def test_a_reply_is_its_topics_department_and_one_naming_another_is_refused(
    routing: RoutingService, settings: CommonSettings,
) -> None:
    """The water company writes, on its own replies topic, that the signal company
    resolved the signal company's case: refused, whatever the body says, and nothing is
    recorded — the signal company's own reply with the same reply id still counts."""
    case_id = await given_accepted(settings)
    await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted", "CaseRouted")
    topics = Topics(settings.topic_prefix)
    claim = json.dumps({"case_id": case_id, "department": "signal-co", "action": "resolve",
                        "reply_id": "r-1", "resolution": "修好了"}).encode()

    await publish_raw(settings.kafka_bootstrap, topics.department_replies("water-co"), [claim],
                      key=case_id.encode())
    [letter] = await read_topic(settings.kafka_bootstrap, topics.dead_letter("routing"),
                                min_count=1)
    dead = json.loads(letter)
    assert dead["source_topic"] == topics.department_replies("water-co")
    assert dead["reason"] == (
        "refused (not_allowed): a reply on water-co's replies topic names 'signal-co': "
        "a department replies only in its own name, on its own topic")
    assert [e.type for e in await log_of(settings, case_id)] == [
        "CaseSubmitted", "CaseAccepted", "CaseRouted"]
    assert await routing.replies.find_one({"department": "signal-co"}) is None

    await publish_raw(settings.kafka_bootstrap, topics.department_replies("signal-co"), [claim],
                      key=case_id.encode())
    events = await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted", "CaseRouted",
                               "CaseResolved")
    assert events[-1].data["by"]["department"] == "signal-co"
    assert len(await read_topic(settings.kafka_bootstrap, topics.dead_letter("routing"))) == 1


async def test_not_fixed_reopens_more_urgent_and_a_return_is_rerouted(
    routing: RoutingService, http: httpx.AsyncClient, clock: ManualClock,
    settings: CommonSettings,
) -> None:
    signals = await given_accepted(settings)
    heating = await given_accepted(settings, category="heating", district="erqi",
                                   priority=Priority.UTILITIES)
    await until_types(settings, signals, "CaseSubmitted", "CaseAccepted", "CaseRouted")
    await until_types(settings, heating, "CaseSubmitted", "CaseAccepted", "CaseRouted")
    # the heating company says it is the housing bureau's (which assisted): re-routed to it
    returned = await post(http, heating, "return", {"reason": "是小区物业管道问题"}, HEATING_CO)
    assert [e["type"] for e in returned["events"]] == ["CaseReturned", "CaseRouted"]
    assert returned["facts"]["department"] == "housing"
    assisting, leading = await department_messages(settings, "housing", 2)
    assert (assisting["role"], assisting["lead_department"]) == ("assisting", "heating-co")
    assert (leading["role"], leading["reason"], leading["case_id"]) == ("lead", "returned", heating)
    await post(http, heating, "progress", {"note": "还要再看看"}, HEATING_CO, 403)
    # the resident says the signals are dark again: back to the signal company, more urgent
    clock.set(T0 + timedelta(days=2))
    await post(http, signals, "resolve", {"resolution": "已修复"}, SIGNAL_CO)
    clock.set(T0 + timedelta(days=3))
    reopened = await post(http, signals, "feedback",
                          {"fixed": False, "satisfied": False, "rating": 1, "comment": "又灭了"},
                          {"X-Tracking-Code": tracking_code_for(TEST_SECRET, signals)})
    assert reopened["facts"]["priority"] == "utilities" and reopened["facts"]["reopened"] == 1
    events = await until_types(settings, signals, "CaseSubmitted", "CaseAccepted", "CaseRouted",
                               "CaseResolved", "FeedbackGiven", "CaseReopened")
    assert events[-1].data["department"] == "signal-co"
    assert events[-1].facts.due_at == T0 + timedelta(days=4)
    first, again = await department_messages(settings, "signal-co", 2)
    assert (first["reason"], again["reason"], again["priority"]) == (
        "accepted", "reopened", "utilities")


SIGNAL_COORDINATOR = token(Role.DEPARTMENT, "signal-co", subject="signal-chen", coordinator=True)
SIGNAL_WANG = token(Role.DEPARTMENT, "signal-co", subject="signal-wang")
WATER_COORDINATOR = token(Role.DEPARTMENT, "water-co", subject="water-zhou", coordinator=True)


async def test_the_coordinator_assigns_a_handler_and_hands_the_case_on(
    routing: RoutingService, http: httpx.AsyncClient, settings: CommonSettings,
) -> None:
    case_id = await given_accepted(settings)
    await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted", "CaseRouted")
    given = await post(http, case_id, "handler", {"handler": "signal-wang"}, SIGNAL_COORDINATOR)
    assert [e["type"] for e in given["events"]] == ["HandlerAssigned"]
    # a handler is no coordinator; another department's coordinator has no say; nor an officer
    refused = await post(http, case_id, "handler", {"handler": "signal-li"}, SIGNAL_WANG, 403)
    assert "only a coordinator of signal-co" in refused["error"]
    refused = await post(http, case_id, "handler", {"handler": "water-li"}, WATER_COORDINATOR,
                         403)
    assert "acts only on its own cases" in refused["error"]
    await post(http, case_id, "handler", {"handler": "signal-li"}, OFFICER, 403)
    # a name is needed, and the one who has it already is nothing to record
    blank = await post(http, case_id, "handler", {"handler": "  "}, SIGNAL_COORDINATOR, 422)
    assert "handler" in json.dumps(blank) and "name the handler" in json.dumps(blank)
    await post(http, case_id, "handler", {}, SIGNAL_COORDINATOR, 422)
    await post(http, case_id, "handler", {"handler": "signal-wang"}, SIGNAL_COORDINATOR, 409)
    # handed on by the coordinator, then by a supervisor
    await post(http, case_id, "handler", {"handler": "signal-li"}, SIGNAL_COORDINATOR)
    await post(http, case_id, "handler", {"handler": "signal-zhao"}, SUPERVISOR)
    events = await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted", "CaseRouted",
                               "HandlerAssigned", "HandlerAssigned", "HandlerAssigned")
    assert [(e.data["handler"], e.data["previous"]) for e in events[3:]] == [
        ("signal-wang", None), ("signal-li", "signal-wang"), ("signal-zhao", "signal-li")]
    assert events[3].data["by"]["staff_id"] == "signal-chen"
    assert (await routing.streams.get(case_id)).handler == "signal-zhao"  # type: ignore[union-attr]
    # the department's own system assigns on its replies topic, as its coordinator
    await publish_raw(settings.kafka_bootstrap,
                      Topics(settings.topic_prefix).department_replies("signal-co"),
                      [json.dumps({"case_id": case_id, "department": "signal-co",
                                   "action": "assign", "reply_id": "as-1",
                                   "handler": "signal-wang"}).encode()], key=case_id.encode())
    events = await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted", "CaseRouted",
                               "HandlerAssigned", "HandlerAssigned", "HandlerAssigned",
                               "HandlerAssigned")
    assert events[-1].data["previous"] == "signal-zhao"
    # nobody's name goes on the department's topic: it was told of the routing alone
    [message] = await department_messages(settings, "signal-co", 1)
    told = json.dumps(message)
    assert message["action"] == "assigned" and not any(
        handler in told for handler in ("signal-wang", "signal-li", "signal-zhao", "signal-chen"))
