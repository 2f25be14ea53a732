"""Writes in turn (`services/common/inturn.py`): the next chunk is made while the one before is
written, every write is settled in order, and a failure leaves nothing running."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator

import pytest

from services.common.inturn import in_turn


class Store:
    """Writes that take a moment each, and what was seen of them."""

    def __init__(self, failing: int | None = None) -> None:
        self.failing = failing
        self.started: list[int] = []
        self.ended: list[int] = []
        self.cancelled: list[int] = []

    async def write(self, n: int) -> str:
        self.started.append(n)
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self.cancelled.append(n)
            raise
        if n == self.failing:
            raise ConnectionError(f"write {n} failed")
        self.ended.append(n)
        return f"written {n}"


def chunks(store: Store, count: int, made: list[tuple[int, list[int], list[int]]]
           ) -> Iterator[tuple[int, Awaitable[str]]]:
    for n in range(count):
        made.append((n, list(store.started), list(store.ended)))  # what the store was doing
        yield n, store.write(n)


async def test_each_chunk_is_made_once_the_one_before_is_sent_and_settled_in_order() -> None:
    store, made, settled = Store(), [], []

    async def settle(n: int, result: str) -> None:
        settled.append((n, result))

    await in_turn(chunks(store, 4, made), settle)

    assert settled == [(n, f"written {n}") for n in range(4)]
    for n, started, ended in made[1:]:
        assert n - 1 in started  # the chunk before was sent before this one was made
        assert n < 2 or n - 2 in ended  # and the one before that was written: two at most
    assert made[1][1] == [0] and made[1][2] == []  # the first was on its way meanwhile
    assert store.ended == [0, 1, 2, 3]


async def test_a_failed_write_is_raised_and_leaves_no_write_running() -> None:
    store, made, settled = Store(failing=1), [], []

    async def settle(n: int, result: str) -> None:
        settled.append(n)

    with pytest.raises(ConnectionError, match="write 1 failed"):
        await in_turn(chunks(store, 5, made), settle)

    assert settled == [0]
    assert store.cancelled == [2]  # sent after the one that failed: cancelled, not left running
    assert [n for n, _, _ in made] == [0, 1, 2]  # no chunk made after the failure was seen
    await asyncio.sleep(0.05)
    assert store.ended == [0]


async def test_a_chunk_that_cannot_be_made_leaves_no_write_running() -> None:
    store = Store()

    def broken() -> Iterator[tuple[int, Awaitable[str]]]:
        yield 0, store.write(0)
        raise ValueError("a view that does not encode")

    with pytest.raises(ValueError, match="does not encode"):
        await in_turn(broken())
    assert store.cancelled == [0]
