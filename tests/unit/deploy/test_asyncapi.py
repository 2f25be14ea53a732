"""The AsyncAPI documents: every topic zaiban reads and writes, with the type of its messages.

Each service serves the document FastStream builds from its broker's declarations, and the
public entry one document with every service's channels (services/common/asyncapi.py). The
documents are read here as an integrator would: which topics, who sends and who receives,
and a payload schema for each. The topics are read from `contracts.topics` itself, so a topic
added there and declared nowhere fails here, by name."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from pydantic import SecretStr
from unit.deploy.manifests import Gateway

from contracts.topics import Topics
from services.common.catalogue import load_city
from services.common.settings import CommonSettings
from services.composition import SERVICES, app_of, build, bus_access, create_public_app
from zaiban.kafka_security import Acl, Operation, PatternType, ResourceType
from zaiban.topics import acls_of


def offline_settings() -> CommonSettings:
    """Settings that reach nothing: the apps are built for their routes, never started."""
    return CommonSettings(environment="test", auth_secret=SecretStr("offline"),
                          kafka_bootstrap="127.0.0.1:9", mongo_url="mongodb://127.0.0.1:9/",
                          kafka_security_protocol="PLAINTEXT")


TOPICS = Topics()
DEPARTMENTS = [d.code for d in load_city(offline_settings().config_dir).departments]
ARGUMENTS: dict[str, list[str]] = {"department": DEPARTMENTS, "service": list(SERVICES)}
"""What each parameterised topic is documented for: every department of the city's
configuration (deploy/config/departments.yaml), every service."""


def every_topic() -> dict[str, str]:
    """Address -> how `contracts.topics` names it, for every property and method of `Topics`."""
    found: dict[str, str] = {}
    for name, member in vars(Topics).items():
        if name.startswith("_") or not (isinstance(member, property) or callable(member)):
            continue
        if isinstance(member, property):
            found[getattr(TOPICS, name)] = name
            continue
        [parameter] = list(inspect.signature(member).parameters)[1:]
        assert parameter in ARGUMENTS, f"Topics.{name}: which values of {parameter!r}?"
        for value in ARGUMENTS[parameter]:
            found[getattr(TOPICS, name)(value)] = f"{name}({value})"
    return found


DEPARTMENT_TOPICS = {TOPICS.department_cases(code) for code in DEPARTMENTS}
REPLY_TOPICS = {TOPICS.department_replies(code) for code in DEPARTMENTS}
RECEIVES_AND_SENDS: dict[str, tuple[set[str], set[str]]] = {
    "intake": ({TOPICS.case_events, TOPICS.submissions, TOPICS.erasures, TOPICS.revocations,
                TOPICS.city_config},
               {TOPICS.case_events, TOPICS.erasures, TOPICS.receipts,
                TOPICS.dead_letter("intake")}),
    "routing": ({TOPICS.case_events, TOPICS.erasures, TOPICS.revocations, *REPLY_TOPICS,
                 TOPICS.city_config},
                {TOPICS.case_events, TOPICS.dead_letter("routing"), *DEPARTMENT_TOPICS,
                 TOPICS.city_config}),
    "tracking": ({TOPICS.case_events, TOPICS.audit, TOPICS.revocations, TOPICS.city_config},
                 {TOPICS.dead_letter("tracking"), TOPICS.audit, TOPICS.revocations}),
    "metrics": ({TOPICS.case_events, TOPICS.city_config}, {TOPICS.dead_letter("metrics")}),
    "notify": ({TOPICS.case_events, TOPICS.revocations, *DEPARTMENT_TOPICS, TOPICS.city_config},
               {TOPICS.dead_letter("notify")}),
    "opendata": ({TOPICS.case_events, TOPICS.city_config}, {TOPICS.dead_letter("opendata")}),
}
"""What each service reads (its subscribers) and writes (its publishers). Every service that
checks staff tokens reads the revocations; metrics checks none. Every service reads the
city's configuration; routing, where admins change it, writes it too."""

GROUPS: dict[str, set[str]] = {
    "intake": {"zaiban-intake"},
    "routing": {"zaiban-routing", "zaiban-routing-replies", "zaiban-routing-erasures"},
    "tracking": {"zaiban-tracking", "zaiban-tracking-audit"},
    "metrics": {"zaiban-metrics"},
    "notify": {"zaiban-notify", "zaiban-notify-webhooks"},
    "opendata": {"zaiban-opendata"},
}
"""The consumer groups each service's subscribers join."""

MESSAGES = {
    TOPICS.case_events: "CaseEventEnvelope",
    TOPICS.submissions: "BusSubmission",
    TOPICS.receipts: "SubmissionReceipt",
    TOPICS.erasures: "ErasePersonalData",
    TOPICS.audit: "PersonalDataRead",
    TOPICS.revocations: "TokenRevoked",
    TOPICS.city_config: "CityChanged",
    **{topic: "DepartmentCase" for topic in DEPARTMENT_TOPICS},
    **{topic: "DepartmentReply" for topic in REPLY_TOPICS},
    **{TOPICS.dead_letter(service): "DeadLetter" for service in SERVICES},
}
"""The type of the messages on each topic, as the documents name their payload schemas."""


# --- reading a document ----------------------------------------------------------------------


def resolve(doc: dict[str, Any], ref: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The name and the object a `{"$ref": "#/..."}` points at."""
    path = [unquote(part).replace("~1", "/").replace("~0", "~")  # a JSON pointer, in a URL
            for part in ref["$ref"].removeprefix("#/").split("/")]
    target: Any = doc
    for part in path:
        target = target[part]
    return path[-1], target


def operations(doc: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(topic, send|receive, payload schema name, payload schema) for every operation."""
    found = []
    for operation in doc["operations"].values():
        _, channel = resolve(doc, operation["channel"])
        for reference in channel["messages"].values():
            _, message = resolve(doc, reference)
            name, schema = resolve(doc, message["payload"])
            found.append((channel["address"], operation["action"], name, schema))
    return found


def without_payload_schema(doc: dict[str, Any]) -> list[str]:
    """Operations whose payload says nothing of the message (FastStream's placeholder for an
    untyped handler is a bare title)."""
    return [f"{action} {topic}: {name}" for topic, action, name, schema in operations(doc)
            if not ({"properties", "oneOf", "anyOf"} & set(schema))]


# --- the apps ----------------------------------------------------------------------------------


@pytest.fixture
async def public_http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_public_app(offline_settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://zaiban.test") as http:
        yield http


async def document_of(service: str) -> dict[str, Any]:
    """What the service alone serves at /asyncapi.json (as `zaiban serve <service>` runs it)."""
    runtime = build(service, offline_settings())
    try:
        app = app_of(runtime)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://zaiban.test") as http:
            answer = await http.get("/asyncapi.json")
        assert answer.status_code == 200, answer.text
        doc: dict[str, Any] = answer.json()
        return doc
    finally:
        await runtime.mongo.close()


# --- the stories -------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_documents_what_it_reads_and_writes_with_the_message_types(
        service: str) -> None:
    doc = await document_of(service)
    receives, sends = RECEIVES_AND_SENDS[service]
    found = operations(doc)

    assert {topic for topic, action, *_ in found if action == "receive"} == receives
    assert {topic for topic, action, *_ in found if action == "send"} == sends
    assert not without_payload_schema(doc), without_payload_schema(doc)
    assert {(topic, name) for topic, _, name, _ in found} == {
        (topic, MESSAGES[topic]) for topic in receives | sends}


async def test_each_service_is_granted_on_kafka_exactly_what_its_document_says() -> None:
    """The ACLs `zaiban topics ensure` grants are read off the same declarations as the
    documents: READ on what a service receives and on its groups, WRITE on what it sends,
    and nothing else (no CREATE, no cluster right, nothing on another service's topic)."""
    granted = acls_of(await bus_access(offline_settings()))

    expected = set()
    for service, (receives, sends) in RECEIVES_AND_SENDS.items():
        who = f"User:zaiban-{service}"
        expected |= {Acl(who, ResourceType.TOPIC, topic, PatternType.LITERAL, Operation.READ)
                     for topic in receives}
        expected |= {Acl(who, ResourceType.TOPIC, topic, PatternType.LITERAL, Operation.WRITE)
                     for topic in sends}
        expected |= {Acl(who, ResourceType.GROUP, group, PatternType.LITERAL, Operation.READ)
                     for group in GROUPS[service]}
    assert set(granted) == expected and len(granted) == len(expected)


async def test_the_public_entry_documents_every_topic_of_the_contracts_with_its_schema(
        public_http: httpx.AsyncClient) -> None:
    answer = await public_http.get("/asyncapi.json")
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["asyncapi"].startswith("3.")

    documented = {topic for topic, *_ in operations(doc)}
    missing = [f"{name}: {address}" for address, name in every_topic().items()
               if address not in documented]
    assert not missing, "topics in contracts/topics.py no document shows: " + ", ".join(missing)
    assert not without_payload_schema(doc), without_payload_schema(doc)

    # one document for all the services: each one's operations, under the same names
    for service in SERVICES:
        alone = await document_of(service)
        assert set(alone["operations"]) <= set(doc["operations"]), service

    # departments read what routing sends them, and what they answer is what routing reads
    department_case = doc["components"]["schemas"]["DepartmentCase"]
    assert {"case_id", "department", "action", "due_at"} <= set(department_case["properties"])
    assert [ref["$ref"].rsplit("/", 1)[-1]
            for ref in doc["components"]["schemas"]["DepartmentReply"]["oneOf"]] == [
        "AcknowledgeReply", "ProgressReply", "ReturnReply", "ResolveReply", "AssignReply"]
    # the case event log shows the envelope, and every event its `data` may hold
    envelope = doc["components"]["schemas"]["CaseEventEnvelope"]
    events = {ref["$ref"].rsplit("/", 1)[-1] for ref in envelope["properties"]["data"]["anyOf"]}
    assert {"CaseSubmitted", "CaseRouted", "CaseReturned", "CaseClosed"} <= events
    assert {"event_id", "type", "schema_version", "case_id", "seq", "facts"} <= set(
        envelope["properties"])


async def test_the_page_shows_every_topic_and_message_and_loads_nothing_from_elsewhere(
        public_http: httpx.AsyncClient) -> None:
    answer = await public_http.get("/asyncapi")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text

    for address in every_topic():
        assert f"<code>{address}</code>" in page, address
    for message in set(MESSAGES.values()):
        assert f'id="schema-{message}"' in page, message
    assert ("receives</span> routing: department replies:"
            f"{TOPICS.department_replies('signal-co')}") in page
    assert "sends</span> routing: cases for signal-co" in page

    # no viewer from a CDN: no script at all, nothing loaded from another origin
    assert "<script" not in page and " src=" not in page
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert Gateway.load().route("GET", "/asyncapi") == "public"
    assert Gateway.load().route("GET", "/asyncapi.json") == "public"
