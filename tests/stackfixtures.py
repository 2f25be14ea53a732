"""The real broker and store for tests: the `stack` and `namespace` fixtures.

One setting chooses where they come from, ``ZAIBAN_TEST_STACK``:

``local`` (default)
    the processes of ``zaiban infra`` (Apache Kafka in KRaft mode, FerretDB on SQLite), started
    on demand through :func:`zaiban.infra.ensure_up` and reused when they already run. Kafka
    authenticates (SASL/SCRAM) and authorises (ACLs) as a city's does: the session makes sure
    each service's principal exists, `settings` grants the services their rights on a test's
    topics, and tests' own raw reads and writes are the super user's (`helpers.as_admin`).
``containers``
    Kafka and MongoDB images through testcontainers (needs a container engine); that Kafka
    does not authenticate (ZAIBAN_KAFKA_SECURITY_PROTOCOL=PLAINTEXT for the session).

If the stack cannot be had, every test that needs it fails with the reason — never skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from zaiban import infra
from zaiban.infra import StackInfo, StackSettings

if TYPE_CHECKING:
    from contracts.topics import Topics

STACK_MODES = ("local", "containers")
KAFKA_IMAGE = os.environ.get("ZAIBAN_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:7.9.1")  # Kafka 3.9
MONGO_IMAGE = os.environ.get("ZAIBAN_TEST_MONGO_IMAGE", "mongo:7.0")
CLEANUP_S = 20.0
"""How long a test's namespace may take to be dropped (its database, its topics)."""


def stack_mode() -> str:
    mode = (os.environ.get("ZAIBAN_TEST_STACK") or "local").strip().lower()
    if mode not in STACK_MODES:
        pytest.fail(f"ZAIBAN_TEST_STACK={mode!r}: expected one of {', '.join(STACK_MODES)}",
                    pytrace=False)
    return mode


@contextlib.contextmanager
def container_stack() -> Iterator[StackInfo]:
    """Kafka (KRaft) and MongoDB containers for the session, stopped at its end."""
    try:
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.mongodb import MongoDbContainer
    except ImportError:  # testcontainers < 4.14
        from testcontainers.kafka import KafkaContainer
        from testcontainers.mongodb import MongoDbContainer

    kafka = (KafkaContainer(KAFKA_IMAGE).with_kraft()
             .with_env("KAFKA_NUM_PARTITIONS", "3")
             .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true"))
    os.environ["ZAIBAN_KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
    with kafka, MongoDbContainer(MONGO_IMAGE) as mongo:
        yield StackInfo(bootstrap_servers=kafka.get_bootstrap_server(),
                        mongo_url=mongo.get_connection_url(),
                        kafka_pid=None, store_pid=None,
                        kafka_version=KAFKA_IMAGE, store_version=MONGO_IMAGE,
                        mode="containers")


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    """The running broker and store: bootstrap servers, Mongo URL, versions (and local pids)."""
    if stack_mode() == "containers":
        with contextlib.ExitStack() as exits:
            try:
                info = exits.enter_context(container_stack())
            except Exception as exc:
                pytest.fail(f"the container stack could not be started: "
                            f"{type(exc).__name__}: {exc}", pytrace=False)
            yield info
        return
    yield _local_processes()


def _local_processes() -> StackInfo:
    try:
        info = infra.ensure_up()
    except infra.InfraError as exc:
        pytest.fail(f"the local stack (zaiban infra up) is not available: {exc}", pytrace=False)
    # each service's principal, with the password its clients will read (made if missing)
    from services.common.settings import CommonSettings
    from zaiban.infra.processes import run_async
    from zaiban.topics import ensure_users

    as_deployed = CommonSettings(environment="test", kafka_bootstrap=info.bootstrap_servers,
                                 kafka_credentials=info.kafka_credentials)
    run_async(lambda: ensure_users(as_deployed))
    return info


@pytest.fixture(scope="session")
def local_stack(stack: StackInfo) -> StackInfo:
    """The project's own local processes (`zaiban infra up`), whatever ZAIBAN_TEST_STACK says:
    tests about them, and private stacks (which share their jars and binary), need them.
    In local mode this is `stack`; unavailable → the test fails."""
    return stack if stack.mode == "local" else _local_processes()


@dataclass(frozen=True)
class Namespace:
    """One test's own corner of the shared stack: a topic prefix and a database."""

    token: str
    prefix: str  # topic prefix, e.g. "t1a2b3c4d5e."
    db_name: str  # database name, e.g. "zt_1a2b3c4d5e"
    bootstrap_servers: str
    mongo_url: str

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def topics(self) -> Topics:
        from contracts.topics import Topics

        return Topics(prefix=self.prefix)

    def group(self, name: str) -> str:
        """A consumer-group id inside the namespace."""
        return f"{self.prefix}{name}"


async def _delete_topics(bootstrap_servers: str, prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from helpers import as_admin

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000,
                                **as_admin())
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


@pytest_asyncio.fixture(loop_scope="session")
async def namespace(stack: StackInfo) -> AsyncIterator[Namespace]:
    """A unique topic prefix and database; the database and topics are dropped afterwards."""
    async with a_namespace(stack) as made:
        yield made


@pytest_asyncio.fixture(loop_scope="session")
async def namespace_db(stack: StackInfo,
                       namespace: Namespace) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """The namespace's database on the real store, through a client of the test's own."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url)
    try:
        yield client[namespace.db_name]
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def a_namespace(stack: StackInfo) -> AsyncIterator[Namespace]:
    """`namespace` for any scope: a fixture shared by a module's tests opens one with this."""
    token = uuid.uuid4().hex[:12]
    try:
        yield Namespace(token=token, prefix=f"t{token}.", db_name=f"zt_{token}",
                        bootstrap_servers=stack.bootstrap_servers, mongo_url=stack.mongo_url)
    finally:
        # best-effort, as the topics: a leftover database or topic costs disk, not correctness
        # (and a drop the store holds up must not hold up the suite)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            stack.mongo_url, serverSelectionTimeoutMS=10_000)
        try:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLEANUP_S):
                    await client.drop_database(f"zt_{token}")
        finally:
            await client.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLEANUP_S):
                await _delete_topics(stack.bootstrap_servers, f"t{token}.")


# ---- a private stack, for fault tests that stop and restart the broker or the store ----------


def private_settings(tmp_path: Path) -> StackSettings:
    """Settings for a second local stack under `tmp_path` (see `infra.private_settings`)."""
    return infra.private_settings(tmp_path / "zaiban-home")


@dataclass
class PrivateStack:
    """A stack of one's own, so that killing its broker disturbs no other test or engineer."""

    settings: StackSettings
    info: StackInfo
    disk: infra.SmallDisk | None = None
    """The store's small disk, for a stack made `on_a_small_disk`."""

    def stop(self, component: str) -> bool:
        return infra.stop(component, self.settings)

    def start(self, component: str) -> int:
        return infra.start(component, self.settings)

    def restart_kafka(self) -> StackInfo:
        self.info = infra.restart_kafka(self.settings)
        return self.info

    def restart_store(self) -> StackInfo:
        self.info = infra.restart_store(self.settings)
        return self.info

    def grow_store_disk(self, size_mb: int) -> None:
        """Give the store room again, in place (the store keeps running)."""
        assert self.disk is not None, "this private stack has no small disk"
        self.disk.grow(size_mb)


@contextlib.contextmanager
def running_private_stack(settings: StackSettings, *, store_disk_mb: int | None = None
                          ) -> Iterator[PrivateStack]:
    """The private stack of `settings`, started, handed over, then stopped; with
    `store_disk_mb`, the store's data on a tmpfs of that size (mounted before the store
    starts, unmounted after it stopped, however the block ends). A mount refused (not root)
    fails the test, saying why."""
    with contextlib.ExitStack() as exits:
        disk = None
        if store_disk_mb is not None:
            try:
                disk = exits.enter_context(infra.small_disk(settings.ferretdb_data_dir,
                                                            store_disk_mb))
            except infra.InfraError as exc:
                pytest.fail(f"the store's small disk could not be had: {exc}", pytrace=False)
        exits.callback(infra.down, settings)  # before the unmount: nothing holds its files
        try:
            info = infra.ensure_up(settings)
        except infra.InfraError as exc:
            pytest.fail(f"a private stack could not be started: {exc}", pytrace=False)
        yield PrivateStack(settings=settings, info=info, disk=disk)


def a_private_stack(tmp_path: Path, *, store_disk_mb: int | None = None
                    ) -> contextlib.AbstractContextManager[PrivateStack]:
    """A second Kafka + FerretDB on free ports under `tmp_path` (`running_private_stack`)."""
    return running_private_stack(private_settings(tmp_path), store_disk_mb=store_disk_mb)


@pytest.fixture
def private_stack(local_stack: StackInfo, tmp_path: Path) -> Iterator[PrivateStack]:
    """A second Kafka + FerretDB on free ports, stopped afterwards (in any stack mode: it is
    made of the local processes, whose jars and binary `local_stack` provides)."""
    with a_private_stack(tmp_path) as made:
        yield made


@pytest.fixture
def store_disk_mb() -> int:
    """The size of `small_disk_stack`'s store disk; a test module overrides this fixture."""
    return 32


@pytest.fixture
def small_disk_stack(local_stack: StackInfo, tmp_path: Path,
                     store_disk_mb: int) -> Iterator[PrivateStack]:
    """`private_stack` whose store keeps its data on a tmpfs of `store_disk_mb` MB: the store's
    disk fills for real, and `grow_store_disk` gives the space back."""
    with a_private_stack(tmp_path, store_disk_mb=store_disk_mb) as made:
        yield made
