"""Who may do what on the bus, as the broker itself decides it.

The local Kafka authenticates every connection (SASL/SCRAM-SHA-512) and authorises every
request against its ACLs (KRaft's StandardAuthorizer, nothing allowed without an ACL). Each
service is its own principal with the rights its broker declares (`zaiban topics acls`); these
stories take the routing service's principal, logged in exactly as routing logs in
(`kafka_options`), and show the broker refusing each kind of right it was not given: reading
a topic, writing one, joining a group, creating a topic, seeing a topic, and widening its own
rights. A department's system, logged in with the configuration onboarding gave it, connects
from outside over TLS (the broker's SASL_SSL listener, its certificate issued by the CA the
configuration carries: a client trusting other CAs fails the handshake), is held to its own
topics and group the same way, and offboarding shuts it out. The rest of the suite
is the other half: every service does its work through this broker, as its own principal.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from aiokafka.protocol.metadata import MetadataRequest
from helpers import as_admin, departments_over_tls, read_in_group, read_topic, write_one
from stackfixtures import Namespace

from contracts.topics import Topics
from examples import department_client
from services.common.bus import make_broker
from services.common.kafka import kafka_options, principal_of
from services.common.settings import CommonSettings
from zaiban.departments import offboard, onboard, write_secret
from zaiban.infra import StackInfo
from zaiban.kafka_security import (
    Acl,
    Operation,
    PatternType,
    ResourceType,
    SecurityAdmin,
    SecurityError,
    user,
)

# Kafka users are the broker's, not a namespace's: each test file that onboards departments
# onboards its own (here water-co and heating-co), as make test runs the files side by side
pytestmark = pytest.mark.stack

ROUTING = principal_of("routing")


def host_and_port(bootstrap: str) -> tuple[str, int]:
    host, port = bootstrap.rsplit(":", 1)
    return host, int(port)


async def ask_for_metadata(bootstrap: str, **login: Any) -> list[Any]:
    """One connection, one Metadata request: the brokers it names."""
    host, port = host_and_port(bootstrap)
    connection = await create_conn(host, port, **login)
    try:
        answer = await asyncio.wait_for(connection.send(MetadataRequest([])), timeout=10)
        return list(answer.brokers)
    finally:
        connection.close()


async def test_a_connection_without_credentials_is_refused(local_stack: StackInfo) -> None:
    with pytest.raises(KafkaConnectionError, match="closed"):
        await ask_for_metadata(local_stack.bootstrap_servers)  # plaintext, no SASL at all
    # the same request, logged in, is answered
    assert await ask_for_metadata(local_stack.bootstrap_servers, **as_admin())


async def test_a_wrong_password_or_an_unknown_user_is_refused(local_stack: StackInfo) -> None:
    login = kafka_options(CommonSettings(environment="test"), ROUTING)
    assert await ask_for_metadata(local_stack.bootstrap_servers, **login)
    for wrong in ({"sasl_plain_password": login["sasl_plain_password"] + "x"},
                  {"sasl_plain_username": "zaiban-nobody"}):
        with pytest.raises(SaslAuthenticationFailed, match="invalid credentials"):
            await ask_for_metadata(local_stack.bootstrap_servers, **{**login, **wrong})


async def test_routing_may_not_write_intakes_submissions(settings: CommonSettings) -> None:
    """Only frontends (through intake's API, or the integrations' principals) submit cases:
    routing's own broker, sending where it must not, is refused and nothing lands."""
    topics = Topics(settings.topic_prefix)
    broker = make_broker(settings, "routing")
    await broker.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(broker.publish(b"{}", topics.submissions), timeout=20)
        await broker.publish(b"{}", topics.dead_letter("routing"))  # its own: it may
    finally:
        await broker.stop()
    assert await read_topic(settings.kafka_bootstrap, topics.submissions) == []


async def consume(settings: CommonSettings, principal: str, topic: str,
                  group: str | None) -> dict[Any, Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap,
                                group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False, **kafka_options(settings, principal))
    try:
        await consumer.start()
        return await asyncio.wait_for(consumer.getmany(timeout_ms=2000), timeout=20)
    finally:
        await consumer.stop()


async def test_routing_may_not_read_the_audit_trail_nor_join_intakes_group(
        settings: CommonSettings) -> None:
    topics = Topics(settings.topic_prefix)
    own_group = f"{settings.topic_prefix}zaiban-routing"
    await consume(settings, ROUTING, topics.case_events, own_group)  # what it does every day

    # who read whose personal data is tracking's to read, not routing's
    with pytest.raises(TopicAuthorizationFailedError):
        await consume(settings, ROUTING, topics.audit, own_group)
    # intake's group: its offsets are intake's, and a member there would steal its partitions
    with pytest.raises(GroupAuthorizationFailedError):
        await consume(settings, ROUTING, topics.case_events,
                      f"{settings.topic_prefix}zaiban-intake")


async def test_routing_sees_only_its_topics_and_may_not_create_one(
        settings: CommonSettings, namespace: Namespace) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                **kafka_options(settings, ROUTING))
    await admin.start()
    try:
        seen = {t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)}
    finally:
        await admin.close()
    topics = Topics(settings.topic_prefix)
    assert topics.case_events in seen and topics.department_cases("signal-co") in seen
    assert topics.submissions not in seen and topics.audit not in seen  # no DESCRIBE on them

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap,
                                **kafka_options(settings, ROUTING))
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):  # no CREATE: topics are ensured
            await asyncio.wait_for(producer.send_and_wait(namespace.topic("made-up"), b"x"), 20)
    finally:
        await producer.stop()


async def test_routing_may_not_widen_its_own_rights(settings: CommonSettings) -> None:
    topics = Topics(settings.topic_prefix)
    async with SecurityAdmin(bootstrap_servers=settings.kafka_bootstrap,
                             **kafka_options(settings, ROUTING)) as own:
        with pytest.raises(SecurityError, match=ClusterAuthorizationFailedError.__name__):
            await own.grant([Acl(user(ROUTING), ResourceType.TOPIC, topics.audit,
                                 PatternType.LITERAL, Operation.READ)])
        with pytest.raises(SecurityError, match=ClusterAuthorizationFailedError.__name__):
            await own.ensure_user("zaiban-intruder", "let-me-in")
    with pytest.raises(TopicAuthorizationFailedError):  # and it still may not
        await consume(settings, ROUTING, topics.audit, None)


async def department_login(settings: CommonSettings, stack: StackInfo, code: str,
                           folder: Path) -> dict[str, Any]:
    """Onboard a department; the options its system connects with, from its configuration:
    to the broker's TLS listener, trusting the CA the configuration carries."""
    done = await onboard(departments_over_tls(settings, stack), code)
    path = folder / f"{code}.properties"
    write_secret(path, done.config.properties())
    options = department_client.kafka_options(department_client.read_properties(path))
    assert (options["bootstrap_servers"], options["security_protocol"]) == (
        stack.departments_bootstrap, "SASL_SSL")
    return options


async def test_a_department_connects_over_tls_only_trusting_the_ca_it_was_given(
        settings: CommonSettings, local_stack: StackInfo, tmp_path: Path) -> None:
    water = await department_login(settings, local_stack, "water-co", tmp_path)
    bootstrap = water.pop("bootstrap_servers")
    try:
        assert await ask_for_metadata(bootstrap, **water)  # the CA of its configuration
        # a client that trusts only the system's CAs: the TLS handshake fails, before any
        # password is sent
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            await ask_for_metadata(bootstrap, **{**water, "ssl_context": ssl.create_default_context()})
        # the CA, but no SASL: the broker closes the connection
        with pytest.raises(KafkaConnectionError, match="closed"):
            await ask_for_metadata(bootstrap, security_protocol="SSL",
                                   ssl_context=water["ssl_context"])
    finally:
        assert await offboard(settings, "water-co")


async def test_a_department_reads_writes_and_joins_only_its_own_and_offboarding_shuts_it_out(
        settings: CommonSettings, local_stack: StackInfo, tmp_path: Path) -> None:
    topics = Topics(settings.topic_prefix)
    water = await department_login(settings, local_stack, "water-co", tmp_path)
    await department_login(settings, local_stack, "heating-co", tmp_path)
    bootstrap = water.pop("bootstrap_servers")  # the TLS listener
    try:
        async def send(topic: str) -> None:
            await write_one(bootstrap, topic, **water)

        async def read(topic: str, group: str) -> None:
            await read_in_group(bootstrap, topic, group, **water)

        own_group = f"{settings.topic_prefix}zaiban-dept-water-co"
        await read(topics.department_cases("water-co"), own_group)  # its own: it may
        with pytest.raises(TopicAuthorizationFailedError):  # the heating company's cases
            await read(topics.department_cases("heating-co"), own_group)
        with pytest.raises(GroupAuthorizationFailedError):  # the heating company's group
            await read(topics.department_cases("water-co"),
                       f"{settings.topic_prefix}zaiban-dept-heating-co")
        with pytest.raises(TopicAuthorizationFailedError):  # a reply in its name
            await send(topics.department_replies("heating-co"))
        await send(topics.department_replies("water-co"))  # its own replies: it may
    finally:
        assert await offboard(settings, "heating-co")
        assert await offboard(settings, "water-co")
    with pytest.raises(SaslAuthenticationFailed):  # its user is gone
        await ask_for_metadata(bootstrap, **water)
