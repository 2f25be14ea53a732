"""Which partitions of the case log this instance's handler holds, and how far it got in each.

A rebalance listener on the subscriber of `read_case_events` (`bus.subscribe_envelopes`): the
group tells it what this member was assigned and what it lost; the subscriber tells it what
its handler has handled. A row follower reads it to leave the partitions held here to the
projection, and to know, when one moves away, which of its records the projection wrote
already (`rowfollower.py`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

from aiokafka import ConsumerRebalanceListener, TopicPartition


class Placed(Protocol):
    """A record's place in the log (a delivery)."""

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


class Held(ConsumerRebalanceListener):
    """The partitions of `topic` the consumer it listens to holds."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.since: dict[int, float] = {}
        """Each partition held, with when it was assigned (this process's clock)."""
        self.handled_to: dict[int, int] = {}
        """Per partition held, the offset after the last record its handler has handled
        since it was assigned (it handles them in order, a failed batch again before any
        after it)."""
        self.released: dict[int, tuple[float, int]] = {}
        """Per partition lost, when it had been assigned and `handled_to` then."""

    def handled(self, deliveries: Iterable[Placed]) -> None:
        for delivery in deliveries:
            partition = delivery.partition
            if partition in self.since:
                self.handled_to[partition] = max(self.handled_to.get(partition, 0),
                                                 delivery.offset + 1)

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            if tp.topic == self.topic \
                    and (since := self.since.pop(tp.partition, None)) is not None:
                handled = self.handled_to.pop(tp.partition, None)
                if handled is not None:
                    self.released[tp.partition] = (since, handled)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        now = time.monotonic()
        for tp in assigned:
            if tp.topic == self.topic:
                self.since[tp.partition] = now
                self.handled_to.pop(tp.partition, None)
