"""The pace of a server-sent event stream: when to send a heartbeat, when to end.

A stream that has nothing to send for a while sends a comment line (`HEARTBEAT`), so that
proxies in between keep the connection; it ends after `max_age` seconds, or as soon as the
client has gone, and the browser's EventSource reconnects with its `Last-Event-ID` and misses
nothing. The case timeline's stream (services/tracking/live.py) and the open-data feed's
(services/opendata/routes.py) keep the same pace.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

HEARTBEAT = ": keep-alive\n\n"


class Pace:
    """One stream's clock: since when it runs, and when it last sent something."""

    def __init__(self, *, heartbeat: float, max_age: float) -> None:
        self.heartbeat = heartbeat
        self.max_age = max_age
        self.started = self.last_sent = time.monotonic()

    def sent(self) -> None:
        """Something was sent: the heartbeat can wait."""
        self.last_sent = time.monotonic()

    async def over(self, disconnected: Callable[[], Awaitable[bool]] | None) -> bool:
        """The stream should end: the client has gone, or the stream is old enough."""
        if disconnected is not None and await disconnected():
            return True
        return time.monotonic() - self.started >= self.max_age

    def heartbeat_due(self) -> bool:
        """Quiet for a heartbeat's time: send one now (this counts it as sent)."""
        if time.monotonic() - self.last_sent < self.heartbeat:
            return False
        self.sent()
        return True
