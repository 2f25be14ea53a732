"""A city changed while running, on the real stack: two instances of routing, one change.

The story: routing runs in two instances, intake in one, as a city scales them. A water
case is routed to the water company by the city-wide water rule. An admin, through the
first routing instance, moves the water rule to the housing bureau: the change is an event
on the configuration topic (who, when, what, version 1), answered once Kafka holds it; the
second instance, told nothing directly, runs version 1 within seconds (the timings are
printed: from the change to each instance applying it). A new water case goes to housing,
recorded as routed by version 1; the first stays with the water company, as routed by
version 0. A change against version 0 now is refused 409 naming version 1; one naming a
department the city does not have, 422 naming it; an officer may not change anything.
Intake takes a category added while it runs. An instance started afterwards starts at the
current version; the console exports the running configuration as files that load back as
the same city.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import client_for, eventually, publish_raw, read_topic, running
from integration.routing.test_routing_on_the_stack import given_accepted, until_types
from servicefixtures import token

from contracts.cityconfig import CityChanged
from contracts.facts import Role
from contracts.topics import Topics
from services.common.catalogue import load_city
from services.common.following import FOLLOW_EVERY_S
from services.common.runtime import ServiceRuntime
from services.common.settings import CommonSettings
from services.composition import app_of, build
from zaiban.cityconfig import history_line, running_city, write_files
from zaiban.topics import ensure_for_city

pytestmark = pytest.mark.stack

ADMIN = token(Role.ADMIN, subject="admin-zhang")
OFFICER = token(Role.OFFICER, subject="officer-1")
WITHIN_S = 5.0

WATER_TO_HOUSING = {"category": "water", "district": "*", "lead": "housing"}
NAMES = {"zh-Hans": "共享单车", "zh-Hant": "共享單車", "en": "Shared bikes"}
BIKES = {"code": "bikes", "icon": "🚲", "priority": "general", "address_public": True,
         "names": NAMES, "description": NAMES, "attributes": []}


async def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


async def applied(instance: ServiceRuntime[Any], version: int) -> float:
    """When `instance` applied `version` (time.time()), waiting for it up to WITHIN_S."""
    async def probe() -> float | None:
        return instance.city.applied_at.get(version)

    return await eventually(probe, timeout=WITHIN_S, every=0.01,
                            what=f"{instance.name} to run configuration version {version}")


async def test_a_changed_rule_reaches_both_instances_and_routes_only_new_cases(
        settings: CommonSettings, tmp_path: Path) -> None:
    one, two, intake = (build("routing", settings), build("routing", settings),
                        build("intake", settings))
    async with running(one, two, intake), client_for(app_of(one)) as first, \
            client_for(app_of(intake)) as intake_http:
        before = await given_accepted(settings, category="water", district="erqi",
                                      at=datetime.now(UTC))
        [*_, routed_before] = await until_types(settings, before, "CaseSubmitted",
                                                "CaseAccepted", "CaseRouted")
        assert routed_before.data["department"] == "water-co"
        assert routed_before.data["config_version"] == 0

        city = await ok(await first.get("/api/admin/city", headers=ADMIN))
        assert city["version"] == 0 and city["by"] is None

        asked = time.time()
        answer = await ok(await first.put("/api/admin/city/rules/water@*", headers=ADMIN,
                                          json={"expected_version": 0,
                                                "item": WATER_TO_HOUSING,
                                                "note": "mains moved to housing"}))
        accepted = time.time()
        assert answer["accepted"] is True and answer["version"] == 1
        decided = one.city.applied.event.at.timestamp()  # type: ignore[union-attr]
        instances = (("routing #1 (answered)", one), ("routing #2", two), ("intake", intake))
        timings = {name: await applied(instance, 1) for name, instance in instances}
        print(f"\nconfiguration change: decided {1000 * (decided - asked):.0f} ms after it was "
              f"asked, answered 'accepted' {1000 * (accepted - decided):.0f} ms after that; "
              "each instance applied it:")
        for name, at in timings.items():
            print(f"  {name:<22} {1000 * (at - decided):5.0f} ms after the decision, "
                  f"{1000 * (at - accepted):+5.0f} ms from the answer")
        assert one.city.applied_at[1] <= accepted  # applied by the one that answered, before
        assert all(at - accepted < WITHIN_S for at in timings.values())
        assert two.city.current.rule_for("water", "erqi").lead == "housing"  # type: ignore[union-attr]

        after = await given_accepted(settings, category="water", district="erqi",
                                      at=datetime.now(UTC))
        [*_, routed_after] = await until_types(settings, after, "CaseSubmitted", "CaseAccepted",
                                               "CaseRouted")
        assert (routed_after.data["department"], routed_after.data["config_version"]) == \
            ("housing", 1)
        # the case routed before keeps its department, rule and deadline
        [*_, still] = await until_types(settings, before, "CaseSubmitted", "CaseAccepted",
                                        "CaseRouted")
        assert still.data == routed_before.data

        stale = await first.put("/api/admin/city/rules/water@*", headers=ADMIN,
                                json={"expected_version": 0, "item": WATER_TO_HOUSING})
        assert stale.status_code == 409
        assert "at version 1, not 0" in stale.json()["error"]
        unknown = await first.put("/api/admin/city/rules/gas@*", headers=ADMIN,
                                  json={"expected_version": 1,
                                        "item": {"category": "gas", "lead": "no-such-co"}})
        assert unknown.status_code == 422
        assert "unknown department no-such-co" in unknown.json()["error"]
        in_use = await first.delete("/api/admin/city/categories/gas", headers=ADMIN,
                                    params={"expected_version": 1})
        assert in_use.status_code == 422 and "unknown category gas" in in_use.text
        refused = await first.put("/api/admin/city/categories/bikes", headers=OFFICER,
                                  json={"expected_version": 1, "item": BIKES})
        assert refused.status_code == 403

        # intake takes a category added while it runs
        added = await ok(await first.put("/api/admin/city/categories/bikes", headers=ADMIN,
                                         json={"expected_version": 1, "item": BIKES}))
        await applied(intake, added["version"])
        catalogue = await ok(await intake_http.get("/api/catalogue?lang=en"))
        assert "Shared bikes" in [c["name"] for c in catalogue["categories"]]
        await ok(await intake_http.post("/api/cases", json={
            "category": "bikes", "description": "人行道上堆满了共享单车，无法通行。",
            "location": {"district": "erqi", "street": "大学路"}}), 201)

        history = await ok(await first.get("/api/admin/city/history", headers=ADMIN))
        assert [(h["version"], h["by"], h["change"]["code"]) for h in history] == [
            (1, "admin-zhang", "water@*"), (2, "admin-zhang", "bikes")]

    # the changes are events on their topic, in order
    raw = await read_topic(settings.kafka_bootstrap, Topics(settings.topic_prefix).city_config,
                           min_count=2)
    changes = [CityChanged.model_validate_json(value) for value in raw]
    assert [(c.version, c.change.kind, c.change.action, c.change.note) for c in changes] == [
        (1, "rule", "put", "mains moved to housing"), (2, "category", "put", "")]

    # an instance started now runs the current version from its first request
    third = build("routing", settings)
    async with running(third):
        assert third.city.version == 2
        assert third.city.current.category("bikes") is not None

    # `zaiban config export` writes it as deploy/config's files; they load as the same city
    running_now = await running_city(settings)
    assert running_now.version == 2
    write_files(running_now, tmp_path)
    assert load_city(tmp_path) == third.city.current
    assert [history_line(e).split()[2:] for e in running_now.history] == [
        ["admin-zhang", "put", "rule", "water@*", "—", "mains", "moved", "to", "housing"],
        ["admin-zhang", "put", "category", "bikes"]]


def allowed(routed: Any) -> timedelta:
    """How long the routing gave the department to resolve the case."""
    return datetime.fromisoformat(routed.data["due_at"]) - routed.occurred_at


async def test_a_class_s_time_limits_changed_while_running_count_for_new_cases_only(
        settings: CommonSettings) -> None:
    routing = build("routing", settings)
    async with running(routing), client_for(app_of(routing)) as http:
        before = await given_accepted(settings, category="roads", district="erqi",
                                      at=datetime.now(UTC))
        [*_, routed_before] = await until_types(settings, before, "CaseSubmitted",
                                                "CaseAccepted", "CaseRouted")
        assert abs(allowed(routed_before) - timedelta(days=7)) < timedelta(seconds=1)

        faster = {"triage": "2 hours", "response": "4 hours", "resolution": "10 hours"}
        removed = await http.delete("/api/admin/city/limits/general", headers=ADMIN,
                                    params={"expected_version": 0})
        assert removed.status_code == 422 and "not removed" in removed.text
        wrong = await http.put("/api/admin/city/limits/general", headers=ADMIN,
                               json={"expected_version": 0,
                                     "item": {**faster, "resolution": "soon"}})
        assert wrong.status_code == 422 and "item.resolution" in wrong.text
        answer = await ok(await http.put("/api/admin/city/limits/general", headers=ADMIN,
                                         json={"expected_version": 0, "item": faster,
                                               "note": "roads within the day"}))
        assert answer["version"] == 1
        assert str(routing.city.current.deadlines.general.resolution) == "10 hours"

        after = await given_accepted(settings, category="roads", district="erqi",
                                     at=datetime.now(UTC))
        [*_, routed_after] = await until_types(settings, after, "CaseSubmitted",
                                               "CaseAccepted", "CaseRouted")
        assert abs(allowed(routed_after) - timedelta(hours=10)) < timedelta(seconds=1)
        assert routed_after.data["config_version"] == 1
        # the case routed before keeps the seven days it was given
        [*_, still] = await until_types(settings, before, "CaseSubmitted", "CaseAccepted",
                                        "CaseRouted")
        assert still.data == routed_before.data


METRO = {"code": "metro-co", "contact": "0371-0000-0199", "names": {
    "zh-Hans": "地铁公司", "zh-Hant": "地鐵公司", "en": "Metro Company"}}


async def test_a_department_added_while_running_is_heard_on_the_bus_once_onboarded(
        settings: CommonSettings) -> None:
    routing, notify = build("routing", settings), build("notify", settings)
    topics = Topics(settings.topic_prefix)
    async with running(routing, notify), client_for(app_of(routing)) as http:
        await ok(await http.put("/api/admin/city/departments/metro-co", headers=ADMIN,
                                json={"expected_version": 0, "item": METRO}))
        await ok(await http.put("/api/admin/city/rules/roads@*", headers=ADMIN, json={
            "expected_version": 1, "item": {"category": "roads", "lead": "metro-co"}}))
        case_id = await given_accepted(settings, category="roads", district="gaoxin",
                                       at=datetime.now(UTC))
        [*_, routed] = await until_types(settings, case_id, "CaseSubmitted", "CaseAccepted",
                                         "CaseRouted")
        assert routed.data["department"] == "metro-co"
        assert await routing.replies_topics.follow() == []  # no topic yet: nothing to read

        # onboarded as any department (`zaiban topics ensure`: its topics, and the services'
        # rights on them), it is heard within seconds, by the instances already running
        await ensure_for_city(settings)

        async def following() -> bool | None:
            return (topics.department_replies("metro-co") in routing.reply_senders
                    and topics.department_cases("metro-co") in notify.department_topics) or None

        await eventually(following, timeout=4 * FOLLOW_EVERY_S,
                         what="routing and notify to read metro-co's topics")
        await publish_raw(settings.kafka_bootstrap, topics.department_replies("metro-co"), [
            json.dumps({"case_id": case_id, "department": "metro-co", "action": "acknowledge",
                        "reply_id": "metro-1", "note": "已收到"}).encode()],
            key=case_id.encode())
        [*_, acknowledged] = await until_types(settings, case_id, "CaseSubmitted",
                                               "CaseAccepted", "CaseRouted",
                                               "CaseAcknowledged")
        assert acknowledged.data["by"]["department"] == "metro-co"
