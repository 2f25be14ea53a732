"""Group commit: single-document writes made at the same moment, sent as one command.

Under load many commands write to the same collection at once — a claim per
command, an outbox entry, a snapshot. One `insert_many` for all of them costs
the store one transaction and the service one round trip, instead of one of
each per document. Each caller still learns its own document's fate: inserted,
or refused as a duplicate key (the compare-and-set of the write model), or the
error that hit the whole batch. Replacements (a snapshot each) go the same way,
as one `update` command of many statements: one round trip, and one command for
the store to take apart, where each was one of each.

At most one command per collection is in flight; whatever arrives meanwhile
goes in the next one. A lone writer waits for nothing: its batch leaves on the
next turn of the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from pymongo import ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, WriteError

from services.common.store import DUPLICATE_KEY, upsert_raced
from services.common.tasks import for_everyone

MAX_BATCH = 256

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class _Queue(Generic[Item, Outcome]):
    """Items and their callers' futures; one flush at a time."""

    def __init__(self, flush: Callable[[list[Item]], Coroutine[Any, Any, list[Outcome]]]) -> None:
        self._flush = flush
        self._waiting: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._running: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._running is None or self._running.done():
            self._running = for_everyone(self._drain())
        return await future

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let writers made ready by the same event join
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                outcomes = await self._flush([item for item, _ in batch])
            except BaseException as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
                continue
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)


class GroupedWrites:
    """Inserts into, replacements in and deletes from one collection, grouped across
    concurrent callers."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection
        self._inserts: _Queue[dict[str, Any], Any] = _Queue(self._insert_many)
        self._replaces: _Queue[dict[str, Any], Any] = _Queue(self._replace_many)
        self._deletes: _Queue[Any, None] = _Queue(self._delete_many)

    async def insert(self, document: dict[str, Any]) -> bool:
        """Insert `document`; False when its `_id` exists already."""
        result = await self._inserts.submit(document)
        return bool(result)

    async def replace(self, document: dict[str, Any]) -> None:
        """Replace the document with `document`'s `_id`, or insert it (an upsert). Of two
        replacements of one `_id` in one command, the later one asked for is written."""
        await self._replaces.submit(document)

    async def delete(self, key: Any) -> None:
        """Delete the document with `_id` `key` (if there is one).

        Grouped deletes filter with `$in`, which FerretDB 1.24 answers by reading the whole
        collection: for small collections (an outbox), not for big ones."""
        await self._deletes.submit(key)

    async def _insert_many(self, documents: list[dict[str, Any]]) -> list[Any]:
        if len(documents) == 1:  # a lone writer: the plain command, and its plain errors
            try:
                await self.collection.insert_one(documents[0])
            except DuplicateKeyError:
                return [False]
            return [True]
        outcomes: list[Any] = [True] * len(documents)
        try:
            await self.collection.insert_many(documents, ordered=False)
        except BulkWriteError as error:
            for failure in error.details.get("writeErrors", []):
                index = failure["index"]
                outcomes[index] = False if failure.get("code") == DUPLICATE_KEY else \
                    WriteError(failure.get("errmsg", "write failed"), failure.get("code"), failure)
        return outcomes

    async def _replace_many(self, documents: list[dict[str, Any]]) -> list[Any]:
        latest = {document["_id"]: document for document in documents}
        if len(latest) == 1:  # a lone writer: the plain command, and its plain errors
            await self._upsert(documents[-1])
            return [None] * len(documents)
        try:
            await self.collection.bulk_write(
                [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in latest.values()],
                ordered=False)
            return [None] * len(documents)
        except ConnectionFailure:
            raise  # the store is away: every caller hears it
        except Exception:  # any refusal: each alone, to learn whose it was
            # FerretDB stops a command at its first failing statement (a document it refuses,
            # an upsert raced by another writer) and answers without the counts the driver
            # reads. A replacement written twice is the same document: each goes again alone.
            fates = await asyncio.gather(*(self._upsert(doc) for doc in latest.values()),
                                         return_exceptions=True)
        outcomes = dict(zip(latest, fates, strict=True))
        return [outcomes[document["_id"]] for document in documents]

    async def _upsert(self, document: dict[str, Any]) -> None:
        await upsert_raced(lambda: self.collection.replace_one(
            {"_id": document["_id"]}, document, upsert=True))

    async def _delete_many(self, keys: list[Any]) -> list[None]:
        if len(keys) == 1:
            await self.collection.delete_one({"_id": keys[0]})
        else:
            await self.collection.delete_many({"_id": {"$in": keys}})
        return [None] * len(keys)
