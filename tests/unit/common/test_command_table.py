"""The command tables drive the routes and the department replies.

Every row of routing's and intake's table is a route of the service that keeps the
case, documented with its own body and summary, guarded by `access.ROLES`; every
reply a department's system may send stands for a row, and runs through that row's
decider as given by that department.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, get_args

import httpx
import pytest
from pydantic import SecretStr, TypeAdapter
from unit.lifecycle.casebook import POLICY, T0, refusal, routed_case

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import Actor, Role
from services.common.auth import issue_token
from services.common.commands import Row
from services.common.settings import CommonSettings
from services.composition import app_of, build
from services.intake.commands import TRIAGE
from services.lifecycle import access
from services.lifecycle.errors import NotAllowed
from services.routing.commands import COMMANDS, REPLIES

SECRET = SecretStr("offline")
TABLES: dict[str, tuple[Row[Any], ...]] = {"routing": COMMANDS, "intake": TRIAGE}
ROWS = [(service, row) for service, rows in TABLES.items() for row in rows]
IDS = [row.name for _, row in ROWS]
T1 = T0 + timedelta(days=1)


def offline_settings() -> CommonSettings:
    """Settings that reach nothing: the services are built for their routes, never started."""
    return CommonSettings(environment="test", auth_secret=SECRET,
                          kafka_bootstrap="127.0.0.1:9", mongo_url="mongodb://127.0.0.1:9/",
                          kafka_security_protocol="PLAINTEXT")


@pytest.fixture(scope="module")
def openapi() -> dict[str, dict[str, Any]]:
    """Each service's OpenAPI document, as it serves it alone."""
    documents = {}
    for service in TABLES:
        runtime = build(service, offline_settings())
        documents[service] = app_of(runtime).openapi()
    return documents


@pytest.fixture
async def http() -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """A client of each service alone (not started: a guard answers before the store)."""
    runtimes = {service: build(service, offline_settings()) for service in TABLES}
    clients = {service: httpx.AsyncClient(transport=httpx.ASGITransport(app=app_of(runtime)),
                                          base_url="http://zaiban.test")
               for service, runtime in runtimes.items()}
    yield clients
    for service, client in clients.items():
        await client.aclose()
        await runtimes[service].mongo.close()


# --- routes ----------------------------------------------------------------------------


@pytest.mark.parametrize(("service", "row"), ROWS, ids=IDS)
def test_every_row_is_a_route_documented_with_its_own_body(
        openapi: dict[str, dict[str, Any]], service: str, row: Row[Any]) -> None:
    operation = openapi[service]["paths"][f"/api/cases/{{case_id}}/{row.path}"]["post"]
    assert operation["summary"] == row.summary
    assert operation["tags"] == [service]
    body = operation["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    reference = {"$ref": f"#/components/schemas/{row.command.__name__}"}
    if row.body_optional:
        assert reference in schema["anyOf"] and not body.get("required")
    else:
        assert schema == reference and body["required"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    caller = "X-Tracking-Code" if row.resident else "authorization"
    idempotency = {"Idempotency-Key"} if service == "intake" else set()
    assert headers == {caller, "X-Correlation-Id", *idempotency}


def test_every_command_with_roles_has_a_row_and_its_roles() -> None:
    assert sorted(row.command.__name__ for _, row in ROWS) == sorted(
        command.__name__ for command in access.ROLES)
    for _, row in ROWS:
        assert row.roles == access.ROLES[row.command]


@pytest.mark.parametrize(("service", "row"), ROWS, ids=IDS)
async def test_each_route_lets_in_only_the_roles_of_its_command(
        http: dict[str, httpx.AsyncClient], service: str, row: Row[Any]) -> None:
    url = f"/api/cases/ZB251006-TEST-0001/{row.path}"
    if row.resident:  # the resident's tracking code, never a staff token
        answer = await http[service].post(url, json={"fixed": True, "satisfied": True,
                                                          "rating": 5})
        assert answer.status_code == 401 and "X-Tracking-Code" in answer.json()["error"]
        assert row.roles == {Role.RESIDENT}
        return
    outsider = next(role for role in (Role.RESIDENT, Role.DEPARTMENT, Role.REPORTER)
                    if role not in row.roles)
    token = issue_token(SECRET, "someone", outsider,
                        "signal-co" if outsider is Role.DEPARTMENT else None)
    answer = await http[service].post(url, json={},
                                      headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403
    assert answer.json()["error"].endswith(
        ", ".join(sorted(role.value for role in row.roles)))


@pytest.mark.parametrize(("service", "row"), ROWS, ids=IDS)
def test_every_decider_has_the_one_shape(service: str, row: Row[Any]) -> None:
    parameters = list(inspect.signature(row.decide).parameters)
    assert parameters[:5] == ["case", "command", "actor", "now", "policy"]


# --- department replies -----------------------------------------------------------------

REPLY_TYPES = get_args(get_args(cmd.DepartmentReply)[0])
READ_REPLY: TypeAdapter[Any] = TypeAdapter(cmd.DepartmentReply)


def test_every_department_reply_stands_for_a_row_of_routing() -> None:
    assert set(REPLIES) == set(REPLY_TYPES)
    for reply_type, row in REPLIES.items():
        assert row in COMMANDS and row.reply is reply_type
        assert Role.DEPARTMENT in row.roles
        # what the reply says beyond who sends it about which case is the command's body
        said = set(reply_type.model_fields) - {"reply_id", "case_id", "department", "action"}
        assert said == set(row.command.model_fields)


def test_a_department_reply_runs_as_its_command_given_by_that_department() -> None:
    reply = READ_REPLY.validate_python({"action": "acknowledge", "reply_id": "r-1",
                                        "case_id": "ZB251006-TEST-0001",
                                        "department": "signal-co"})
    row = REPLIES[type(reply)]
    command, actor = row.from_reply(reply, sender="signal-co")
    [event] = row.decide(routed_case().case, command, actor, T1, POLICY)
    assert isinstance(event, ev.CaseAcknowledged)
    assert event.by == Actor(role=Role.DEPARTMENT, department="signal-co")
    wrong = READ_REPLY.validate_python({"action": "resolve", "reply_id": "r-2",
                                        "case_id": "ZB251006-TEST-0001",
                                        "department": "water-co", "resolution": "好了"})
    row = REPLIES[type(wrong)]
    command, actor = row.from_reply(wrong, sender="water-co")
    refusal(lambda: row.decide(routed_case().case, command, actor, T1, POLICY), NotAllowed)


def test_a_reply_is_given_by_the_department_whose_topic_it_came_on_never_another() -> None:
    """The water company, on its own replies topic, claims to be the signal company."""
    claim = READ_REPLY.validate_python({"action": "resolve", "reply_id": "r-3",
                                        "case_id": "ZB251006-TEST-0001",
                                        "department": "signal-co", "resolution": "修好了"})
    reason = refusal(lambda: REPLIES[type(claim)].from_reply(claim, sender="water-co"),
                     NotAllowed)
    assert "water-co's replies topic names 'signal-co'" in reason
