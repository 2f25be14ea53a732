"""Tracking keeps the views it wrote last and folds the next event of a case onto them without
reading the store. A case whose partition went to another instance and came back must not be
folded onto what this instance saw before: the events the other one projected meanwhile would
be lost from its timeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect
from stackfixtures import Namespace
from unit.tracking.tracking_stories import REFERENCE_STEPS, project, reference_case

from services.tracking.store import COLLECTION, WRITE_CHUNK, TimelineStore, view_of
from services.tracking.timeline import fold
from zaiban.infra import StackInfo


class CountedReads:
    """The collection, counting the reads of case documents."""

    def __init__(self, real: AsyncCollection[dict[str, Any]]) -> None:
        self.real = real
        self.reads = 0

    def find(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return self.real.find(*args, **kwargs)

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return await self.real.find_one(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
async def collection(stack: StackInfo, namespace: Namespace
                     ) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url)
    try:
        yield client[namespace.db_name][COLLECTION]
    finally:
        await client.close()


async def test_a_case_back_from_another_instance_keeps_every_step(
        collection: AsyncCollection[dict[str, Any]]) -> None:
    history = reference_case()
    steps = history.envelopes
    first, other = TimelineStore(collection), TimelineStore(collection)
    counted = CountedReads(collection)
    first.collection = counted  # type: ignore[assignment]

    await first.project(steps[0:1])
    await first.project(steps[1:2])
    await first.project(steps[2:3])
    assert counted.reads == 0  # each batch followed what this instance wrote last

    await other.project(steps[3:5])  # the partition went to another instance for a while
    await first.project(steps[5:])  # and came back to this one

    view = view_of(await collection.find_one({"_id": history.case_id}))
    assert view is not None and view.seq == len(steps)
    assert [entry.type for entry in view.timeline] == [t for t, _, _ in REFERENCE_STEPS]
    assert view == project(history)


async def test_a_redelivered_batch_is_not_applied_twice(
        collection: AsyncCollection[dict[str, Any]]) -> None:
    history = reference_case()
    steps = history.envelopes
    store = TimelineStore(collection)
    await store.project(steps[0:3])
    await store.project(steps[3:5])
    again = await store.project(steps[3:5])  # the commit was lost: the batch comes again

    assert again.changed == []
    view = view_of(await collection.find_one({"_id": history.case_id}))
    assert view is not None and view.seq == 5
    assert view == fold(None, steps[:5])


async def test_a_batch_another_instance_wrote_already_is_listed_here_too(
        collection: AsyncCollection[dict[str, Any]]) -> None:
    # a partition moved here after the instance before wrote past what it had committed: the
    # batch comes again here and finds its events written; this instance's lists must take
    # the case as the store holds it (its follower leaves the partition to this projection)
    history = reference_case()
    steps = history.envelopes
    before, here = TimelineStore(collection), TimelineStore(collection)
    await before.project(steps[0:1])
    assert (await here.project(steps[0:1])).changed == []
    assert here.rows.seq(history.case_id) == 1
    await before.project(steps[1:5])

    again = await here.project(steps[1:5])

    assert again.changed == []  # nothing written, nobody woken
    assert here.rows.seq(history.case_id) == 5
    stored = view_of(await collection.find_one({"_id": history.case_id}))
    assert stored is not None
    assert here.rows.rows[history.case_id]["status"] == stored.facts.status.value


class FailingWrite:
    """The collection, whose `failing`-th bulk write fails (the store gone for a moment)."""

    def __init__(self, real: AsyncCollection[dict[str, Any]], failing: int) -> None:
        self.real = real
        self.writes = 0
        self.failing = failing

    async def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
        self.writes += 1
        if self.writes == self.failing:
            raise AutoReconnect("the store went away")
        return await self.real.bulk_write(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


async def test_a_batch_of_many_cases_is_written_whole_and_again_after_a_failed_chunk(
        collection: AsyncCollection[dict[str, Any]]) -> None:
    # a case's documents are written a chunk of cases at a time, the next chunk made while
    # the one before is written: each case must end as the fold of all its events
    histories = [reference_case(f"ZB261006-MNY0-{n:04d}") for n in range(3 * WRITE_CHUNK + 7)]
    store = TimelineStore(collection)
    await store.project([h.envelopes[0] for h in histories])
    later = [e for h in histories for e in h.envelopes[1:4]]

    failing = FailingWrite(collection, failing=2)  # the second chunk's write fails
    store.collection = failing  # type: ignore[assignment]
    with pytest.raises(AutoReconnect):
        await store.project(later)
    store.collection = collection
    again = await store.project(later)  # the batch comes again

    first_chunk = {h.case_id for h in histories[:WRITE_CHUNK]}
    second_chunk = {h.case_id for h in histories[WRITE_CHUNK:2 * WRITE_CHUNK]}
    # the first chunk stood; the one that failed, and what came after it, are written now
    assert second_chunk <= set(again.changed) and not first_chunk & set(again.changed)
    for history in histories:
        view = view_of(await collection.find_one({"_id": history.case_id}))
        assert view is not None and view == fold(None, history.envelopes[:4]), history.case_id
        assert store.rows.seq(history.case_id) == 4
