"""A process whose clock is off: libfaketime (Debian's `faketime`, which `make install`
installs) preloaded into `zaiban serve <name>`, as on a host that has no NTP.

Only the wall clock moves (`time.time`, `datetime.now`, what dates events and sweeps
deadlines): the monotonic clock stays true (`FAKETIME_DONT_FAKE_MONOTONIC`), as it does on
such a host, so asyncio's timers, aiokafka's and PyMongo's timeouts and heartbeats run as
they would. The broker and the store are not touched: only the process given this
environment is off.

    Fleet(settings, logs, own={"routing": clock_off_by(300)})   # routing 5 minutes ahead
"""

from __future__ import annotations

from pathlib import Path

LIBRARY = "libfaketimeMT.so.1"
"""The multi-threaded build: a service's process has threads besides its event loop."""
PLACES = ("/usr/lib/*/faketime", "/usr/lib/faketime", "/usr/local/lib/faketime",
          "/usr/lib64/faketime")


class NoFaketime(RuntimeError):
    """libfaketime is not installed."""


def libfaketime() -> Path:
    """Where libfaketime's multi-threaded library is; NoFaketime saying how to get it."""
    for place in PLACES:
        for found in sorted(Path("/").glob(f"{place.lstrip('/')}/{LIBRARY}")):
            return found
    raise NoFaketime(f"no {LIBRARY} in {', '.join(PLACES)}: install libfaketime "
                     "(`make install` does, with apt: the Debian package `faketime`)")


def clock_off_by(seconds: float) -> dict[str, str]:
    """The environment that runs a process with its wall clock `seconds` ahead (negative:
    behind) of the true time, its monotonic clock true."""
    return {"LD_PRELOAD": str(libfaketime()),
            "FAKETIME": f"{seconds:+.3f}",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
