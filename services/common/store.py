"""The document store: PyMongo's async client, one database per service.

Code here stays within what both MongoDB and FerretDB support: single-document
atomic updates, no multi-document transactions, no change streams, simple
aggregation. Read models are written idempotently instead.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern

from services.common.settings import CommonSettings


def make_client(settings: CommonSettings) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        settings.mongo_url,
        serverSelectionTimeoutMS=3000,
        connectTimeoutMS=3000,
        tz_aware=True,
        appname="zaiban",
    )


def service_db(
    client: AsyncMongoClient[dict[str, Any]], settings: CommonSettings, service: str
) -> AsyncDatabase[dict[str, Any]]:
    if settings.write_concern_majority:
        return client.get_database(
            settings.database(service),
            write_concern=WriteConcern("majority"),
            read_concern=ReadConcern("majority"),
        )
    return client.get_database(settings.database(service))


async def ping(client: AsyncMongoClient[dict[str, Any]]) -> None:
    await client.admin.command("ping")
