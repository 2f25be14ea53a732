"""The real stack answers: Kafka round trip, document store round trip, idempotent `up`,
and the stop/start API that fault tests build on."""

from __future__ import annotations

import asyncio
import io
import stat
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.client import AIOKafkaClient, CoordinationType
from helpers import as_admin
from pymongo import AsyncMongoClient, MongoClient
from rich.console import Console
from stackfixtures import Namespace, PrivateStack, private_settings

from zaiban import infra
from zaiban.infra import StackInfo, StackSettings
from zaiban.infra.processes import port_answers

pytestmark = pytest.mark.stack


async def test_kafka_produce_and_consume(stack: StackInfo, namespace: Namespace) -> None:
    topic = namespace.topic("infra.roundtrip")
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all",
                                enable_idempotence=True, **as_admin())
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, "王府墳菜市場".encode(), key=b"case-1")
        partitions = await producer.partitions_for(topic)
    finally:
        await producer.stop()
    assert len(partitions) == 3  # auto-created with num.partitions=3

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.bootstrap_servers,
                                group_id=namespace.group("roundtrip"),
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                **as_admin())
    await consumer.start()
    try:
        msg = await asyncio.wait_for(consumer.getone(), timeout=60)
    finally:
        await consumer.stop()
    assert (msg.key, msg.value) == (b"case-1", "王府墳菜市場".encode())
    assert (msg.partition, msg.offset) == (sent.partition, sent.offset)


async def test_store_insert_and_read(stack: StackInfo, namespace: Namespace) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url)
    try:
        cases = client[namespace.db_name]["cases"]
        await cases.insert_one({"_id": "case-1", "title": "紅綠燈何時能點亮", "events": 1})
        await cases.update_one({"_id": "case-1"}, {"$inc": {"events": 2}})
        doc = await cases.find_one({"_id": "case-1"})
        assert doc == {"_id": "case-1", "title": "紅綠燈何時能點亮", "events": 3}
        assert namespace.db_name in await client.list_database_names()
    finally:
        await client.close()


async def test_store_finds_documents_by_id_through_the_index(local_stack: StackInfo,
                                                            namespace: Namespace) -> None:
    """Every read model and write model here looks documents up by `_id`: without the index
    (stock FerretDB 1.24 on SQLite, see infra.FERRETDB_FIXES) each lookup scans the collection."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(local_stack.mongo_url)
    try:
        db = client[namespace.db_name]
        await db["cases"].insert_many([{"_id": f"ZB261006-{n:04d}", "n": n} for n in range(50)])
        answer = await db.command("explain", {"find": "cases", "filter": {"_id": "ZB261006-0042"}})
        plan = " ".join(answer["queryPlanner"]["Plan"])
        assert "USING INDEX" in plan and "SCAN" not in plan.replace("SEARCH", ""), plan
        assert await db["cases"].find_one({"_id": "ZB261006-0042"}) == {"_id": "ZB261006-0042",
                                                                        "n": 42}
    finally:
        await client.drop_database(namespace.db_name)  # `namespace` cleans `stack`'s store
        await client.close()


async def test_services_learn_that_lookups_by_id_are_indexed_even_before_a_collection_exists(
        stack: StackInfo, namespace: Namespace) -> None:
    """Read models choose one lookup per key (indexed) or one query for a batch (scan) by
    this; a wrong answer made tracking four times slower."""
    from services.common.store import traits_of

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url)
    try:
        traits = await traits_of(client[namespace.db_name]["not_yet"])
        assert traits.indexed_id_lookups
        assert traits.ferretdb == (stack.mode == "local")
    finally:
        await client.close()


def test_second_ensure_up_is_a_noop(local_stack: StackInfo) -> None:
    stack = local_stack
    first = infra.ensure_up()
    again = infra.ensure_up()
    assert again.started == ()
    assert (again.kafka_pid, again.store_pid) == (first.kafka_pid, first.store_pid)
    assert (again.bootstrap_servers, again.mongo_url) == (stack.bootstrap_servers,
                                                          stack.mongo_url)
    rows = {row.name: row for row in infra.status()}
    assert rows["kafka"].running and rows["kafka"].pid == again.kafka_pid
    assert rows["ferretdb"].running and rows["ferretdb"].pid == again.store_pid
    assert stack.kafka_version == "3.9.1" and stack.store_version == "v1.24.2"
    # the departments' TLS listener: its CA made once, the CA's key and the broker's keystore
    # readable by their owner only
    assert again.departments_ca_file == stack.departments_ca_file
    assert stack.departments_ca_file is not None and stack.departments_bootstrap is not None
    tls = stack.departments_ca_file.parent
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in tls.iterdir()} == {
        "ca.pem": 0o644, "ca-key.pem": 0o600, "broker.p12": 0o600, "broker.p12-password": 0o600}
    host, port = stack.departments_bootstrap.rsplit(":", 1)
    assert port_answers(host, int(port))


@pytest.fixture
def spare_store(local_stack: StackInfo, tmp_path: Path) -> StackSettings:
    """Settings for a second FerretDB in a temporary home (the shared one stays untouched;
    its binary, which `local_stack` provides, is shared)."""
    return private_settings(tmp_path)


def _client(settings: StackSettings) -> MongoClient[dict[str, Any]]:
    return MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000)


def test_store_stop_and_start_keep_the_data(spare_store: StackSettings) -> None:
    pid = infra.start("ferretdb", spare_store)
    try:
        with _client(spare_store) as client:
            client["zt_spare"]["c"].insert_one({"_id": 1, "n": 1})
        assert infra.stop("store", spare_store) is True
        assert infra.stop("store", spare_store) is False
        assert not spare_store.pid_file("ferretdb").exists()
        states = {row.name: row.state for row in infra.status(spare_store)}
        assert states == {"kafka": "stopped", "ferretdb": "stopped"}

        new_pid = infra.start("ferretdb", spare_store)
        assert new_pid != pid
        with _client(spare_store) as client:
            assert client["zt_spare"]["c"].find_one({"_id": 1}) == {"_id": 1, "n": 1}
    finally:
        infra.stop("ferretdb", spare_store)


def test_taken_port_is_a_clear_error(spare_store: StackSettings) -> None:
    # the shared store listens there, but it was not started from this home
    taken = StackSettings(home=spare_store.home, store_port=StackSettings.from_env().store_port)
    with pytest.raises(infra.InfraError, match=r"port 127\.0\.0\.1:\d+ is taken"):
        infra.start("ferretdb", taken)


async def test_a_private_broker_restart_keeps_the_log(private_stack: PrivateStack) -> None:
    bootstrap = private_stack.info.bootstrap_servers
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **as_admin())
    await producer.start()
    try:
        sent = await producer.send_and_wait("infra.restart", b"before", key=b"case-9")
    finally:
        await producer.stop()

    old_pid = private_stack.info.kafka_pid
    info = await asyncio.to_thread(private_stack.restart_kafka)
    assert info.started == ("kafka",) and info.kafka_pid != old_pid

    consumer = AIOKafkaConsumer("infra.restart", bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                **as_admin())
    await consumer.start()
    try:
        msg = await asyncio.wait_for(consumer.getone(), timeout=60)
    finally:
        await consumer.stop()
    assert (msg.key, msg.value, msg.offset) == (b"case-9", b"before", sent.offset)


async def test_a_fresh_broker_is_ready_once_it_names_group_coordinators(
        private_stack: PrivateStack) -> None:
    """A new broker has no __consumer_offsets until a client asks for a coordinator; `up`
    waits for one, so the platform's first consumers do not log GroupCoordinatorNotAvailable."""
    client = AIOKafkaClient(bootstrap_servers=private_stack.info.bootstrap_servers,
                            **as_admin())
    await client.bootstrap()
    try:
        for group in ("zaiban-intake", "zaiban-routing", "zaiban-tracking", "zaiban-metrics"):
            assert await client.coordinator_lookup(CoordinationType.GROUP, group) == 1
    finally:
        await client.close()


def test_a_storage_formatted_without_the_admins_credential_is_formatted_again_loudly(
        local_stack: StackInfo, tmp_path: Path) -> None:
    """A broker formatted by an older zaiban has no SCRAM user: its admin could never log in.
    Its storage (local data only) is formatted again, and `zaiban infra up` says so."""
    settings = private_settings(tmp_path)
    try:
        infra.start("kafka", settings)
        infra.stop("kafka", settings)
        (settings.kafka_dir / "admin-credential.sha256").unlink()  # as an older zaiban left it
        left = settings.kafka_dir / "data" / "left-by-an-older-zaiban"
        left.write_text("a topic's data")

        said = io.StringIO()
        infra.start("kafka", settings, console=Console(file=said, width=400))
        assert "was formatted without authentication (by an older zaiban): formatting it " \
               "again" in said.getvalue()
        assert "are gone (local data only)" in said.getvalue()
        assert not left.exists()

        async def brokers() -> list[object]:
            client = AIOKafkaClient(bootstrap_servers=settings.bootstrap_servers, **as_admin())
            await client.bootstrap()
            try:
                return list(client.cluster.brokers())
            finally:
                await client.close()

        assert len(asyncio.run(brokers())) == 1  # the admin logs in to the new storage
    finally:
        infra.down(settings)
