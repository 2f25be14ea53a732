"""Upserts on the real store: writers making one document at the same moment are not refused
(`store.upsert_one`). FerretDB's upsert reads, then inserts, and refuses the second maker
as a duplicate key: intake's record of an erasure is made by the erasure's consumer and by
the fold of its event, often together after a restart."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.common.store import upsert_one


async def test_writers_making_one_document_at_once_are_not_refused(
        namespace_db: AsyncDatabase[dict[str, Any]]) -> None:
    # (Not asserted: that every writer's fields survive. FerretDB 1.24's update reads, then
    # writes the whole document: two at once can each write over the other's field.)
    records = namespace_db["erasures"]
    for round_ in range(20):
        case_id = f"ZB-{round_}"
        await asyncio.gather(*(upsert_one(records, case_id, {"$set": {f"step{n}": n}})
                               for n in range(5)))
        stored = await records.find_one({"_id": case_id})
        assert stored is not None and any(f"step{n}" in stored for n in range(5))
