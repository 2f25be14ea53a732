"""A rebuild folds groups of the log's partitions apart, each in a process of its own.

A case's events are all on one partition, so a group of partitions folds into documents no
other group writes: the groups hold about as many records each, every partition with
records is in exactly one, and what each process gives comes back (or why it failed).
"""

from __future__ import annotations

import os

import pytest
from aiokafka import TopicPartition

from services.common.replay import (
    Offsets,
    Progress,
    apart,
    cores_allowed,
    groups_of,
    processes_for,
)

TOPIC = "zaiban.cases.events"


def partitions(*sizes: int) -> Offsets:
    return {TopicPartition(TOPIC, index): size for index, size in enumerate(sizes)}


def test_partitions_are_dealt_into_groups_of_about_as_many_records() -> None:
    ends = partitions(100, 60, 50, 0)
    groups = groups_of({}, ends, 2)
    assert [sorted(tp.partition for tp in group) for group in groups] == [[0], [1, 2]]
    # every partition with records once, none without
    assert sorted(tp.partition for group in groups for tp in group) == [0, 1, 2]
    # what was read already does not count: partition 0 has 10 records left
    started = groups_of({TopicPartition(TOPIC, 0): 90}, ends, 2)
    assert [sorted(tp.partition for tp in group) for group in started] == [[1], [0, 2]]
    assert len(groups_of({}, ends, 8)) == 3  # never more groups than partitions to read


def test_a_container_limited_to_fewer_cores_than_its_node_folds_in_as_many() -> None:
    node = cores_allowed("max 100000\n")  # no limit: the cores it may run on
    assert node >= 1
    assert cores_allowed("100000 100000\n") == 1
    assert cores_allowed("150000 100000\n") == min(2, node)  # 1.5 cores: two may run
    assert cores_allowed("not a limit") == node


def test_a_rebuild_never_folds_in_more_processes_than_partitions() -> None:
    assert processes_for(1) == 1
    assert 1 <= processes_for(3) <= 3
    assert processes_for(64) <= 2 * (os.cpu_count() or 1)


async def records_of(starts: Offsets, ends: Offsets, progress: Progress) -> tuple[int, int]:
    """A group's work: which process did it, and how many records it had."""
    count = sum(end - starts.get(tp, 0) for tp, end in ends.items())
    progress(count, count)
    return os.getpid(), count


async def test_each_group_is_done_in_a_process_of_its_own_and_gives_back_its_result() -> None:
    ends = partitions(100, 60, 50)
    seen: list[int] = []
    given = await apart(records_of, {}, ends, processes=3,
                        progress=lambda read, _total: seen.append(read))
    assert sorted(count for _, count in given) == [50, 60, 100]
    assert len({pid for pid, _ in given} | {os.getpid()}) == 4
    assert seen and max(seen) <= 210
    assert await apart(records_of, {}, partitions(0, 0), processes=3) == []  # nothing to read
    # one group: done here, no process forked
    [(pid, count)] = await apart(records_of, {}, ends, processes=1)
    assert (pid, count) == (os.getpid(), 210)


async def failing_on_partition_1(starts: Offsets, ends: Offsets, progress: Progress) -> int:
    if TopicPartition(TOPIC, 1) in ends:
        raise ValueError("the store went away")
    return len(ends)


async def test_a_group_that_fails_fails_the_rebuild_with_its_reason() -> None:
    with pytest.raises(RuntimeError, match="ValueError: the store went away"):
        await apart(failing_on_partition_1, {}, partitions(10, 10, 10), processes=3)


async def dying_on_partition_2(starts: Offsets, ends: Offsets, progress: Progress) -> int:
    if TopicPartition(TOPIC, 2) in ends:
        os._exit(3)  # killed, say: no answer at all
    return len(ends)


async def test_a_process_that_dies_without_answering_fails_the_rebuild() -> None:
    with pytest.raises(RuntimeError, match="exit code 3 and no answer"):
        await apart(dying_on_partition_2, {}, partitions(10, 10, 10), processes=3)
