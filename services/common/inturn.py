"""Writes in turn, each sent while the next is being made.

A projection that writes a batch in chunks spends its own CPU making each chunk's documents
(folding, encoding, compressing) and then waits for the store to write them: done one after
the other, the store and the projection each sat idle half of the time. `in_turn` takes the
chunks lazily: making chunk k+1 is the caller's iteration, done while chunk k is being
written; the writes are settled (the caller's bookkeeping of what was written) in order,
each once it has ended. At most two writes are on their way at once (one being settled, the
next sent); a failure anywhere cancels what is still on its way and is raised, and the
caller's batch comes again (every write here is idempotent or fenced).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

Step = TypeVar("Step")
Result = TypeVar("Result")


async def in_turn(steps: Iterable[tuple[Step, Awaitable[Result]]],
                  settle: Callable[[Step, Result], Awaitable[None]] | None = None) -> None:
    """Send each step's write as soon as it is made, then settle the one before (when there
    is anything to settle); settle the last one at the end."""
    sent: tuple[Step, asyncio.Future[Result]] | None = None
    try:
        for step, write in steps:
            before, sent = sent, (step, asyncio.ensure_future(write))
            await asyncio.sleep(0)  # its command on its way before the next step is made
            if before is not None:
                await _settled(before, settle)
        if sent is not None:
            last, sent = sent, None
            await _settled(last, settle)
    finally:
        if sent is not None:  # a failure, or cancelled: nothing left running unseen
            sent[1].cancel()
            await asyncio.gather(sent[1], return_exceptions=True)


async def _settled(sent: tuple[Step, asyncio.Future[Result]],
                   settle: Callable[[Step, Result], Awaitable[None]] | None) -> None:
    step, write = sent
    result = await write
    if settle is not None:
        await settle(step, result)
