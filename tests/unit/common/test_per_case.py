"""A consumer's batch worked case by case: each case in log order, cases side by side."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from services.common.bus import Delivery, per_case


def batch(*case_ids: str) -> list[Delivery]:
    """Deliveries of these cases at consecutive offsets (only the case id matters here)."""
    return [Delivery(envelope=SimpleNamespace(case_id=case_id),  # type: ignore[arg-type]
                     topic="case-events", partition=0, offset=offset)
            for offset, case_id in enumerate(case_ids)]


async def test_each_cases_events_come_in_log_order_and_every_case_once() -> None:
    seen: dict[str, list[int]] = {}

    async def handle(deliveries: list[Delivery]) -> None:
        case_id = deliveries[0].envelope.case_id
        assert case_id not in seen and {d.envelope.case_id for d in deliveries} == {case_id}
        seen[case_id] = []
        for delivery in deliveries:
            await asyncio.sleep(0)  # another case may run meanwhile; this one keeps its order
            seen[case_id].append(delivery.offset)

    await per_case(batch("a", "b", "a", "c", "b", "a"), handle)

    assert seen == {"a": [0, 2, 5], "b": [1, 4], "c": [3]}


async def test_cases_run_side_by_side_up_to_the_limit() -> None:
    running, most = 0, 0

    async def handle(deliveries: list[Delivery]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1

    await per_case(batch(*(f"case-{n}" for n in range(10))), handle, at_once=4)

    assert most == 4


async def test_a_failing_case_fails_the_batch_only_once_every_other_case_is_done() -> None:
    finished: list[str] = []

    async def handle(deliveries: list[Delivery]) -> None:
        case_id: Any = deliveries[0].envelope.case_id
        if case_id == "bad":
            raise RuntimeError("store refused")
        await asyncio.sleep(0.02)
        finished.append(case_id)

    with pytest.raises(RuntimeError, match="store refused"):
        await per_case(batch("bad", "x", "y"), handle)

    assert sorted(finished) == ["x", "y"]  # nothing of the batch still running behind it
