"""The open-data service's store on the real stack, for the stories of this folder: `db`, the
namespace's database, as the service's own client opens it (aware datetimes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from stackfixtures import Namespace


@pytest.fixture
async def db(namespace: Namespace) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(namespace.mongo_url,
                                                                tz_aware=True)
    try:
        yield client[namespace.db_name]
    finally:
        await client.close()
