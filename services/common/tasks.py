"""Tasks that work for every caller, started outside the context of the one that woke them.

`asyncio.create_task` runs the task in a copy of the caller's context. A task that then
serves everyone for as long as work keeps coming (a grouped writer's flushes, the commits of
a consumer's progress, the removal of published outbox entries, the reservation of case
numbers) kept that first caller's context with it: the log lines it wrote carried that
caller's case and correlation ids, and in a consumer the context holds the batch being
handled (FastStream keeps the message in a context variable), alive as long as the task.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

Result = TypeVar("Result")


def for_everyone(work: Coroutine[Any, Any, Result], *, name: str | None = None
                 ) -> asyncio.Task[Result]:
    """`work` as a task in a context of its own (empty), not a copy of the caller's."""
    return asyncio.create_task(work, name=name, context=contextvars.Context())
