"""The row index answers a list as the store would, and pages it stably while rows change."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from unit.tracking.tracking_stories import a_long_handling

from services.common.rowfollower import RowFollower, seq_of
from services.common.rowindex import (
    NEWEST,
    BadCursor,
    RowIndex,
    Unsupported,
    literal_of,
    matches,
    sort_key,
)
from services.tracking.store import literal_pattern

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
INBOX = [("late", -1), ("deadline", 1), ("_id", 1)]


def rows() -> RowIndex:
    return RowIndex(fields=("text", "deadline", "late"), keyed=("status", "district",
                                                                "assisting", "late"),
                    ranged=("resolved_at",), texts=("text",))


def doc(n: int, **fields: Any) -> dict[str, Any]:
    return {"_id": f"ZB-{n:04d}", "seq": 1, "status": "routed", "district": "jinshui",
            "assisting": [], "submitted_at": T0 + timedelta(hours=n), "text": f"第{n}号",
            "deadline": T0 + timedelta(days=30 - n % 7), "late": n % 5 == 0,
            "resolved_at": None, **fields}


def test_a_row_is_replaced_only_by_a_newer_one_and_leaves_nothing_behind() -> None:
    index = rows()
    assert index.put(doc(1, seq=3, status="routed"))
    assert not index.put(doc(1, seq=2, status="submitted"))  # a late re-read of an older write
    assert index.find({"status": "submitted"}).ids == []
    assert index.put(doc(1, seq=4, status="resolved"))
    assert index.find({"status": "routed"}).total == 0
    assert index.find({"status": "resolved"}).ids == ["ZB-0001"]
    index.remove("ZB-0001")
    assert len(index) == 0 and index.find({}).total == 0
    assert index.search("text", "第1号") == {}


def test_rows_replaced_event_by_event_answer_as_their_last_versions_put_once() -> None:
    # A case's next event replaces its row: whatever stayed the same (most often the text)
    # stays where it is, whatever changed moves, and nothing of an older version is left.
    replaced, fresh = rows(), rows()
    last: dict[str, dict[str, Any]] = {}
    for seq in range(1, 7):
        for n in range(1, 40):
            if (n + seq) % 4 == 0:
                continue  # not every case moves at every step
            document = doc(n, seq=seq, status=("routed", "resolved", "closed")[(n * seq) % 3],
                           district=("jinshui", "erqi", None)[(n + seq) % 3],
                           assisting=[["water-co"], [], ["power-co", "water-co"]][seq % 3],
                           text=f"第{n}号 红绿灯" if (n * seq) % 5 else f"第{n}号 路灯{seq}",
                           resolved_at=T0 + timedelta(hours=seq) if (n + seq) % 3 else None,
                           submitted_at=T0 + timedelta(hours=n, minutes=seq % 2),
                           late=(n + seq) % 2 == 0)
            assert replaced.put(document)
            last[document["_id"]] = document
    replaced.put(doc(1, seq=99, text=""))  # a text taken away
    last["ZB-0001"] = doc(1, seq=99, text="")
    replaced.remove("ZB-0002")
    del last["ZB-0002"]
    for document in last.values():
        fresh.put(document)
    for selector in ({}, {"status": "resolved"}, {"district": None}, {"assisting": "water-co"},
                     {"late": True}, {"resolved_at": {"$gte": T0 + timedelta(hours=3)}},
                     {"text": {"$regex": literal_pattern("路灯")}}):
        for order in (NEWEST, INBOX):
            assert replaced.find(selector, sort=order, limit=100) == \
                fresh.find(selector, sort=order, limit=100), (selector, order)
    for words in ("红绿灯", "路灯3", "第1号", "第2号"):
        assert replaced.search("text", words) == fresh.search("text", words)
    kept, built = replaced.texts["text"].size(), fresh.texts["text"].size()
    assert (kept.texts, kept.postings, kept.entries) == (built.texts, built.postings, built.entries)


def test_filters_mean_what_the_store_means() -> None:
    index = rows()
    index.put(doc(1, assisting=["water-co"], district=None))
    index.put(doc(2, status="closed", resolved_at=T0))
    index.put(doc(3, assisting=["power-co", "water-co"]))
    found = lambda selector: sorted(index.find(selector, limit=100).ids)  # noqa: E731
    assert found({"assisting": "water-co"}) == ["ZB-0001", "ZB-0003"]  # an element of the array
    assert found({"district": None}) == ["ZB-0001"]  # null matches the missing and the null
    assert found({"district": {"$ne": "jinshui"}}) == ["ZB-0001"]
    assert found({"status": {"$nin": ["closed"]}}) == ["ZB-0001", "ZB-0003"]
    assert found({"resolved_at": {"$gte": T0 - timedelta(days=1)}}) == ["ZB-0002"]  # not null
    assert found({"submitted_at": {"$gt": T0 + timedelta(hours=1),
                                   "$lte": T0.replace(tzinfo=None) + timedelta(hours=3)}}
                 ) == ["ZB-0002", "ZB-0003"]  # a naive time is UTC, as the store returns it
    assert found({"$or": [{"status": "closed"}, {"_id": "ZB-0003"}]}) == ["ZB-0002", "ZB-0003"]
    assert found({"$and": [{"status": "routed"}, {"assisting": {"$in": ["power-co"]}}]}
                 ) == ["ZB-0003"]
    assert found({"text": {"$regex": literal_pattern("第2"), "$options": "i"}}) == ["ZB-0002"]
    with pytest.raises(Unsupported, match=r"\$exists"):
        index.find({"district": {"$exists": True}})
    with pytest.raises(Unsupported, match=r"\$where"):
        index.find({"$where": "1"})


def test_a_literal_pattern_reads_back_as_its_text_and_a_real_pattern_does_not() -> None:
    for text in ("红绿灯", "a.b (c) [d] {e} ^$|?*+\\", "No. 5"):
        assert literal_of(literal_pattern(text)) == text
    assert literal_of("a.b") is None and literal_of("x\\") is None


def test_orders_and_pages_as_sorted_would() -> None:
    index = rows()
    for n in range(1, 41):
        index.put(doc(n, submitted_at=T0 + timedelta(hours=n % 13)))
    everything = list(index.rows.values())
    for order in (NEWEST, INBOX):
        expected = [r["_id"] for r in sorted(everything, key=lambda r: sort_key(r, order))]
        assert index.find({}, sort=order, limit=100).ids == expected
        assert index.find({}, sort=order, limit=7, skip=14).ids == expected[14:21]
        routed = [i for i in expected if index.rows[i]["late"]]
        assert index.find({"late": True}, sort=order, limit=100).ids == routed
    newest = index.find({}, limit=3).ids
    assert [index.rows[i]["submitted_at"] for i in newest] == sorted(
        (index.rows[i]["submitted_at"] for i in newest), reverse=True)


@pytest.mark.parametrize("order", [NEWEST, INBOX])
@pytest.mark.parametrize("selector", [{}, {"district": "jinshui"}, {"late": False}])
def test_paging_by_cursor_is_stable_while_rows_change(order: Any, selector: Any) -> None:
    """New cases arrive at the top and others change while a reader pages: nothing is seen
    twice, and every row that matched all along is seen."""
    index = rows()
    for n in range(1, 61):
        index.put(doc(n))
    before = set(index.find(selector, sort=order, limit=1000).ids)
    seen: list[str] = []
    after = None
    fresh = 100
    while True:
        page = index.find(selector, sort=order, limit=7, after=after)
        seen.extend(page.ids)
        for _ in range(3):  # meanwhile: new cases, and old ones change
            fresh += 1
            index.put(doc(fresh))
        index.put(doc(fresh % 60 + 1, seq=fresh, district="erqi"))
        if page.next is None:
            break
        after = page.next
    assert len(seen) == len(set(seen))
    still = before & set(index.find(selector, sort=order, limit=10_000).ids)
    assert still <= set(seen)


def test_a_cursor_not_given_by_the_list_is_refused() -> None:
    index = rows()
    index.put(doc(1))
    for bad in ("nonsense!", "e30", "W3siYSI6MX1d"):  # garbage, {}, [{"a":1}]
        with pytest.raises(BadCursor):
            index.find({}, after=bad)
    index.put(doc(2))
    of_the_inbox = index.find({}, sort=INBOX, limit=1).next
    assert of_the_inbox is not None
    with pytest.raises(BadCursor):  # another list's cursor
        index.find({}, after=of_the_inbox)


def test_words_rank_by_relevance_then_recency() -> None:
    index = rows()
    index.put(doc(1, text="红绿灯坏了"))
    index.put(doc(2, text="路口红绿灯坏了，红绿灯一直闪"))
    index.put(doc(3, text="路灯不亮"))
    index.put(doc(4, text="红绿灯不亮"))
    selector = {"text": {"$regex": literal_pattern("红绿灯"), "$options": "i"}}
    relevance = index.search("text", "红绿灯")
    ids = index.find(selector, relevance=relevance, limit=10).ids
    assert ids == ["ZB-0002", "ZB-0004", "ZB-0001"]  # twice first; equals, the newer first


def test_the_matcher_reads_a_row_without_the_index() -> None:
    row = {"_id": "A", "status": "routed", "tags": ["x", "y"], "at": T0.timestamp()}
    assert matches(row, {"tags": {"$in": ["y"]}, "at": {"$lt": T0 + timedelta(seconds=1)}})
    assert not matches(row, {"tags": {"$nin": ["y"]}})
    assert not matches(row, {"missing": {"$gte": 0}})


def test_a_load_in_bulk_answers_as_puts_one_by_one() -> None:
    loaded, one_by_one = rows(), rows()
    documents = [doc(n, submitted_at=T0 + timedelta(minutes=(n * 37) % 101),
                     resolved_at=T0 + timedelta(hours=n % 7) if n % 3 else None)
                 for n in range(1, 80)]
    assert loaded.put_all([*documents, doc(5, seq=0)]) == len(documents)  # an older one: not kept
    for document in documents:
        one_by_one.put(document)
    for selector in ({}, {"late": True}, {"resolved_at": {"$lte": T0 + timedelta(hours=3)}}):
        for order in (NEWEST, INBOX):
            assert loaded.find(selector, sort=order, limit=100) == \
                one_by_one.find(selector, sort=order, limit=100)


def test_a_load_in_batches_meeting_rows_put_meanwhile_answers_as_puts_one_by_one() -> None:
    # A follower loads the collection a batch at a time while its projection puts the
    # documents it writes: a row may come again in a later batch, newer or older.
    loaded, one_by_one = rows(), rows()
    documents = [doc(n, submitted_at=T0 + timedelta(minutes=(n * 37) % 101)) for n in range(1, 60)]
    newer = [doc(n, seq=2, status="resolved", submitted_at=T0 - timedelta(minutes=n),
                 resolved_at=T0 + timedelta(hours=n)) for n in (3, 20, 41)]
    put_meanwhile = [newer[0], doc(30, seq=0)]
    for document in put_meanwhile:
        loaded.put(document)
    loaded.put_all(documents[:20])
    loaded.put_all([*documents[20:40], newer[1], doc(25, seq=3, status="closed")])
    loaded.put_all([*documents[40:], newer[2]])
    for document in [*documents, *newer, doc(25, seq=3, status="closed")]:
        one_by_one.put(document)
    for selector in ({}, {"status": "routed"}, {"status": {"$in": ["resolved", "closed"]}},
                     {"resolved_at": {"$gte": T0}}, {"late": True}):
        for order in (NEWEST, INBOX):
            assert loaded.find(selector, sort=order, limit=100) == \
                one_by_one.find(selector, sort=order, limit=100)


def test_counts_by_a_field_equal_a_count_row_by_row() -> None:
    index = rows()
    documents = [doc(n, district=("jinshui", "huiji", "erqi", None)[n % 4],
                     status=("routed", "resolved")[n % 3 == 0],
                     resolved_at=T0 + timedelta(hours=n) if n % 3 == 0 else None,
                     text=f"第{n}号 路灯" if n % 5 else f"第{n}号")
                 for n in range(1, 90)]
    index.put_all(documents)
    index.remove("ZB-0007")
    for selector in ({}, {"status": "resolved"}, {"status": {"$in": ["routed", "closed"]}},
                     {"resolved_at": {"$gte": T0 + timedelta(hours=30)}},
                     {"text": {"$regex": literal_pattern("路灯")}},
                     {"$and": [{"status": "routed"}, {"late": True}]},
                     {"late": {"$ne": True}}):
        by_rows: dict[Any, int] = {}
        for row in index.rows.values():
            if matches(row, selector):
                by_rows[row["district"]] = by_rows.get(row["district"], 0) + 1
        assert index.count_by("district", selector) == by_rows, selector
        assert index.count_by("status", selector) == {
            status: sum(1 for row in index.rows.values()
                        if row["status"] == status and matches(row, selector))
            for status in ("routed", "resolved")
            if any(row["status"] == status and matches(row, selector)
                   for row in index.rows.values())}


def test_a_follower_reads_the_seq_of_each_record_of_the_log() -> None:
    envelopes = a_long_handling().envelopes
    assert [seq_of(e.to_bytes()) for e in envelopes] == [e.seq for e in envelopes]
    assert seq_of(b'{"data": {"a": 1}, "seq": 7}') == 7  # another producer's order
    assert seq_of(b"not an event") is None and seq_of(b'{"no": "seq"}') is None


class Documents:
    """A collection read by `_id` only, counting the reads."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.reads: list[str] = []

    async def find_one(self, selector: dict[str, Any], projection: Any = None
                       ) -> dict[str, Any] | None:
        self.reads.append(selector["_id"])
        return self.docs.get(selector["_id"])


async def test_a_follower_reads_a_case_again_only_once_its_group_committed_the_event() -> None:
    # given a follower whose projections lag behind the log (a backlog being caught up)
    store = Documents()
    follower = RowFollower(rows(), store, topic="case-events",  # type: ignore[arg-type]
                           group_id="zaiban-tracking", kafka={}, bootstrap_servers="-")
    follower._group_at, follower._group_asked = {0: 10}, time.monotonic() + 3600
    follower._announced(b"ZB-0001", b'{"seq": 2}', partition=0, offset=40)
    follower._waiting["ZB-0001"].next_at = 0.0  # whatever time has passed
    # when it looks again and again before the group committed offset 40: nothing is read
    for _ in range(3):
        await follower._refresh()
    assert store.reads == []
    # then the group commits past it: the document is read once, and the row holds it
    store.docs["ZB-0001"] = doc(1, seq=2)
    follower._group_at = {0: 41}
    await follower._refresh()
    assert store.reads == ["ZB-0001"] and follower.index.seq("ZB-0001") == 2
    assert not follower._waiting
    # a case announced again further on waits for the later offset
    follower._announced(b"ZB-0001", b'{"seq": 3}', partition=0, offset=50)
    follower._announced(b"ZB-0001", b'{"seq": 4}', partition=0, offset=60)
    follower._group_at = {0: 55}
    await follower._refresh()
    assert store.reads == ["ZB-0001"]
    store.docs["ZB-0001"] = doc(1, seq=4)
    follower._group_at = {0: 61}
    await follower._refresh()
    assert store.reads == ["ZB-0001"] * 2 and follower.index.seq("ZB-0001") == 4
    assert not follower._waiting and not follower._ready
