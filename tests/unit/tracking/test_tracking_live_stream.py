"""The live stream's text, driven by a view that moves on: what a follower receives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from unit.tracking.tracking_stories import CITY, accepted, day, reference_case

from contracts import case_events as ev
from services.lifecycle.history import History
from services.tracking.live import HEARTBEAT, Signals, follow
from services.tracking.render import present_entry
from services.tracking.timeline import CaseView, Entry, fold


class MovingCase:
    """A store holding one case, whose view the test moves forward."""

    def __init__(self, history: History, shown: int) -> None:
        self.envelopes = history.envelopes
        self.shown = shown
        self.reads = 0

    @property
    def view(self) -> CaseView:
        view = fold(None, self.envelopes[: self.shown])
        assert view is not None
        return view

    async def newer_than(self, case_id: str, seq: int) -> CaseView | None:
        self.reads += 1
        view = self.view
        return view if view.seq > seq else None


def present(entry: Entry) -> dict[str, object]:
    return present_entry(entry, "en", CITY)


async def next_event(stream: AsyncIterator[str]) -> str:
    return await asyncio.wait_for(anext(stream), timeout=5)


def parse(text: str) -> dict[str, str]:
    fields = {}
    for line in text.strip().splitlines():
        name, _, value = line.partition(": ")
        fields[name] = value
    return fields


async def test_a_follower_gets_what_it_missed_then_what_happens_next() -> None:
    store = MovingCase(reference_case(), shown=3)
    signals = Signals()
    stream = follow("ZB261006-WFF0-0001", 1, initial=store.view, newer_than=store.newer_than,
                    signals=signals, present=present, poll=30.0)
    assert (await next_event(stream)).startswith("retry: ")
    missed = [parse(await next_event(stream)) for _ in range(2)]
    assert [(m["id"], m["event"]) for m in missed] == [("2", "entry"), ("3", "entry")]
    assert json.loads(missed[1]["data"])["type"] == "SiteVisited"

    store.shown = 4
    signals.notify(["ZB261006-WFF0-0001"])  # the projection in this process wakes it at once
    news = parse(await next_event(stream))
    assert news["id"] == "4"
    assert json.loads(news["data"])["text"] == "Routed to Traffic Signal Company"
    await stream.aclose()


async def test_without_a_wake_up_the_stream_polls_the_store() -> None:
    store = MovingCase(reference_case(), shown=1)
    stream = follow("ZB261006-WFF0-0001", 1, initial=store.view, newer_than=store.newer_than,
                    signals=Signals(), present=present, poll=0.02)
    await next_event(stream)
    store.shown = 2  # projected by another instance: nobody wakes this one
    assert parse(await next_event(stream))["id"] == "2"
    assert store.reads >= 1
    await stream.aclose()


async def test_a_quiet_stream_sends_heartbeats() -> None:
    store = MovingCase(reference_case(), shown=8)
    stream = follow("ZB261006-WFF0-0001", 8, initial=store.view, newer_than=store.newer_than,
                    signals=Signals(), present=present, poll=0.01, heartbeat=0.05)
    await next_event(stream)
    assert await next_event(stream) == HEARTBEAT
    await stream.aclose()


async def test_a_merged_case_tells_its_follower_where_to_go() -> None:
    history = (History("ZB261009-DUP0-0005")
               .given(day("10-09"), ev.CaseSubmitted.model_validate(
                   reference_case("ZB261009-DUP0-0005").envelopes[0].data))
               .given(day("10-09", 9, 30), accepted())
               .given(day("10-09", 10), ev.CaseMerged(officer=accepted().officer,
                                                      into_case_id="ZB261006-WFF0-0001")))
    store = MovingCase(history, shown=3)
    stream = follow("ZB261009-DUP0-0005", 3, initial=store.view, newer_than=store.newer_than,
                    signals=Signals(), present=present, poll=30.0)
    await next_event(stream)
    merged = parse(await next_event(stream))
    assert merged == {"event": "merged", "data": '{"into": "ZB261006-WFF0-0001"}'}
    await stream.aclose()
