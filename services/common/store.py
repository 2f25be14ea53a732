"""The document store: PyMongo's async client, one database per service.

Code here stays within what both MongoDB and FerretDB support: single-document
atomic updates, no multi-document transactions, no change streams, simple
aggregation. Read models are written idempotently instead.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import bson
from bson.codec_options import CodecOptions
from prometheus_client import Counter
from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    CollectionInvalid,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
)
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)
from pymongo.read_concern import ReadConcern

from services.common.settings import CommonSettings

IndexSpec = tuple[list[tuple[str, int]], str]
"""An index's keys and its name."""


RETRY_AFTER_S = 5
"""What a client is told to wait (Retry-After) when the store or the broker is away."""


class Unavailable(Exception):
    """The store cannot take this right now (not a rule of the case): nothing was recorded,
    and trying again shortly may succeed. The HTTP edge answers 503 with Retry-After."""

    def __init__(self, reason: str, retry_after_s: int = RETRY_AFTER_S) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


OUT_OF_SPACE = "the store is out of disk space and cannot record this now; try again later"
BUSY = "the store is busy; try again shortly"
AWAY = "the store cannot be reached right now; try again shortly"
OUT_OF_SPACE_RETRY_S = 30
"""A full disk waits for an operator (or a clean-up): no point asking again within seconds."""

# How each server says its disk is full: SQLite (FerretDB's SQLite backend) answers
# SQLITE_FULL, "database or disk is full (13)", as an InternalError; MongoDB says
# OutOfDiskSpace (14031) or passes on ENOSPC; PostgreSQL (FerretDB's other backend) says
# "could not extend file" (SQLSTATE 53100, disk_full).
_FULL_MARKERS = ("database or disk is full", "sqlite_full", "no space left on device",
                 "outofdiskspace", "could not extend file", "53100")
_FULL_CODES = {14031}
_BUSY_MARKERS = ("sqlite_busy", "database is locked")


def store_trouble(error: BaseException) -> Unavailable | None:
    """The store could not take a read or a write for a while, not for what was asked: why,
    as an `Unavailable` to answer or wait on (its disk is full, it is busy, it is away); None
    for any other error (a refusal of this request, or a bug)."""
    if isinstance(error, Unavailable):
        return error
    if isinstance(error, OperationFailure):
        text = f"{error} {error.details or ''}".lower()
        if error.code in _FULL_CODES or any(marker in text for marker in _FULL_MARKERS):
            return Unavailable(OUT_OF_SPACE, OUT_OF_SPACE_RETRY_S)
        if any(marker in text for marker in _BUSY_MARKERS):
            return Unavailable(BUSY)
        return None
    if isinstance(error, ConnectionFailure):  # timeouts of server selection and sockets too
        return Unavailable(AWAY)
    return None


def report_failure(log: Any, event: str, error: Exception, **fields: Any) -> None:
    """Log, on `log`, a failure of work that will be tried again: a store that cannot take it
    now (away, busy, out of disk space) is a warning with the reason, not an error per try;
    anything else an error with its traceback (call it where the error is handled)."""
    trouble = store_trouble(error)
    if trouble is None:
        log.exception(event, **fields)
    else:
        log.warning(event, reason=trouble.reason, error=str(error)[:300], **fields)


WRITES_REFUSED_S = 15.0
"""How long one refused write keeps a service "not ready": its consumers try again well
within this (bus.RETRY_PAUSE_MAX_S), so readiness stays down exactly while they fail."""


class WriteHealth:
    """Whether a service's consumers can write to the store: each tells after each try, under
    its own name, and /readyz asks. The store answers a ping on a full disk, so the ping
    alone says nothing of it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._refused: dict[str, tuple[float, str]] = {}
        """Consumer → when its last try was refused, and why."""

    def refused(self, trouble: Unavailable, by: str = "") -> None:
        self._refused[by] = (self._clock(), trouble.reason)

    def wrote(self, by: str = "") -> None:
        self._refused.pop(by, None)

    @property
    def reason(self) -> str | None:
        """Why a consumer's writes are refused now (None: they go through)."""
        now = self._clock()
        return next((why for at, why in self._refused.values()
                     if now - at <= WRITES_REFUSED_S), None)

    @property
    def ok(self) -> bool:
        return self.reason is None


STORE_COMMANDS = Counter(
    "zaiban_store_commands_total",
    "Commands sent to the document store (each a round trip), by database, command and "
    "collection", ["database", "command", "collection"])


class CountedCommands(CommandListener):
    """Counts every command a client sends (`STORE_COMMANDS`, on /metrics): what a unit of
    work costs the store, in round trips, whatever the machine's noise (`bench lifecycle`
    reports it per case)."""

    def started(self, event: CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        STORE_COMMANDS.labels(event.database_name, event.command_name,
                              target if isinstance(target, str) else "").inc()

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


def make_client(settings: CommonSettings) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        settings.mongo_url,
        serverSelectionTimeoutMS=3000,
        connectTimeoutMS=3000,
        tz_aware=True,
        appname="zaiban",
        event_listeners=[CountedCommands()],
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


async def ensure_collections(db: AsyncDatabase[dict[str, Any]], names: Sequence[str]) -> None:
    """Create the collections `names` that do not exist yet — at a service's start, while the
    store has room. FerretDB 1.24 on SQLite creates a collection in two steps (the table, then
    its metadata row, each committed alone): on a full disk the second fails and so does its
    undoing (DROP TABLE), which leaves a table no collection owns, and every later write to
    that collection then fails ("table ... already exists"), even once space is back."""
    existing = set(await db.list_collection_names())
    for name in names:
        if name not in existing:
            try:
                await db.create_collection(name)
            except CollectionInvalid:
                pass  # another instance made it meanwhile


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


ROW = "row"
"""Where a document keeps the fields its lists read, packed (`pack_row`), when its writer packs
them: FerretDB 1.24 spends on each field of a document it reads or writes (a tracking
document of 28 fields cost it 1.26 ms a replacement, the same case in 4 fields, its row
packed and its view compressed, 0.65 ms; its 27 fields without the view, 685 bytes, still
1.00 ms: measured), and fields that only lists in memory read need not be the store's to
see."""
_ROW_CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=UTC)


def pack_row(fields: dict[str, Any]) -> bytes:
    """`fields` as one value for the store (BSON bytes: dates and numbers keep their types)."""
    return bson.encode(fields)


def unpack_row(document: dict[str, Any]) -> dict[str, Any]:
    """The document with its packed row (`ROW`) spread among its fields; a document without one
    as it is."""
    packed = document.get(ROW)
    if packed is None:
        return document
    fields = {name: value for name, value in document.items() if name != ROW}
    fields.update(bson.decode(packed, _ROW_CODEC))
    return fields


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


async def upsert_raced(upsert: Callable[[], Awaitable[object]]) -> None:
    """Run `upsert` (a write by `_id` that makes the document if there is none), whoever else
    makes the same document at the same moment. FerretDB's upsert reads, then inserts: of two
    writers making one document, the second is refused as a duplicate key; the document
    exists then, and the write goes again."""
    try:
        await upsert()
    except DuplicateKeyError:
        await upsert()


async def upsert_one(collection: AsyncCollection[dict[str, Any]], key: Any,
                     update: dict[str, Any]) -> None:
    """Apply `update` to the document `key`, made if there is none (`upsert_raced`)."""
    await upsert_raced(lambda: collection.update_one({"_id": key}, update, upsert=True))
