"""A consumer group's progress on the case log, committed a moment at a time.

FastStream commits after every batch a subscriber has handled. Live, most batches of the
case log hold an event or two, so each event cost an OffsetCommit of its own in every group
that reads it: measured here, 0.4 ms of the broker's CPU and 0.3 ms of the service's a
commit, more than producing the event. Now a batch handled records what it covered (its
highest offset per partition, plus one), and the consumer commits what is recorded at most
every `COMMIT_EVERY_S`, in the background: at once when the last commit is older than that
(a quiet group's next event, the last batch of a catch-up), else once it is that old.

Why this keeps every event handled at least once:
- only offsets of batches handled are committed, never the consumer's position (which runs
  ahead, past a batch being handled); a batch that failed is rewound (`nack`, as before)
  before anything after it is handled, so nothing past it is recorded;
- what a crash or a rebalance leaves uncommitted (a moment of handled work) is read again
  by whoever reads the partition next, and every handler skips what it has seen (by seq);
- a service that stops commits what it recorded, and from then on commits each batch the
  moment it is handled (`closing`), while its consumers still run: a clean stop leaves
  nothing to read again.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from faststream.kafka.message import KafkaAckableMessage, KafkaMessage

from services.common.logging import get_logger
from services.common.tasks import for_everyone

log = get_logger("zaiban.commits")

COMMIT_EVERY_S = 0.2
"""The least time between two commits of one subscriber, and so the longest that handled
offsets wait to be committed together: the group's lag, and a test or bench waiting for a
group to commit the log's end, see progress at most that much later."""

Offsets = dict[TopicPartition, int]


class Progress:
    """The offsets one subscriber's consumer has handled and not committed yet."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.closing = False
        """Set when the service stops: each batch handled is committed at once."""
        self._handled: dict[AIOKafkaConsumer, Offsets] = {}
        self._committing: asyncio.Task[None] | None = None
        self._last_commit = -math.inf
        """When the last commit started (the event loop's clock)."""
        self._lock = asyncio.Lock()
        self._failing = False

    async def handled(self, consumer: AIOKafkaConsumer,
                      records: Iterable[ConsumerRecord[Any, Any]]) -> None:
        """Record that `records` are handled; commit them soon (at once when closing)."""
        offsets = self._handled.setdefault(consumer, {})
        for record in records:
            where = TopicPartition(record.topic, record.partition)
            offsets[where] = max(offsets.get(where, 0), record.offset + 1)
        if self.closing:
            await self.commit()
        elif self._committing is None or self._committing.done():
            self._committing = for_everyone(self._commit_soon(), name=f"commit:{self.group}")

    async def _commit_soon(self) -> None:
        # until nothing is left: what was handled while a commit was on its way waits for the
        # next one (no other task is started while this one runs)
        while self._handled:
            wait = self._last_commit + COMMIT_EVERY_S - asyncio.get_running_loop().time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await self.commit()
            except Exception as error:  # a consumer already stopped, say: read again, skipped
                log.warning("commit_skipped", group=self.group,
                            error=f"{type(error).__name__}: {error}"[:200])
                return

    async def close(self) -> None:
        """Commit what is recorded, and each batch handled from now on at once (the service
        stopping, before its consumers stop)."""
        self.closing = True
        await self.commit()

    async def commit(self) -> None:
        """Commit every offset recorded so far."""
        async with self._lock:  # one commit at a time, so none lands behind an older one
            self._last_commit = asyncio.get_running_loop().time()
            handled, self._handled = self._handled, {}
            for consumer, offsets in handled.items():
                try:
                    await consumer.commit(offsets)
                    if self._failing:
                        self._failing = False
                        log.warning("commits_resumed", group=self.group)
                except (CommitFailedError, IllegalStateError) as error:
                    # the partitions moved to another member: it reads them again from the
                    # last commit, and skips what it has seen
                    log.info("commit_left_to_the_next_reader", group=self.group,
                             partitions=len(offsets), reason=type(error).__name__)
                except KafkaError as error:  # the broker away: kept for the next commit
                    again = self._handled.setdefault(consumer, {})
                    for where, offset in offsets.items():
                        again[where] = max(again.get(where, 0), offset)
                    if not self._failing:  # once, not at every try while it is away
                        self._failing = True
                        log.warning("commits_deferred", group=self.group,
                                    error=f"{type(error).__name__}: {error}"[:200])


class CommittedLater(KafkaAckableMessage):
    """A batch of the case log whose acknowledgement records its offsets in `progress`
    instead of committing the consumer's position at once (see the module doc)."""

    progress: ClassVar[Progress]

    async def ack(self) -> None:
        if not self.committed:
            raw = self.raw_message
            records = raw if isinstance(raw, tuple) else (raw,)
            await self.progress.handled(self.consumer, records)
        await KafkaMessage.ack(self)


def committed_later(group: str) -> type[CommittedLater]:
    """A message class for one subscriber, with its own `Progress`."""
    return type("CommittedLater", (CommittedLater,), {"progress": Progress(group)})
