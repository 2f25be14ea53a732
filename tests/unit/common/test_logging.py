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
    NodeNotReadyError,
)
from helpers import TEST_SECRET

from services.common.bus import broker_logger
from services.common.logging import (
    BROKER_AWAY_REPEATS,
    CoordinatorNotYetKnown,
    Repeats,
    configure_logging,
)
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


def test_a_broker_away_is_said_once_in_a_while_not_thousands_of_times_a_second() -> None:
    """aiokafka retries a broker that is away with no pause and logs every try: each of its
    messages is let through once per window, the next one saying how many were held back;
    a message of another kind, or of our own, is never held."""
    now = [0.0]
    repeats = Repeats(window_s=10.0, clock=lambda: now[0])

    def line(name: str, msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)

    unable = "Unable connect to node with id %s: %s"
    said = []
    for tick in range(2000):  # 20 s of a tight loop, one try every 10 ms
        now[0] = tick / 100
        for record in (line("aiokafka", unable, 1, "[Errno 111] Connection refused"),
                       line("aiokafka", "Unable to update metadata from %s", [1])):
            if repeats.filter(record):
                said.append(record.getMessage())
    assert said == [
        "Unable connect to node with id 1: [Errno 111] Connection refused",
        "Unable to update metadata from [1]",
        "Unable connect to node with id 1: [Errno 111] Connection refused "
        "(999 more like it held back in 10 s)",
        "Unable to update metadata from [1] (999 more like it held back in 10 s)",
    ]
    other_node = line("aiokafka", unable, 2, "[Errno 111] Connection refused")
    assert repeats.filter(other_node)
    not_ready = NodeNotReadyError("Attempt to send a request to node which is not ready")
    coordinator = [line("aiokafka.consumer.group_coordinator", LOOKUP_FAILED, not_ready)
                   for _ in range(3)]
    assert [repeats.filter(record) for record in coordinator] == [True, False, False]
    others = [line("aiokafka.consumer.group_coordinator", "Heartbeat session expired"),
              line("aiokafka.consumer.group_coordinator", LOOKUP_FAILED,
                   GroupLoadInProgressError()),
              line("zaiban.intake", "submission_failed")] * 3
    assert all(repeats.filter(record) for record in others)


def test_every_service_holds_back_aiokafkas_repeats() -> None:
    configure_logging(CommonSettings(auth_secret=TEST_SECRET))
    assert all(BROKER_AWAY_REPEATS in logging.getLogger(name).filters
               for name in ("aiokafka", "aiokafka.consumer.fetcher",
                            "aiokafka.consumer.group_coordinator", "aiokafka.producer.sender"))
