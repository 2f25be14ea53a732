"""Logging: a consumer that meets a broker still settling says so as a warning, not an error;
every other error from the same library stays an error."""

from __future__ import annotations

import inspect
import logging

import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import (
    GroupCoordinatorNotAvailableError,
    GroupLoadInProgressError,
    KafkaConnectionError,
)
from helpers import TEST_SECRET

from services.common.logging import CoordinatorNotYetKnown, configure_logging
from services.common.settings import CommonSettings

COORDINATOR = "aiokafka.consumer.group_coordinator"
LOOKUP_FAILED = "Group Coordinator Request failed: %s"


def levels(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(record.levelname, record.getMessage()) for record in caplog.records]


def test_a_coordinator_not_there_yet_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging(CommonSettings(auth_secret=TEST_SECRET))  # as every service does first
    log = logging.getLogger(COORDINATOR)
    with caplog.at_level(logging.WARNING, logger=COORDINATOR):
        log.error(LOOKUP_FAILED, GroupCoordinatorNotAvailableError())
        log.error(LOOKUP_FAILED, GroupLoadInProgressError())
        log.error(LOOKUP_FAILED, KafkaConnectionError("broker gone"))
        log.error("Heartbeat session expired - marking coordinator dead")
    assert levels(caplog) == [
        ("WARNING", "Group Coordinator Request failed: [Error 15] "
                    "GroupCoordinatorNotAvailableError"),
        ("WARNING", "Group Coordinator Request failed: [Error 14] GroupLoadInProgressError"),
        ("ERROR", "Group Coordinator Request failed: KafkaConnectionError: broker gone"),
        ("ERROR", "Heartbeat session expired - marking coordinator dead"),
    ]


def test_the_filter_follows_the_line_aiokafka_writes_when_it_retries() -> None:
    """If aiokafka words the line differently one day, the filter would match nothing."""
    lookup = inspect.getsource(GroupCoordinator.ensure_coordinator_known)
    assert f'log.error("{LOOKUP_FAILED}", err)' in lookup
    configure_logging(CommonSettings(auth_secret=TEST_SECRET))
    assert any(isinstance(f, CoordinatorNotYetKnown)
               for f in logging.getLogger(COORDINATOR).filters)
