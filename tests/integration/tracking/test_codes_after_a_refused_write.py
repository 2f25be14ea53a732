"""A resident's tracking code survives a write the store refused halfway through a batch (its
disk full, say): the batch comes again, and every case projected can be found by its code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure
from stackfixtures import Namespace
from unit.tracking.tracking_stories import submitted

from services.common.store import store_trouble
from services.lifecycle.history import History
from services.tracking.store import CODES_COLLECTION, COLLECTION, TimelineStore, view_of
from zaiban.infra import StackInfo

FULL = OperationFailure("database or disk is full (13)", 1)


class FullOnce:
    """The store's disk fills once, as the next write to this collection is made."""

    def __init__(self, real: AsyncCollection[dict[str, Any]]) -> None:
        self.real = real
        self.full = True

    async def insert_many(self, *args: Any, **kwargs: Any) -> Any:
        if self.full:
            self.full = False
            raise FULL
        return await self.real.insert_many(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
async def db(stack: StackInfo, namespace: Namespace) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url)
    try:
        yield client[namespace.db_name]
    finally:
        await client.close()


@pytest.mark.parametrize("refused", [COLLECTION, CODES_COLLECTION])
async def test_a_batch_refused_halfway_leaves_no_case_without_its_code(db: Any,
                                                                        refused: str) -> None:
    store = TimelineStore(db[COLLECTION])
    if refused == COLLECTION:
        store.collection = FullOnce(store.collection)  # type: ignore[assignment]
    else:
        store.codes = FullOnce(store.codes)  # type: ignore[assignment]
    at = datetime.now(UTC)
    case_ids = [f"ZB261201-CODE-{n:04d}" for n in range(3)]
    envelopes = [e for case_id in case_ids
                 for e in History(case_id).given(at, submitted(case_id)).envelopes]

    with pytest.raises(OperationFailure) as first:
        await store.project(envelopes)
    assert store_trouble(first.value) is not None  # the consumer waits, then redelivers
    await store.project(envelopes)

    for case_id in case_ids:
        view = view_of(await db[COLLECTION].find_one({"_id": case_id}))
        assert view is not None and view.tracking_code_hash
        code_hash = view.tracking_code_hash
        assert await store.case_for_code_hash(code_hash) == case_id
