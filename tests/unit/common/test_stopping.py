"""A stop's grace period holds even for a close that swallows its cancellation (aiokafka's
consumer, waiting on its group coordinator): `within` gives up on it, `wait_for` would not."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from services.common.stopping import within


async def a_stubborn_close(released: asyncio.Event) -> None:
    """Like a consumer's close waiting on a rebalance: a cancellation is swallowed, and it
    goes on waiting until the rebalance ends."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(3600)
    await released.wait()


async def test_a_close_that_swallows_its_cancellation_is_left_after_the_grace_period() -> None:
    released = asyncio.Event()
    loop = asyncio.get_running_loop()
    started = loop.time()

    assert await within(a_stubborn_close(released), 0.2) is False

    assert loop.time() - started < 2.0
    released.set()  # it ends on its own later, and nothing is raised about it
    await asyncio.sleep(0.01)


async def test_wait_for_would_have_waited_for_it() -> None:
    released = asyncio.Event()
    waiting = asyncio.create_task(asyncio.wait_for(a_stubborn_close(released), 0.2))
    await asyncio.sleep(0.6)
    assert not waiting.done()  # well past its timeout: this is what a stop must not do
    released.set()
    await waiting


async def test_work_done_in_time_is_done_and_its_failure_is_raised() -> None:
    async def quick() -> None:
        await asyncio.sleep(0)

    async def failing() -> None:
        raise RuntimeError("the broker refused")

    assert await within(quick(), 1.0) is True
    with pytest.raises(RuntimeError, match="refused"):
        await within(failing(), 1.0)
