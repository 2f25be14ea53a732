"""Fixtures for tests that run zaiban's services on the real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from helpers import TEST_SECRET, settings_for
from pymongo import AsyncMongoClient
from stackfixtures import Namespace

from contracts.facts import Role
from services.common.auth import issue_token
from services.common.keys import KEYS_DATABASE
from services.common.settings import CommonSettings
from services.composition import SERVICES


@pytest_asyncio.fixture(loop_scope="session")
async def settings(namespace: Namespace) -> AsyncIterator[CommonSettings]:
    """Settings pointing every service at this test's topics and databases."""
    yield settings_for(namespace.bootstrap_servers, namespace.mongo_url, namespace.prefix,
                       namespace.db_name)
    # each service has its own database, <db_name>_<service>: drop them by name (listing
    # every database on a busy shared server is slow and can wait on others' locks)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        namespace.mongo_url, serverSelectionTimeoutMS=10_000)
    try:
        for service in (*SERVICES, KEYS_DATABASE):
            await client.drop_database(f"{namespace.db_name}_{service}")
    finally:
        await client.close()


def token(role: Role, department: str | None = None, subject: str = "tester") -> dict[str, str]:
    """Authorization headers for a member of staff."""
    return {"Authorization": f"Bearer {issue_token(TEST_SECRET, subject, role, department)}"}
