"""Structured logging: JSON in production and pipes, readable on a terminal.

Bind `case_id`, `event_id` and `correlation_id` with `bound(...)` around work
on one message; every line logged inside carries them. Never log residents'
contact details or addresses at info level: log ids and codes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from aiokafka.errors import (
    CommitFailedError,
    GroupCoordinatorNotAvailableError,
    GroupLoadInProgressError,
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


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Bind ids (case_id, event_id, correlation_id, ...) to every log line inside."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in ids.items() if v is not None}):
        yield
