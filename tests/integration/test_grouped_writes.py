"""Group commit on the real store: concurrent callers share one command, yet each learns its
own document's fate — the duplicate key that makes the write model's compare-and-set."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import WriteError

from services.common.grouped import GroupedWrites


async def test_of_racing_inserts_of_one_key_exactly_one_wins(
        namespace_db: AsyncDatabase[dict[str, Any]]) -> None:
    claims = namespace_db["claims"]
    grouped = GroupedWrites(claims)
    await claims.insert_one({"_id": "ZB-1#00000001", "by": "earlier"})
    # 40 commands at once: 20 race for ZB-1#2, 19 claim a key each, one repeats ZB-1#1
    keys = ["ZB-1#00000002"] * 20 + [f"ZB-{n}#00000001" for n in range(2, 21)] + ["ZB-1#00000001"]
    outcomes = await asyncio.gather(*(grouped.insert({"_id": key, "by": f"command-{i}"})
                                      for i, key in enumerate(keys)))
    assert outcomes[:20].count(True) == 1
    assert all(outcomes[20:39]) and outcomes[39] is False
    winner = outcomes.index(True)
    stored = {doc["_id"]: doc["by"] async for doc in claims.find({})}
    assert len(stored) == 21
    assert stored["ZB-1#00000002"] == f"command-{winner}"
    assert stored["ZB-1#00000001"] == "earlier"


async def test_a_lone_insert_and_grouped_deletes(namespace_db: AsyncDatabase[dict[str, Any]]) -> None:
    outbox = namespace_db["outbox"]
    grouped = GroupedWrites(outbox)
    assert await grouped.insert({"_id": "a"}) is True
    assert await grouped.insert({"_id": "a"}) is False
    await asyncio.gather(*(grouped.insert({"_id": k}) for k in "bcdef"))
    await asyncio.gather(*(grouped.delete(k) for k in "abcz"))
    assert sorted([doc["_id"] async for doc in outbox.find({})]) == ["d", "e", "f"]


@pytest.mark.parametrize(("write", "written"), [("insert", True), ("replace", None)])
async def test_a_document_the_store_refuses_fails_its_own_caller_only(
        namespace_db: AsyncDatabase[dict[str, Any]], write: str, written: bool | None) -> None:
    grouped = GroupedWrites(namespace_db["claims"])
    good, bad = await asyncio.gather(getattr(grouped, write)({"_id": "fine", "v": 1}),
                                     getattr(grouped, write)({"_id": "bad", "$v": 1}),
                                     return_exceptions=True)
    assert good is written
    assert isinstance(bad, WriteError), bad
    assert [doc["_id"] async for doc in namespace_db["claims"].find({})] == ["fine"]


async def test_grouped_replacements_write_each_document_and_the_last_asked_of_one_key(
        namespace_db: AsyncDatabase[dict[str, Any]]) -> None:
    """Snapshots are replaced by many commands at once: each lands, a new key is inserted,
    and of two replacements of one key in one command the later one asked for stays."""
    snapshots = namespace_db["snapshots"]
    grouped = GroupedWrites(snapshots)
    await snapshots.insert_many([{"_id": f"ZB-{n}", "version": 1} for n in range(5)])
    await asyncio.gather(*(grouped.replace({"_id": f"ZB-{n}", "version": 2}) for n in range(8)),
                         grouped.replace({"_id": "ZB-0", "version": 3}))
    stored = {doc["_id"]: doc["version"] async for doc in snapshots.find({})}
    assert stored == {"ZB-0": 3, **{f"ZB-{n}": 2 for n in range(1, 8)}}
    await grouped.replace({"_id": "ZB-1", "version": 4})  # a lone one: the plain command
    assert (await snapshots.find_one({"_id": "ZB-1"})) == {"_id": "ZB-1", "version": 4}

