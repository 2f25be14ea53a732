"""What the case log's handler holds and handled: what a row follower trusts when it leaves a
partition to the projection, and when it takes one back (`services/common/held.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import TopicPartition

from services.common.held import Held

TOPIC = "case-events"


@dataclass(frozen=True)
class At:
    partition: int
    offset: int


def tps(*partitions: int, topic: str = TOPIC) -> set[TopicPartition]:
    return {TopicPartition(topic, p) for p in partitions}


async def test_what_was_handled_of_a_partition_is_released_with_it() -> None:
    held = Held(TOPIC)
    await held.on_partitions_assigned(tps(0, 1) | tps(0, topic="other"))
    assert set(held.since) == {0, 1}
    since = held.since[0]
    held.handled([At(0, 7), At(0, 9), At(1, 3), At(2, 50)])  # 2 is not held here
    held.handled([At(0, 8)])  # an older record again (a batch redelivered): no step back

    await held.on_partitions_revoked(tps(0, 1, 2))

    assert held.since == {} and held.handled_to == {}
    assert held.released == {0: (since, 10), 1: (since, 4)}  # (assigned together)


async def test_a_partition_assigned_again_starts_counting_afresh() -> None:
    held = Held(TOPIC)
    await held.on_partitions_assigned(tps(0))
    first = held.since[0]
    held.handled([At(0, 41)])
    await held.on_partitions_revoked(tps(0))
    await held.on_partitions_assigned(tps(0))  # (an eager rebalance gives it back)

    assert held.since[0] > first
    assert held.handled_to == {}  # nothing handled under this assignment yet
    assert held.released[0] == (first, 42)  # what the follower may skip, for that holding only
    held.handled([At(0, 42)])
    assert held.handled_to == {0: 43}
