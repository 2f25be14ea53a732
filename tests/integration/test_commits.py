"""A consumer group's progress on the case log, on the real broker: every event handled, the
progress committed a moment at a time rather than once a batch, all of it by a clean stop
(`services/common/commits.py`)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from helpers import as_admin, handled_to_the_end, publish_envelopes, running, unique
from unit.lifecycle.casebook import resolved_case

from contracts import registry
from contracts.envelope import Envelope
from contracts.topics import Topics
from services.common import commits
from services.common.bus import Delivery
from services.common.runtime import ServiceRuntime
from services.common.settings import CommonSettings


class Reader(ServiceRuntime[CommonSettings]):
    """A service reading the case log (tracking's principal, which may), keeping what it saw."""

    name = "tracking"

    def __init__(self, settings: CommonSettings) -> None:
        super().__init__(settings)
        self.seen: list[tuple[str, int]] = []
        self.more = asyncio.Event()
        self.read_case_events(self.handle, title="test: what the log holds")

    async def handle(self, deliveries: list[Delivery]) -> None:
        self.seen.extend((d.envelope.case_id, d.envelope.seq) for d in deliveries)
        self.more.set()


def counted_commits(monkeypatch: pytest.MonkeyPatch, slow_s: float = 0.0,
                    started: asyncio.Event | None = None) -> Callable[[], int]:
    """How many commits the consumers of this process have sent from now on (each taking
    `slow_s` more, as on a busy broker; `started` is set when one starts)."""
    calls = 0
    commit = AIOKafkaConsumer.commit

    async def counting(self: AIOKafkaConsumer, *args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if started is not None:
            started.set()
        await asyncio.sleep(slow_s)
        await commit(self, *args, **kwargs)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", counting)
    return lambda: calls


def events(cases: int) -> list[Envelope]:
    """The events of `cases` cases, each submitted, accepted, routed and resolved."""
    story = resolved_case().envelopes
    return [envelope.model_copy(update={"case_id": case_id})
            for case_id in (unique("ZB-COMMITS-") for _ in range(cases)) for envelope in story]


def keys(envelopes: list[Envelope]) -> list[tuple[str, int]]:
    return sorted((envelope.case_id, envelope.seq) for envelope in envelopes)


async def one_at_a_time(settings: CommonSettings, envelopes: list[Envelope]) -> None:
    """As live: each event its own batch, a few milliseconds after the one before."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, **as_admin(settings))
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(Topics(settings.topic_prefix).case_events,
                                         envelope.to_bytes(), key=envelope.key())
            await asyncio.sleep(0.02)
    finally:
        await producer.stop()


async def until_seen(reader: Reader, count: int, within_s: float = 30.0) -> None:
    async with asyncio.timeout(within_s):
        while len(reader.seen) < count:
            reader.more.clear()
            await reader.more.wait()


async def all_handled(settings: CommonSettings, reader: Reader, count: int) -> None:
    """Until `reader` has seen `count` events and its group committed the log's end."""
    await until_seen(reader, count)
    await handled_to_the_end(settings, reader.group_id, timeout=10.0)


class Leaving(Reader):
    """A reader whose handling leaves copies of its context behind, as opening a connection
    while handling a batch does (the transport keeps the context it was made in), and watches
    whether the batch's envelopes outlive it."""

    def __init__(self, settings: CommonSettings) -> None:
        super().__init__(settings)
        self.contexts: list[contextvars.Context] = []
        self.envelopes: list[weakref.ref[Envelope]] = []

    async def handle(self, deliveries: list[Delivery]) -> None:
        self.contexts.append(contextvars.copy_context())
        self.envelopes.extend(weakref.ref(d.envelope) for d in deliveries)
        await super().handle(deliveries)


@asynccontextmanager
async def reading(settings: CommonSettings) -> AsyncIterator[Reader]:
    reader = Reader(settings)
    async with running(reader):
        yield reader


async def test_a_group_commits_what_it_handled_a_moment_at_a_time(
        settings: CommonSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    commits = counted_commits(monkeypatch)
    async with reading(settings) as reader:
        envelopes = events(4)
        await one_at_a_time(settings, envelopes)
        await all_handled(settings, reader, len(envelopes))
        assert sorted(reader.seen) == keys(envelopes)
        # each event came in a batch of its own: one commit a batch would be 16
        assert 1 <= commits() < len(envelopes) // 2


async def test_a_batch_handled_while_a_commit_is_on_its_way_is_committed_after_it(
        settings: CommonSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    on_its_way = asyncio.Event()
    counted_commits(monkeypatch, slow_s=1.0, started=on_its_way)
    async with reading(settings) as reader:
        first, last = events(1), events(1)
        await publish_envelopes(settings, first)
        await until_seen(reader, len(first))
        await asyncio.wait_for(on_its_way.wait(), 5.0)  # its commit left, and takes a second
        await publish_envelopes(settings, last)
        # handled while that commit is on its way, and committed after it
        await all_handled(settings, reader, len(first) + len(last))


async def test_a_service_that_stops_leaves_nothing_to_read_again(
        settings: CommonSettings) -> None:
    async with reading(settings) as reader:
        envelopes = events(2)
        await one_at_a_time(settings, envelopes)
        await until_seen(reader, len(envelopes))
    # stopped at once: its last batches were not committed yet, and are now
    await handled_to_the_end(settings, reader.group_id, timeout=1.0)
    async with reading(settings) as again:  # the same group, started again
        more = events(1)
        await publish_envelopes(settings, more)
        await all_handled(settings, again, len(more))
        assert sorted(again.seen) == keys(more)  # nothing came twice


async def test_a_batch_handled_is_freed_though_copies_of_its_context_live_on(
        settings: CommonSettings) -> None:
    """At the article's volume a batch is 5,000 envelopes (~30 MB): kept alive by whatever
    outlived its handling, they took the metrics service past 300 MB."""
    reader = Leaving(settings)
    async with running(reader):
        envelopes = events(4)
        await publish_envelopes(settings, envelopes)
        await all_handled(settings, reader, len(envelopes))
        assert reader.contexts  # copies taken while handling
        registry._recent.clear()  # the events read lately, kept on purpose (bounded)
        gc.collect()
        kept = [ref for ref in reader.envelopes if ref() is not None]
        assert len(reader.envelopes) == len(envelopes) and not kept


async def test_a_quiet_group_commits_at_once_and_then_no_more_than_once_a_moment(
        settings: CommonSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offsets wait to be committed together only when a commit went moments before: the
    last batch of a catch-up, or an event after a quiet while, is committed at once."""
    monkeypatch.setattr(commits, "COMMIT_EVERY_S", 60.0)  # a "moment" no test waits out
    count = counted_commits(monkeypatch)
    async with reading(settings) as reader:
        first = events(1)
        await publish_envelopes(settings, first)
        await all_handled(settings, reader, len(first))  # within 10 s, not 60
        assert count() == 1
        more = events(1)
        await publish_envelopes(settings, more)
        await until_seen(reader, len(first) + len(more))
        await asyncio.sleep(1.0)
        assert count() == 1  # handled, its commit waiting for the moment to pass
    # and stopping commits what waited (the test above: nothing is read again)
    await handled_to_the_end(settings, reader.group_id, timeout=1.0)
