"""The lists in memory on the real stack: they answer what the store's own scan of the same
filter answers, and every instance lists every case, whichever instance projected it."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from helpers import client_for, eventually, publish_envelopes, running
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from servicefixtures import token
from stackfixtures import Namespace
from unit.tracking.tracking_stories import RING, accepted, day, routed, submitted

from contracts.facts import Role
from services.common.rowindex import NEWEST
from services.common.settings import CommonSettings
from services.composition import app_of, build
from services.lifecycle.history import History
from services.tracking import inbox
from services.tracking.store import TimelineStore, case_rows, document, literal_pattern
from services.tracking.timeline import CaseView, fold
from zaiban.infra import StackInfo

pytestmark = pytest.mark.stack

T0 = datetime(2026, 6, 1, tzinfo=UTC)
STATUSES = ("submitted", "accepted", "routed", "acknowledged", "resolved", "closed", "merged")
DISTRICTS = ("jinshui", "erqi", "zhongyuan", None)
DEPARTMENTS = ("signal-co", "water-co", "power-co", None)
WORDS = ("红绿灯", "路灯", "井盖", "暖气", "Bus", "3号线")


def random_document(rng: random.Random, n: int) -> dict[str, Any]:
    status = rng.choice(STATUSES)
    resolved = T0 + timedelta(days=rng.randrange(60)) if status in ("resolved", "closed") \
        and rng.random() < 0.8 else None
    text = "，".join(rng.choice(WORDS) + rng.choice(("坏了", "不亮", "很久了", " late")) for _ in
                    range(rng.randrange(1, 4)))
    return {
        "_id": f"ZB2606{n:02d}-RAND-{n:04d}", "seq": rng.randrange(1, 9), "status": status,
        "open": status not in ("closed", "merged"), "category": rng.choice(("signal", "road")),
        "district": rng.choice(DISTRICTS), "channel": rng.choice(("web", "hotline")),
        "department": rng.choice(DEPARTMENTS),
        "assisting": rng.sample(("water-co", "power-co", "gas-co"), rng.randrange(3)),
        "priority": rng.choice(("normal", "urgent")), "overdue": rng.random() < 0.2,
        "escalated": rng.random() < 0.2, "disputed": rng.random() < 0.1,
        # ties on the time on purpose: the order must fall back to the case number
        "submitted_at": T0 + timedelta(hours=rng.randrange(200)),
        "updated_at": T0, "due_at": None, "resolved_at": resolved,
        "deadline": rng.choice((inbox.NO_DEADLINE, T0 + timedelta(days=rng.randrange(9)))),
        "late": rng.random() < 0.3, "handler": rng.choice((None, "h1", "h2")),
        "reporter": rng.choice((None, "r1")), "text": text, "public_text": text,
        **({"lat": 34.7 + rng.random() / 10, "lon": 113.6 + rng.random() / 10}
           if rng.random() < 0.6 else {}),
    }


def random_selector(rng: random.Random) -> dict[str, Any]:
    """A filter of the kinds the lists write: equalities, sets, flags, periods, boxes, words."""
    parts: dict[str, Any] = {}
    for _ in range(rng.randrange(0, 4)):
        kind = rng.randrange(9)
        if kind == 0:
            parts["status"] = {"$in": rng.sample(STATUSES, rng.randrange(1, 4))}
        elif kind == 1:
            parts["district"] = rng.choice(DISTRICTS)
        elif kind == 2:
            department = rng.choice(DEPARTMENTS[:3])
            parts["$and"] = [{"$or": [{"department": department}, {"assisting": department}]}]
        elif kind == 3:
            parts[rng.choice(("overdue", "escalated", "disputed", "open", "late"))] = \
                rng.random() < 0.5
        elif kind == 4:
            start = T0 + timedelta(hours=rng.randrange(150))
            parts["submitted_at"] = {"$gte": start, "$lt": start + timedelta(hours=48)}
        elif kind == 5:
            parts["lat"] = {"$gte": 34.72, "$lte": 34.78}
            parts["lon"] = {"$gte": 113.6, "$lte": 113.68}
        elif kind == 6:
            word = rng.choice(WORDS)
            parts["$or"] = [{"$and": [{"public_text": {"$regex": literal_pattern(word),
                                                       "$options": "i"}}]},
                            {"_id": word}]
        elif kind == 7:
            parts["resolved_at"] = {"$gte": datetime(1970, 1, 1, tzinfo=UTC)}
        else:
            parts["status"] = {"$nin": ["closed", "merged"]}
    return parts


@pytest.fixture
async def scratch(stack: StackInfo, namespace: Namespace
                  ) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url)
    try:
        yield client[namespace.db_name]["rows_against_store"]
    finally:
        await client.close()


async def test_the_rows_answer_every_filter_as_the_store_scans_it(
        scratch: AsyncCollection[dict[str, Any]]) -> None:
    rng = random.Random(21)
    documents = [random_document(rng, n) for n in range(240)]
    await scratch.insert_many(documents)
    rows = case_rows()
    async for stored in scratch.find({}):  # as the follower loads them: back from the store
        rows.put(stored)
    orders = (NEWEST, tuple(inbox.SORT), (("resolved_at", -1), ("_id", -1)),
              (("resolved_at", 1), ("district", -1), ("_id", 1)))
    compared = 0
    for _ in range(70):
        selector = random_selector(rng)
        order = rng.choice(orders)
        expected = [d["_id"] async for d in scratch.find(selector, projection={"_id": 1})
                    .sort(list(order))]
        found = rows.find(selector, sort=order, limit=1000)
        assert found.ids == expected, selector
        assert found.total == len(expected) == rows.count(selector)
        page = rows.find(selector, sort=order, limit=5, skip=3)
        assert page.ids == expected[3:8]
        compared += len(expected)
    assert compared > 500  # the filters found something to compare


def story(case_id: str, routed_to: str | None = None) -> History:
    found = History(case_id).given(day("10-06", 9), submitted(case_id))
    if routed_to:
        found.given(day("10-06", 10), accepted()).given(
            day("10-06", 11), routed(routed_to, day("10-20")))
    return found


async def test_every_instance_lists_the_cases_another_projected(
        settings: CommonSettings) -> None:
    """Two instances share the partitions; each answers for all the cases, and follows
    their changes, though it projected only some."""
    first, second = build("tracking", settings), build("tracking", settings)
    officer = token(Role.OFFICER)
    async with running(first, second), client_for(app_of(first)) as one, \
            client_for(app_of(second)) as other:
        cases = [story(f"ZB261006-INST-{n:04d}") for n in range(12)]
        await publish_envelopes(settings, [e for s in cases for e in s.envelopes], keys=RING)

        async def listed(http: httpx.AsyncClient, **params: Any) -> set[str]:
            answer = await http.get("/api/staff/cases", headers=officer,
                                    params={"limit": 100, **params})
            assert answer.status_code == 200, answer.text
            return {row["case_id"] for row in answer.json()["items"]}

        ids = {s.case_id for s in cases}

        async def both_list_all() -> bool:
            return await listed(one, status="submitted") == ids == \
                await listed(other, status="submitted")

        await eventually(both_list_all, what="every case listed by both instances")
        moved = cases[:5]
        later = [story(s.case_id, routed_to="signal-co") for s in moved]
        await publish_envelopes(settings, [e for s in later for e in s.envelopes[1:]], keys=RING)

        async def both_see_the_moves() -> bool:
            wanted = {s.case_id for s in moved}
            return await listed(one, status="routed") == wanted == \
                await listed(other, status="routed")

        await eventually(both_see_the_moves, what="both instances list the routed cases")

        # a third instance starts from where the group is, not from the start of the log
        follower = second.store.follower
        assert follower is not None
        committed = await follower._committed()
        assert committed and sum(committed.values()) >= len(cases)


def view(case_id: str, routed_to: str | None = None) -> CaseView:
    folded = fold(None, story(case_id, routed_to).envelopes)
    assert folded is not None
    return folded


async def test_a_kept_view_is_read_again_once_its_row_moved_on(
        scratch: AsyncCollection[dict[str, Any]]) -> None:
    """The lists keep the views they showed last, but never one older than its case's row."""
    store = TimelineStore(scratch, kept_views=2)
    first = view("ZB261006-KEPT-0001")
    later = view("ZB261006-KEPT-0001", routed_to="signal-co")
    others = [view(f"ZB261006-KEPT-000{n}") for n in (2, 3)]
    await scratch.insert_many([document(v) for v in (first, *others)])
    store.rows.put_all([document(v) for v in (first, *others)])
    assert [v.seq for v in await store.views([first.case_id])] == [first.seq]
    await scratch.replace_one({"_id": first.case_id}, document(later))
    # the row has not moved yet: the kept view is the one the list's filter saw
    assert [v.seq for v in await store.views([first.case_id])] == [first.seq]
    store.rows.put(document(later))
    assert [v.seq for v in await store.views([first.case_id])] == [later.seq]
    # two kept at most: the one listed longest ago is read again
    await store.views([v.case_id for v in others])
    await scratch.delete_one({"_id": first.case_id})
    assert await store.views([first.case_id, *(v.case_id for v in others)]) == others


async def test_the_lists_stay_whole_as_partitions_move_between_instances(
        settings: CommonSettings) -> None:
    """An instance alone leaves the whole log to its projection (its follower reads none of
    it); when a second instance takes some partitions, and when it stops and gives them back,
    every change is listed by every instance still running, whichever projected it."""
    first, second = build("tracking", settings), build("tracking", settings)
    officer = token(Role.OFFICER)
    cases = [story(f"ZB261006-MOVE-{n:04d}") for n in range(12)]
    ids = {s.case_id for s in cases}
    everywhere = set(range(settings.topic_partitions))

    async def listed(http: httpx.AsyncClient, **params: Any) -> set[str]:
        answer = await http.get("/api/staff/cases", headers=officer,
                                params={"limit": 100, **params})
        assert answer.status_code == 200, answer.text
        return {row["case_id"] for row in answer.json()["items"]}

    def left(service: Any) -> set[int]:
        assert service.store.follower is not None
        return set(service.store.follower.left_to_projection)

    async def route(moved: list[History]) -> None:
        later = [story(s.case_id, routed_to="signal-co") for s in moved]
        await publish_envelopes(settings, [e for s in later for e in s.envelopes[1:]], keys=RING)

    async with running(first), client_for(app_of(first)) as one:
        await publish_envelopes(settings, [e for s in cases for e in s.envelopes], keys=RING)

        async def all_listed() -> bool:
            return await listed(one, status="submitted") == ids

        await eventually(all_listed, what="every case listed")

        async def alone() -> bool:
            return left(first) == everywhere

        await eventually(alone, what="the instance alone reads none of the log in its follower")
        await route(cases[:3])  # projected here, not read by the follower

        async def routed_here() -> bool:
            return await listed(one, status="routed") == {s.case_id for s in cases[:3]}

        await eventually(routed_here, what="the first three routed")
        assert first.store.follower is not None
        read_before = first.store.follower.records_read

        async with running(second), client_for(app_of(second)) as other:
            async def taken() -> bool:
                return bool(left(second))

            await eventually(taken, what="the second instance projecting some partitions")
            # the partitions resumed past what the first's projection had written: its
            # follower did not read again the events it had left to it
            assert first.store.follower.records_read == read_before
            await route(cases[3:6])

            async def both_see_the_moves() -> bool:
                wanted = {s.case_id for s in cases[:6]}
                return await listed(one, status="routed") == wanted == \
                    await listed(other, status="routed")

            await eventually(both_see_the_moves, what="both instances list the routed cases")
            # each follows what the other holds
            assert not left(first) & left(second) and left(first) | left(second) == everywhere

        await route(cases[6:])  # the second stopped: its partitions back with the first

        async def all_routed() -> bool:
            return await listed(one, status="routed") == ids

        await eventually(all_routed, what="the first lists every case routed")
        await eventually(alone, what="the first alone again leaves the whole log to its projection")
