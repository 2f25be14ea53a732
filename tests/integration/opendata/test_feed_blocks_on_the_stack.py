"""The feed's lines by blocks, on the real store: whatever the batches, the gaps in the log, a
restart, a redelivery or two writers at once, a page holds exactly the lines stored, each
once, and every block the projection completed is stored whole.

The store is driven as the open-data service drives it for each batch of records (its
lines inserted once, the partitions' progress, then the blocks they complete), with blocks
of four offsets so that a few records fill several.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.opendata import store as feed_store
from services.opendata.store import (
    BLOCKS,
    EVENTS,
    Cursor,
    FeedStore,
    StoredLine,
    block_id,
    block_lines,
)

Db = AsyncDatabase[dict[str, Any]]
START = datetime(2026, 10, 6, 1, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_store, "BLOCK", 4)


def line(partition: int, offset: int) -> StoredLine:
    at = START + timedelta(minutes=offset * 7 + partition * 3)
    return StoredLine(partition, offset, date(2026, 10, 6), at,
                      f'{{"position":"{partition}:{offset}"}}')


async def project(store: FeedStore, partition: int, offsets: list[int]) -> None:
    """One batch of records of `partition` (in log order), as the service projects it."""
    stored, _ = await store.insert([line(partition, offset) for offset in offsets])
    await store.projected({partition: offsets[-1]}, START)
    await store.seal({partition: (offsets[0], offsets[-1])}, stored)


async def every_page(store: FeedStore, limit: int) -> list[str]:
    """The feed from its start, page after page until an empty one: the lines' positions."""
    read: list[str] = []
    cursor = Cursor()
    while True:
        lines, cursor = await store.page(cursor, limit)
        if not lines:
            return read
        read += [f"{item.partition}:{item.offset}" for item in lines]


async def test_pages_hold_every_stored_line_once_whatever_the_batches_gaps_and_restarts(
        db: Db) -> None:
    one = FeedStore(db)
    await project(one, 0, [0, 1, 2, 3])
    await project(one, 0, [4, 6, 7])        # 5: a transaction's marker, inside a batch
    await project(one, 0, [8, 10])          # 9: between two batches
    await project(one, 1, [0, 1, 2])
    restarted = FeedStore(db)               # knows nothing of the block being filled
    await project(restarted, 0, [11, 12, 13])
    await project(restarted, 0, [8, 10, 11, 12, 13])  # redelivered after a stop
    other = FeedStore(db)                   # a second instance, the same records at once
    await asyncio.gather(project(restarted, 0, [14, 15, 16, 17]),
                         project(other, 0, [14, 15, 16, 17]))
    await project(one, 1, [3, 4, 6, 7, 8])

    stored = {doc["_id"] async for doc in db[EVENTS].find({})}
    expected = [f"{p}:{o}" for p, offsets in [(0, [0, 1, 2, 3, 4, 6, 7, 8, 10, 11, 12, 13, 14,
                                                    15, 16, 17]),
                                              (1, [0, 1, 2, 3, 4, 6, 7, 8])] for o in offsets]
    assert len(stored) == len(expected)
    # every complete block is stored whole, with exactly the lines of its offsets
    blocks = {doc["_id"]: [line.offset for line in block_lines(doc)]
              async for doc in db[BLOCKS].find({})}
    assert blocks == {block_id(0, 0): [0, 1, 2, 3], block_id(0, 1): [4, 6, 7],
                      block_id(0, 2): [8, 10, 11], block_id(0, 3): [12, 13, 14, 15],
                      block_id(1, 0): [0, 1, 2, 3], block_id(1, 1): [4, 6, 7]}
    # (0's 16..19 is not complete yet: its offsets are read one by one)
    by_time = sorted(expected, key=lambda key: line(*map(int, key.split(":"))).order)
    for limit in (1, 3, 5, 1000):
        assert await every_page(one, limit) == by_time, limit

    # a block lost (a stop before it was stored): its offsets are read one by one, and it is
    # stored again, the same
    await db[BLOCKS].delete_one({"_id": block_id(0, 2)})
    assert await every_page(FeedStore(db), 3) == by_time
    assert {doc["_id"]: [line.offset for line in block_lines(doc)]
            async for doc in db[BLOCKS].find({})} == blocks
    # and a reader resumes in the middle of a block
    lines, _ = await one.page(Cursor({0: 10, 1: 5}), 4)
    assert [f"{item.partition}:{item.offset}" for item in lines] == [
        key for key in by_time if key in {"0:11", "0:12", "0:13", "0:14", "1:6", "1:7", "1:8"}][:4]


async def test_a_redelivered_record_keeps_its_first_line_in_its_block(db: Db) -> None:
    store = FeedStore(db)
    await project(store, 0, [0, 1])
    changed = StoredLine(0, 1, date(2026, 10, 7), START, '{"position":"0:1","other":true}')
    stored, added = await store.insert([changed, line(0, 2), line(0, 3)])
    assert added == 2 and stored[0] == line(0, 1)
    await store.projected({0: 3}, START)
    await store.seal({0: (1, 3)}, stored)
    block = await db[BLOCKS].find_one({"_id": block_id(0, 0)})
    assert block is not None
    assert block_lines(block) == [line(0, o) for o in range(4)]


async def test_the_projection_learns_of_each_day_published_after_the_last_it_knew(
        db: Db) -> None:
    store = FeedStore(db)
    assert await store.last_published_day() is None
    await db["opendata_days"].insert_one({"_id": "2026-10-06"})
    assert await store.last_published_day() == date(2026, 10, 6)
    await db["opendata_days"].insert_many([{"_id": "2026-10-07"}, {"_id": "2026-10-08"}])
    assert await store.last_published_day() == date(2026, 10, 8)
    assert await FeedStore(db).last_published_day() == date(2026, 10, 8)
