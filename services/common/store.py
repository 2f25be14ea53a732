"""The document store: PyMongo's async client, one database per service.

Code here stays within what both MongoDB and FerretDB support: single-document
atomic updates, no multi-document transactions, no change streams, simple
aggregation. Read models are written idempotently instead.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, CollectionInvalid, OperationFailure
from pymongo.read_concern import ReadConcern

from services.common.settings import CommonSettings

IndexSpec = tuple[list[tuple[str, int]], str]
"""An index's keys and its name."""


class Unavailable(Exception):
    """The store cannot take this right now (not a rule of the case): nothing was recorded,
    and trying again shortly may succeed. The HTTP edge answers 503 with Retry-After."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


async def store_time(client: AsyncMongoClient[dict[str, Any]]) -> datetime:
    """The store's own time, to the millisecond (`hello`'s `localTime`, which MongoDB and
    FerretDB both give): the authority the services' clocks are kept to
    (services/common/clock.py)."""
    answer = await client.admin.command("hello")
    moment = answer["localTime"]
    if not isinstance(moment, datetime):
        raise TypeError(f"the store's hello gave no localTime: {sorted(answer)}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StoreTraits:
    """What the document store behind a collection does well, for adapters that care.

    FerretDB 1.24 pushes only a filter that is exactly `{"_id": <string>}` down to its
    backend: any other filter, `$in` on `_id` included, reads and decodes every
    document of the collection. Nor is a filtered update atomic there (it reads, then
    writes). And on SQLite its `_id` index goes unused unless FerretDB is built with the
    lookup expression matching the index (`SCAN` in the plan instead of `SEARCH`).
    """

    ferretdb: bool
    indexed_id_lookups: bool

    @property
    def atomic_filtered_updates(self) -> bool:
        return not self.ferretdb


async def is_ferretdb(db: AsyncDatabase[dict[str, Any]]) -> bool:
    info = await db.client.admin.command("buildInfo")
    return "ferretdbVersion" in info


async def create_query_indexes(collection: AsyncCollection[dict[str, Any]],
                               indexes: Sequence[IndexSpec]) -> None:
    """Create the indexes that serve queries on fields other than `_id` — where the store
    reads them. FerretDB 1.24 pushes no filter but `{"_id": <string>}` down to its backend,
    so there such an index is never read, only kept up on every write: it is left out."""
    if await is_ferretdb(collection.database):
        return
    for keys, name in indexes:
        await collection.create_index(keys, name=name)


async def traits_of(collection: AsyncCollection[dict[str, Any]]) -> StoreTraits:
    """The traits of the store behind `collection` (created if missing: its plan is asked,
    and FerretDB plans a lookup in a missing collection as a scan)."""
    if not await is_ferretdb(collection.database):
        return StoreTraits(ferretdb=False, indexed_id_lookups=True)
    try:
        await collection.database.create_collection(collection.name)
    except CollectionInvalid:
        pass  # it exists
    try:
        plan = await collection.database.command(
            {"explain": {"find": collection.name, "filter": {"_id": "-"}},
             "verbosity": "queryPlanner"})
        indexed = "USING INDEX" in json.dumps(plan.get("queryPlanner", {}), default=str)
    except OperationFailure:
        indexed = False
    return StoreTraits(ferretdb=True, indexed_id_lookups=indexed)


async def find_by_ids(collection: AsyncCollection[dict[str, Any]], ids: Sequence[Any],
                      projection: dict[str, Any] | None = None) -> dict[Any, dict[str, Any]]:
    """The documents of `ids` that exist, by `_id`: one exact lookup each, all at once.
    FerretDB 1.24 answers `_id` equality from its index but scans the whole collection for
    `$in`, `$or` or a range of `_id` (its explain says SCAN), so a set of known `_id`s is
    read as that many lookups; the client's pool runs them side by side."""
    found = await asyncio.gather(*(collection.find_one({"_id": key}, projection)
                                   for key in ids))
    return {doc["_id"]: doc for doc in found if doc is not None}


DUPLICATE_KEY = 11000
"""The server's code for an insert whose `_id` (or unique key) is taken."""


async def insert_new(collection: AsyncCollection[dict[str, Any]],
                     documents: Sequence[dict[str, Any]]) -> set[Any]:
    """Insert `documents`, each once: those whose `_id` is taken stay as they are (a
    redelivery, a replay, a second writer). The `_id`s that were there already; any other
    write error is raised."""
    if not documents:
        return set()
    try:
        await collection.insert_many(list(documents), ordered=False)
    except BulkWriteError as error:
        failures = error.details.get("writeErrors", [])
        if any(failure.get("code") != DUPLICATE_KEY for failure in failures):
            raise
        return {documents[failure["index"]]["_id"] for failure in failures}
    return set()
