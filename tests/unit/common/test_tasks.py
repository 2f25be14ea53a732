"""A task that works for every caller does not carry the context of the one that woke it
(`services/common/tasks.py`)."""

from __future__ import annotations

import asyncio
import contextvars

import structlog

from services.common.tasks import for_everyone

ASKED_BY: contextvars.ContextVar[str | None] = contextvars.ContextVar("asked_by", default=None)


async def test_a_shared_task_does_not_see_the_context_of_the_caller_that_started_it() -> None:
    async def seen() -> tuple[str | None, dict[str, object]]:
        return ASKED_BY.get(), structlog.contextvars.get_contextvars()

    ASKED_BY.set("the first caller's batch")
    with structlog.contextvars.bound_contextvars(case_id="ZB-1"):
        copied = await asyncio.create_task(seen())
        own = await for_everyone(seen(), name="shared")
    assert copied == ("the first caller's batch", {"case_id": "ZB-1"})  # what create_task does
    assert own == (None, {})
