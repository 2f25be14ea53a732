"""Reading the case event log from offset 0 again, to rebuild a read model.

The log is the source of truth, so a read model can be thrown away and built
again by the same pure projection. A rebuild reads a fixed range of the log
(from the beginning to its end as it was when the rebuild started) outside
any consumer group, so the live consumers are not disturbed, then the caller
swaps the new collection in and catches up with what came meanwhile.

A rebuild whose read model keeps a document per case can fold the partitions apart: a case's
events are all on one partition (keyed by case id), so a group of partitions folds into
documents no other group writes. `apart` runs each group in a process of its own (forked, so
nothing is imported again), as many as the cores can share: the fold is CPU-bound Python, and
one process folds on one core only, while the store and the broker use the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Generic, TypeVar, cast, overload

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from contracts.envelope import Envelope
from contracts.topics import Topics
from services.common.bus import Delivered, E, Poison, Reading, parse_envelope
from services.common.kafka import kafka_options
from services.common.logging import get_logger
from services.common.settings import CommonSettings

log = get_logger("zaiban.replay")

R = TypeVar("R")

NAMESPACE_EXISTS = 48
SWAP_ATTEMPTS = 200
FETCH_WAIT_MS = 20
"""How long the broker holds a fetch that finds nothing new. A reader at the end of the range
keeps fetching, and the broker answers one connection's requests in order: the offsets a
catch-up asks for next waited behind such a fetch (aiokafka's 500 ms, half a second of every
rebuild)."""

Offsets = dict[TopicPartition, int]
Progress = Callable[[int, int], None]
"""Called with (records read, records to read) as a replay goes."""

Project = Callable[[list[Delivered[E]]], Awaitable[int]]
"""Projects a batch; returns how many of its events could not be projected."""


@dataclass(frozen=True)
class Replayed:
    events: int
    unreadable: int


@dataclass
class Phases:
    """Seconds spent in each phase of a rebuild, for its closing log line."""

    spent: dict[str, float] = field(default_factory=dict)
    since: float = field(default_factory=time.monotonic)

    def mark(self, phase: str) -> None:
        now = time.monotonic()
        self.spent[phase] = round(now - self.since, 3)
        self.since = now


class LogReader(Generic[E]):
    """A consumer outside any group, reading ranges of the case event log: each record whole,
    or as `read` reads it."""

    @overload
    def __init__(self: LogReader[Envelope], settings: CommonSettings, principal: str) -> None: ...

    @overload
    def __init__(self, settings: CommonSettings, principal: str, read: Reading[E]) -> None: ...

    def __init__(self, settings: CommonSettings, principal: str,
                 read: Reading[Any] = parse_envelope) -> None:
        self.topic = Topics(settings.topic_prefix).case_events
        self.read = read
        self.consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                         group_id=None, enable_auto_commit=False,
                                         auto_offset_reset="earliest",
                                         fetch_max_wait_ms=FETCH_WAIT_MS,
                                         **kafka_options(settings, principal))

    async def __aenter__(self) -> LogReader[E]:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def bounds(self) -> tuple[Offsets, Offsets]:
        """(beginning, end) offsets of every partition; empty if the log does not exist yet."""
        await self.consumer._client.force_metadata_update()
        partitions = self.consumer.partitions_for_topic(self.topic) or set()
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        if not assigned:
            return {}, {}
        self.consumer.assign(assigned)
        return (await self.consumer.beginning_offsets(assigned),
                await self.consumer.end_offsets(assigned))

    def reading(self, partitions: Sequence[TopicPartition]) -> None:
        """Read only `partitions` (a group of a rebuild apart, `apart`), not what `bounds`
        assigned."""
        self.consumer.assign(list(partitions))

    async def replay(self, starts: Offsets, ends: Offsets, project: Project[E],
                     progress: Progress | None = None, batch: int = 2000) -> Replayed:
        """Project every record in [start, end) of each partition, in order per partition."""
        total = sum(max(ends[tp] - starts.get(tp, 0), 0) for tp in ends)
        remaining = {tp for tp in ends if starts.get(tp, 0) < ends[tp]}
        for tp in remaining:
            self.consumer.seek(tp, starts.get(tp, 0))
        read = events = unreadable = 0
        while remaining:
            fetched = await self.consumer.getmany(*remaining, timeout_ms=500, max_records=batch)
            deliveries: list[Delivered[E]] = []
            for tp, records in fetched.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    read += 1
                    try:
                        envelope = self.read(record.value or b"")
                    except Poison as poison:
                        unreadable += 1
                        log.warning("replay_skipped_unreadable", partition=tp.partition,
                                    offset=record.offset, reason=str(poison))
                        continue
                    deliveries.append(Delivered(envelope, tp.topic, tp.partition, record.offset))
            if deliveries:
                failed = await project(deliveries)
                events += len(deliveries) - failed
                unreadable += failed
            for tp in list(remaining):
                if await self.consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if progress is not None:
                progress(read, total)
        return Replayed(events, unreadable)


Work = Callable[[Offsets, Offsets, Progress], Coroutine[Any, Any, R]]
"""A rebuild's work on a group of partitions: (starts, ends, progress) -> what it gives back."""


def groups_of(starts: Offsets, ends: Offsets, count: int) -> list[Offsets]:
    """The partitions with records in [start, end), dealt into at most `count` groups of about
    as many records each (the largest partition to the group with the fewest so far)."""
    sizes = {tp: end - starts.get(tp, 0) for tp, end in ends.items() if end > starts.get(tp, 0)}
    groups: list[Offsets] = [{} for _ in range(min(max(count, 1), len(sizes)))]
    load = [0] * len(groups)
    for tp in sorted(sizes, key=lambda tp: (-sizes[tp], tp.partition)):
        least = load.index(min(load))
        groups[least][tp] = ends[tp]
        load[least] += sizes[tp]
    return groups


PROCESSES_PER_CORE = 2
"""Processes a rebuild may fold in, per core: as many as the log has partitions, up to this.
With fewer groups than that, a group can hold more of the log than the others and fold on
alone at the end (3 partitions in 2 processes: one folds two, measured 23-24k events/s where
3 processes, sharing 2 cores, gave 24.6-25.6k)."""


CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
"""Where a container's CPU limit is (cgroup v2: `<quota> <period>`, or `max <period>`)."""


def cores_allowed(cpu_max: str | None = None) -> int:
    """The cores this process may use: those it may run on, and no more than its container's
    CPU limit (a pod given 1 core on a 64-core node folds in 2 processes, not 12)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if cpu_max is None:
        with contextlib.suppress(OSError):
            cpu_max = CPU_MAX.read_text()
    quota, _, period = (cpu_max or "").partition(" ")
    if quota.isdigit() and period.strip().isdigit() and int(period) > 0:
        cores = min(cores or 1, max(1, math.ceil(int(quota) / int(period))))
    return cores or 1


def processes_for(partitions: int) -> int:
    """How many processes a rebuild of a log of `partitions` partitions folds in: one per
    partition, up to `PROCESSES_PER_CORE` per core it may use (`cores_allowed`); one where a
    process cannot be forked."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(partitions, PROCESSES_PER_CORE * cores_allowed()))


async def apart(work: Work[R], starts: Offsets, ends: Offsets, *, processes: int,
                progress: Progress | None = None) -> list[R]:
    """Run `work` on the partitions of [starts, ends) dealt into `processes` groups, each group in
    a forked process of its own (in this one when there is a single group), and give back what
    each gave (nothing, when no partition has records to read). A group that fails fails the
    whole: its error is raised here, once every group has ended."""
    groups = groups_of(starts, ends, processes)
    total = sum(max(end - starts.get(tp, 0), 0) for tp, end in ends.items())
    if not groups:
        return []  # nothing to read: no process, no reader
    if len(groups) == 1:
        return [await work(starts, groups[0], progress or (lambda _read, _total: None))]
    context = multiprocessing.get_context("fork")
    # records each child has read, in memory the children share with this process
    read: list[Any] = [context.Value("q", 0, lock=False) for _ in groups]
    pipes = [context.Pipe(duplex=False) for _ in groups]
    children = [context.Process(target=_fold_apart, args=(work, starts, group, counter, sender),
                                name=f"rebuild-{index}", daemon=True)
                for index, (group, counter, (_, sender))
                in enumerate(zip(groups, read, pipes, strict=True))]
    for child in children:
        child.start()
    for _, sender in pipes:
        sender.close()  # the children's ends: a child gone makes its receiver's read fail
    answers: dict[int, tuple[str, Any]] = {}
    while len(answers) < len(children):
        for index, ((receiver, _), child) in enumerate(zip(pipes, children, strict=True)):
            if index not in answers and (receiver.poll() or not child.is_alive()):
                answers[index] = _answer_of(receiver, child)
        if progress is not None:
            progress(sum(counter.value for counter in read), total)
        await asyncio.sleep(APART_POLL_S)
    given: list[R] = []
    failures: list[str] = []
    for index, child in enumerate(children):
        child.join()
        outcome, value = answers[index]
        if outcome == "done":
            given.append(cast(R, value))
        else:
            failures.append(f"{child.name}: {value}")
    if failures:
        raise RuntimeError(f"a rebuild's partitions failed: {'; '.join(failures)}")
    return given


APART_POLL_S = 0.02


def _answer_of(receiver: Connection, child: Any) -> tuple[str, Any]:
    """What a child answered (read as soon as it is there: an answer left in the pipe could
    hold the child from ending), or that it ended without an answer."""
    try:
        if receiver.poll(APART_POLL_S):
            answer: tuple[str, Any] = receiver.recv()
            return answer
    except EOFError:
        pass
    return "failed", f"ended with exit code {child.exitcode} and no answer"


def _fold_apart(work: Work[Any], starts: Offsets, ends: Offsets, read: Any,
                answer: Connection) -> None:
    """A forked process's part of `apart`: its own event loop, clients and connections (none of
    the parent's is touched); what `work` gives, or why it failed, on `answer`."""
    def counted(done: int, _total: int) -> None:
        read.value = done

    try:
        answer.send(("done", asyncio.run(work(starts, ends, counted))))
    except BaseException as error:  # the parent raises it, with the others'
        answer.send(("failed", f"{type(error).__name__}: {error}"))
    finally:
        answer.close()


async def swap_in(db: AsyncDatabase[dict[str, Any]], source: str, target: str) -> None:
    """Replace `target` by `source`: drop, then rename (retried if `target` reappears).

    FerretDB has no `dropTarget`; a live consumer writing `target` between the
    drop and the rename makes the rename fail, and it is tried again.
    """
    for _attempt in range(SWAP_ATTEMPTS):
        await db.drop_collection(target)
        try:
            await db[source].rename(target)
            return
        except OperationFailure as error:
            # MongoDB says the namespace exists (48); FerretDB on SQLite may say its
            # table's unique constraint failed (1): either way, `target` reappeared
            recreated = error.code == NAMESPACE_EXISTS or "unique constraint" in str(error).lower()
            if not recreated:
                raise
            # no pause: the window between drop and rename must stay as short as it can
            await asyncio.sleep(0)
    raise RuntimeError(f"could not swap {source} in as {target}: it kept being recreated")
