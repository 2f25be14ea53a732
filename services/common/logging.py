"""Structured logging: JSON in production and pipes, readable on a terminal.

Bind `case_id`, `event_id` and `correlation_id` with `bound(...)` around work
on one message; every line logged inside carries them. Never log residents'
contact details or addresses at info level: log ids and codes.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from aiokafka.errors import (
    CommitFailedError,
    GroupCoordinatorNotAvailableError,
    GroupLoadInProgressError,
    NodeNotReadyError,
)

from services.common.settings import CommonSettings

_configured = False


def configure_logging(settings: CommonSettings) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    json_output = settings.log_format == "json" or (
        settings.log_format == "auto" and not sys.stderr.isatty()
    )
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries log through the standard library; keep them quiet unless asked.
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr)
    # One filter object: configure_logging runs once per service built, and addFilter keeps a
    # filter it already has only once.
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
    coordinator.addFilter(COORDINATOR_NOT_YET_KNOWN)
    coordinator.addFilter(COMMIT_LOST_TO_A_REBALANCE)
    for name in Repeats.LOGGERS:
        logging.getLogger(name).addFilter(BROKER_AWAY_REPEATS)


class CoordinatorNotYetKnown(logging.Filter):
    """aiokafka's "Group Coordinator Request failed" for a coordinator that is not there yet,
    logged as the WARNING it is rather than as an ERROR.

    aiokafka logs each failed coordinator lookup at ERROR and, when the broker's error is
    retriable, asks again. Coordinator not available and coordinator loading are what a broker
    answers while __consumer_offsets is being created, led or loaded (a fresh or restarted
    broker): transient, and retried. Any other failure of that lookup stays an ERROR.
    """

    TRANSIENT = (GroupCoordinatorNotAvailableError, GroupLoadInProgressError)

    def filter(self, record: logging.LogRecord) -> bool:
        if (record.levelno == logging.ERROR
                and record.msg == "Group Coordinator Request failed: %s"
                and isinstance(record.args, tuple)
                and any(isinstance(arg, self.TRANSIENT) for arg in record.args)):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


COORDINATOR_NOT_YET_KNOWN = CoordinatorNotYetKnown()


class CommitLostToARebalance(logging.Filter):
    """A batch's offset commit refused because the group rebalanced meanwhile (another
    copy of the service started or stopped), logged as one WARNING line rather than as
    aiokafka's ERROR and FastStream's CRITICAL with a traceback.

    Nothing is lost: the offset stays where it was, the batch's partitions now belong to
    another member (or to this one again), which reads the batch once more, and every
    consumer applies an event once by its seq. Scaling a service out or in does this on
    every rebalance; it is not an error. Any other commit failure stays what it was.
    """

    REJOIN = ("OffsetCommit failed for group %s due to group error (%s), will rejoin",
              "OffsetCommit failed before join, ignoring: %s")

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, CommitFailedError):
            record.msg, record.args = ("commit_lost_to_a_rebalance: the batch is read again "
                                       "by the partitions' new owner"), ()
            record.exc_info, record.exc_text = None, None
        elif not (record.levelno == logging.ERROR and record.msg in self.REJOIN):
            return True
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


COMMIT_LOST_TO_A_REBALANCE = CommitLostToARebalance()


class Repeats(logging.Filter):
    """aiokafka's lines about a broker it cannot reach, each let through once per `window_s`,
    the next one saying how many were held back meanwhile.

    While the broker is away, aiokafka's metadata task and its fetcher wake each other with
    no pause (aio-libs/aiokafka#496) and log every try: 637,000 ERROR lines from four
    services in one 45 s broker restart (zaiban chaos broker), 632,000 of them the first four
    below, most of the rest the coordinator's and the producer's "node not ready".
    An operator needs to read that the broker is away and for how long, not a log that
    fills the disk. A line is held back only when it is the very same as one let through
    (the same node, the same error); every other line of aiokafka's, and all of ours, pass.
    """

    STORMS = frozenset({
        "Unable connect to node with id %s: %s",  # aiokafka.client
        'Unable connect to "%s:%s": %s',
        "Unable to update metadata from %s",
        "Failed fetch messages from %s: %s",  # aiokafka.consumer.fetcher
    })
    NODE_NOT_READY = frozenset({
        "Group Coordinator Request failed: %s",  # aiokafka.consumer.group_coordinator
        "Got error produce response: %s",  # aiokafka.producer.sender
    })
    """Held back only when they say the broker's node is not ready (the broker away): any
    other failure of theirs passes every time."""
    LOGGERS = ("aiokafka", "aiokafka.consumer.fetcher", "aiokafka.consumer.group_coordinator",
               "aiokafka.producer.sender")
    REMEMBERED = 1_000

    def __init__(self, window_s: float = 10.0, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.window_s, self.clock = window_s, clock
        self._last: dict[str, tuple[float, int]] = {}
        """A line → when it was last let through, and how many were held back since."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not (record.msg in self.STORMS or (
                record.msg in self.NODE_NOT_READY and isinstance(record.args, tuple)
                and any(isinstance(arg, NodeNotReadyError) for arg in record.args))):
            return True
        line, now = record.getMessage(), self.clock()
        let_through, held = self._last.get(line, (None, 0))
        if let_through is not None and now - let_through < self.window_s:
            self._last[line] = (let_through, held + 1)
            return False
        if len(self._last) >= self.REMEMBERED:
            self._last.clear()
        self._last[line] = (now, 0)
        if held and let_through is not None:
            record.msg, record.args = (f"{line} ({held} more like it held back "
                                       f"in {now - let_through:.0f} s)"), ()
        return True


BROKER_AWAY_REPEATS = Repeats()


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Bind ids (case_id, event_id, correlation_id, ...) to every log line inside."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in ids.items() if v is not None}):
        yield
