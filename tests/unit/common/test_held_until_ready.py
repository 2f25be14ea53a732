"""A starting service handles nothing but its feeds until it has read them whole.

Through FastStream's own pipeline (its in-memory test broker: one handler, no Kafka); the
services' starts on the real stack are in the integration tests (the city's changes,
the revocations)."""

from __future__ import annotations

import asyncio

from faststream.kafka import KafkaBroker, TestKafkaBroker

from services.common.bus import held_until

WORK, FEED = "zaiban.case-events", "zaiban.config.city"


def wired(ready: asyncio.Event) -> tuple[KafkaBroker, list[str]]:
    broker = KafkaBroker()
    broker.add_middleware(held_until(ready, but=lambda: {FEED}))
    handled: list[str] = []

    @broker.subscriber(WORK, group_id="work")
    async def on_work(body: str) -> None:
        handled.append(f"work:{body}")

    @broker.subscriber(FEED)
    async def on_feed(body: str) -> None:
        handled.append(f"feed:{body}")
        ready.set()  # the feed read whole

    return broker, handled


async def test_work_received_before_the_feeds_are_read_waits_for_them() -> None:
    ready = asyncio.Event()
    broker, handled = wired(ready)
    async with TestKafkaBroker(broker) as test:
        work = asyncio.create_task(test.publish("first case", WORK))
        await asyncio.sleep(0.05)
        assert handled == [] and not work.done()  # held: the city may have changed since

        await test.publish("a rule changed", FEED)  # a feed passes, and it sets `ready`
        await asyncio.wait_for(work, 5)
    assert handled == ["feed:a rule changed", "work:first case"]


async def test_once_the_feeds_are_read_work_is_not_held() -> None:
    ready = asyncio.Event()
    ready.set()
    broker, handled = wired(ready)
    async with TestKafkaBroker(broker) as test:
        await asyncio.wait_for(test.publish("a case", WORK), 5)
    assert handled == ["work:a case"]
