"""Following a case live: server-sent events of its new timeline entries.

A stream does not depend on the projection running in the same process
(tracking runs as N instances, and the partition of a case may be projected
by another one). Each open stream:

1. sends the entries after the last one the client saw (`Last-Event-ID`, or
   `?after=`, else from the start);
2. then waits for news: a cheap indexed read of the case's document, only if
   its `seq` moved past the last one sent (`{"_id": id, "seq": {"$gt": last}}`),
   every `poll` seconds; when this process projected the case itself, the
   projection wakes the stream at once (`Signals`), so same-instance updates
   arrive without the polling delay;
3. sends a comment line every `heartbeat` seconds so proxies keep the
   connection, and ends after `max_age` seconds (the browser's EventSource
   reconnects with `Last-Event-ID` and misses nothing).

Every event is `id: <seq>`, `event: entry`, `data: <entry JSON>`. A case
merged into another sends, once per connection, `event: merged` with
`data: {"into": "<case id>"}` (no id): a client then follows the original.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any

from contracts.facts import CaseStatus
from services.common.sse import HEARTBEAT, Pace
from services.tracking.timeline import CaseView, Entry


class Signals:
    """Wakes the streams of this process when its projection changed a case."""

    def __init__(self) -> None:
        self._events: weakref.WeakValueDictionary[str, asyncio.Event] = (
            weakref.WeakValueDictionary())

    def watch(self, case_id: str) -> asyncio.Event:
        """The event to wait on; take it *before* reading the store, so no wake-up is lost."""
        event = self._events.get(case_id)
        if event is None:
            event = asyncio.Event()
            self._events[case_id] = event
        return event

    def notify(self, case_ids: Iterable[str]) -> None:
        for case_id in case_ids:
            event = self._events.pop(case_id, None)
            if event is not None:
                event.set()


def sse_event(entry: dict[str, Any], seq: int) -> str:
    data = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
    return f"id: {seq}\nevent: entry\ndata: {data}\n\n"


def sse_merged(into: str) -> str:
    return f"event: merged\ndata: {json.dumps({'into': into})}\n\n"


async def follow(
    case_id: str,
    after: int,
    *,
    initial: CaseView | None,
    newer_than: Callable[[str, int], Awaitable[CaseView | None]],
    signals: Signals,
    present: Callable[[Entry], dict[str, Any]],
    staff: bool = False,
    poll: float = 0.5,
    heartbeat: float = 15.0,
    max_age: float = 3600.0,
    disconnected: Callable[[], Awaitable[bool]] | None = None,
    retry_ms: int = 2000,
) -> AsyncGenerator[str, None]:
    """The text of the event stream of one case, from after `after`, for `max_age` seconds.

    `initial` is the view the caller read to check the case exists (and the
    reader may see it); entries after `after` in it are sent first.
    """
    pace = Pace(heartbeat=heartbeat, max_age=max_age)
    seen = after
    told_merged = False
    yield f"retry: {retry_ms}\n\n"
    view = initial
    wake = signals.watch(case_id)
    while True:
        if view is not None:
            for entry in view.entries_after(seen, staff=staff):
                yield sse_event(present(entry), entry.seq)
                pace.sent()
            seen = max(seen, view.seq)
            if view.status is CaseStatus.MERGED and view.merged_into and not told_merged:
                told_merged = True
                yield sse_merged(view.merged_into)
        if await pace.over(disconnected):
            return
        if pace.heartbeat_due():
            yield HEARTBEAT
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=poll)
        wake = signals.watch(case_id)
        view = await newer_than(case_id, seen)
