"""Fixtures for tests that run zaiban's services on the real stack."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from helpers import TEST_SECRET, settings_for
from pymongo import AsyncMongoClient
from stackfixtures import CLEANUP_S, Namespace

from contracts.facts import Role
from services.common.auth import issue_token
from services.common.catalogue import load_city
from services.common.keys import KEYS_DATABASE
from services.common.settings import CommonSettings
from services.composition import SERVICES
from zaiban.kafka_security import Acl
from zaiban.topics import ensure_topics, grant_services, revoke


@pytest_asyncio.fixture(loop_scope="session")
async def settings(namespace: Namespace) -> AsyncIterator[CommonSettings]:
    """Settings pointing every service at this test's topics and databases: the topics made
    and the services' rights on them granted, as `zaiban topics ensure` does for a city."""
    async with settings_in(namespace) as given:
        yield given


@contextlib.asynccontextmanager
async def settings_in(namespace: Namespace) -> AsyncIterator[CommonSettings]:
    """`settings` for any scope: the namespace opened for the services, and afterwards their
    rights revoked and their databases dropped."""
    given = settings_for(namespace.bootstrap_servers, namespace.mongo_url, namespace.prefix,
                         namespace.db_name)
    granted = await open_namespace(given)
    try:
        yield given
    finally:
        with contextlib.suppress(Exception):  # best effort, as the topics: costs memory only
            await revoke(given, granted)
        # each service has its own database, <db_name>_<service>: drop them by name (listing
        # every database on a busy shared server is slow and can wait on others' locks)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            namespace.mongo_url, serverSelectionTimeoutMS=10_000)
        try:
            with contextlib.suppress(Exception):  # best effort too, as the namespace's
                async with asyncio.timeout(CLEANUP_S):
                    for service in (*SERVICES, KEYS_DATABASE):
                        await client.drop_database(f"{namespace.db_name}_{service}")
        finally:
            await client.close()


def token(role: Role, department: str | None = None, subject: str = "tester",
          coordinator: bool = False) -> dict[str, str]:
    """Authorization headers for a member of staff (`coordinator`: of their department)."""
    issued = issue_token(TEST_SECRET, subject, role, department, coordinator=coordinator)
    return {"Authorization": f"Bearer {issued}"}


async def open_namespace(settings: CommonSettings) -> list[Acl]:
    """The namespace's topics (the city's, as `zaiban topics ensure` makes them) and the
    services' ACLs on them; returns the ACLs, to be revoked afterwards. Nothing to grant on a
    broker that does not authenticate (ZAIBAN_TEST_STACK=containers)."""
    topics = ensure_topics(settings, [d.code for d in load_city(settings.config_dir).departments])
    if settings.kafka_security_protocol == "PLAINTEXT":
        await topics
        return []
    _, granted = await asyncio.gather(topics, grant_services(settings))  # an ACL may come first
    return granted
