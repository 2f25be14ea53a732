"""Stopping within a grace period, whatever the code being stopped does with cancellation.

`asyncio.wait_for` cancels what overran its timeout and then waits until it has finished. A
client library whose close swallows the cancellation makes that wait as long as the close
itself, grace period or not: aiokafka's fetcher awaits its task under
`suppress(CancelledError)`, and the consumer's close goes on to its group coordinator, which
can wait on a rebalance. `within` waits no longer than it was told: it cancels what overran,
and leaves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def within(work: Awaitable[Any], seconds: float) -> bool:
    """Run `work` for at most `seconds`: True if it finished (its exception, if any, raised
    here), False if it was cancelled and left to end on its own."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)  # its end, whenever it comes, is not an error to log
        return False
    task.result()
    return True


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
