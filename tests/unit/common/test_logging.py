"""Logging: a consumer that meets a broker still settling says so as a warning, not an error;
every other error from the same library stays an error."""

from __future__ import annotations

import inspect
import logging

import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import (
    CommitFailedError,
    GroupCoordinatorNotAvailableError,
    GroupLoadInProgressError,
    KafkaConnectionError,
    KafkaTimeoutError,
)
from helpers import TEST_SECRET

from services.common.bus import broker_logger
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


REJOIN = "OffsetCommit failed for group %s due to group error (%s), will rejoin"


def test_a_commit_lost_to_a_rebalance_is_one_warning_without_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    """Scaling a service out or in rebalances its group: a batch's commit refused then is
    read again by the partitions' new owner — a warning, not aiokafka's ERROR nor
    FastStream's CRITICAL with a traceback. Other commit failures stay as they were."""
    configure_logging(CommonSettings(auth_secret=TEST_SECRET))
    coordinator = logging.getLogger(COORDINATOR)
    broker = broker_logger("metrics")  # FastStream logs a handler's failure there
    refused = CommitFailedError("the group has already rebalanced")
    with caplog.at_level(logging.WARNING):
        coordinator.error(REJOIN, "zaiban-metrics", "IllegalGenerationError")
        broker.log(logging.CRITICAL, repr(refused), exc_info=refused)
        broker.log(logging.CRITICAL, "KafkaTimeoutError()", exc_info=KafkaTimeoutError())
        coordinator.error("OffsetCommit failed for group %s - %s", "g", "GroupAuthorization")
    found = [(r.levelname, r.getMessage().split(":")[0], r.exc_info is not None)
             for r in caplog.records]
    assert found == [
        ("WARNING", "OffsetCommit failed for group zaiban-metrics due to group error "
                    "(IllegalGenerationError), will rejoin", False),
        ("WARNING", "commit_lost_to_a_rebalance", False),
        ("CRITICAL", "KafkaTimeoutError()", True),
        ("ERROR", "OffsetCommit failed for group g - GroupAuthorization", False),
    ]
    # if aiokafka words the line differently one day, the filter would match nothing
    source = "".join(inspect.getsource(GroupCoordinator._do_commit_offsets).split())
    assert "".join(f'"{REJOIN}"'.split()).replace('""', "") in source.replace('""', "")
