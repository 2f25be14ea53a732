"""The store cannot take a write for a while — its disk is full, it is busy, it is away — and
says so in its own words: one mapping (`store_trouble`) turns that into a clear 503 with
Retry-After at the HTTP edge (Open311's "general service error" 400 on its routes), into a
consumer that waits and warns instead of failing loudly, and into /readyz saying so.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from faststream.exceptions import NackMessage
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
    OperationFailure,
    ServerSelectionTimeoutError,
)
from structlog.testing import capture_logs

from services.common import bus
from services.common.http import install_error_handlers
from services.common.open311.errors import as_open311_error
from services.common.store import (
    OUT_OF_SPACE_RETRY_S,
    WRITES_REFUSED_S,
    Unavailable,
    WriteHealth,
    store_trouble,
)

# What FerretDB 1.24 on SQLite answered on a full tmpfs (insert, update and delete alike)
FERRETDB_FULL = OperationFailure(
    "[msg_insert.go:168 handler.(*Handler).MsgInsert] [db.go:167 fsql.(*DB).InTransaction] "
    "database or disk is full (13)", 1,
    {"ok": 0.0, "errmsg": "[msg_insert.go:168 handler.(*Handler).MsgInsert] [db.go:167 "
     "fsql.(*DB).InTransaction] database or disk is full (13)", "code": 1,
     "codeName": "InternalError"})
MONGODB_FULL = OperationFailure("Out of disk space", 14031,
                                {"ok": 0, "errmsg": "Out of disk space", "code": 14031,
                                 "codeName": "OutOfDiskSpace"})
BULK_FULL = BulkWriteError({"writeErrors": [
    {"index": 0, "code": 1, "errmsg": "database or disk is full (13)"}]})
BUSY = OperationFailure("database is locked (5) (SQLITE_BUSY)", 1)
AWAY = ServerSelectionTimeoutError("127.0.0.1:27017: connection refused")


@pytest.mark.parametrize("error", [FERRETDB_FULL, MONGODB_FULL, BULK_FULL],
                         ids=["ferretdb-sqlite", "mongodb", "bulk-write"])
def test_a_full_disk_is_told_as_such_and_asks_for_a_longer_wait(error: Exception) -> None:
    trouble = store_trouble(error)
    assert trouble is not None
    assert "out of disk space" in trouble.reason
    assert trouble.retry_after_s == OUT_OF_SPACE_RETRY_S


def test_busy_and_away_may_pass_shortly_other_errors_are_not_the_stores_trouble() -> None:
    busy, away = store_trouble(BUSY), store_trouble(AWAY)
    assert busy is not None and "busy" in busy.reason and busy.retry_after_s == 5
    assert away is not None and "cannot be reached" in away.reason
    own = Unavailable("could not draw a free case number; try again")
    assert store_trouble(own) is own
    assert store_trouble(DuplicateKeyError("E11000 duplicate key", 11000)) is None
    assert store_trouble(OperationFailure("unknown operator: $foo", 2)) is None
    assert store_trouble(ValueError("a bug")) is None


def raising(error: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/api/cases")
    async def submit() -> dict[str, Any]:
        raise error

    return app


async def answer_to(error: Exception) -> httpx.Response:
    transport = httpx.ASGITransport(app=raising(error), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://zaiban") as http:
        return await http.post("/api/cases", json={})


async def test_a_write_on_a_full_disk_answers_503_saying_so_with_retry_after() -> None:
    for error in (FERRETDB_FULL, MONGODB_FULL, BULK_FULL):
        answer = await answer_to(error)
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == str(OUT_OF_SPACE_RETRY_S)
        assert "out of disk space" in answer.json()["error"]


async def test_busy_and_away_answer_503_and_a_store_bug_still_500() -> None:
    busy, away = await answer_to(BUSY), await answer_to(AWAY)
    assert (busy.status_code, busy.headers["Retry-After"]) == (503, "5")
    assert (away.status_code, away.headers["Retry-After"]) == (503, "5")
    assert (await answer_to(OperationFailure("unknown operator: $foo", 2))).status_code == 500


def test_open311_answers_a_full_disk_as_its_general_service_error_with_retry_after() -> None:
    answer = as_open311_error(FERRETDB_FULL)
    assert answer is not None and answer.status == 400
    assert answer.headers == {"Retry-After": str(OUT_OF_SPACE_RETRY_S)}
    assert "out of disk space" in answer.descriptions[0]


def test_write_health_says_refused_until_a_write_goes_through_or_the_refusal_is_old() -> None:
    now = [100.0]
    health = WriteHealth(clock=lambda: now[0])
    assert health.ok
    health.refused(Unavailable("the store is out of disk space"))
    assert not health.ok and health.reason == "the store is out of disk space"
    now[0] += WRITES_REFUSED_S - 1
    assert not health.ok
    health.wrote()
    assert health.ok and health.reason is None
    health.refused(Unavailable("full"))
    now[0] += WRITES_REFUSED_S + 1  # nobody tried since: not known to be refused any more
    assert health.ok


def test_one_consumer_writing_does_not_hide_another_refused() -> None:
    health = WriteHealth()
    health.refused(Unavailable("the store is out of disk space"), by="routing:batch")
    health.wrote(by="routing-replies:record")  # a read-only record, say
    assert not health.ok
    health.wrote(by="routing:batch")
    assert health.ok


async def test_a_consumer_waits_for_a_full_store_warning_and_doubling_its_pause(
        monkeypatch: pytest.MonkeyPatch) -> None:
    waited: list[float] = []

    async def wait(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(bus.asyncio, "sleep", wait)
    health = WriteHealth()
    retrying = bus.Retrying("batch", "zaiban-tracking", health)
    with capture_logs() as logged:
        for _ in range(6):
            with pytest.raises(NackMessage):  # the batch comes again; FastStream logs no error
                await retrying.failed(FERRETDB_FULL, size=3)
        assert not health.ok
        retrying.succeeded()
    assert waited == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert health.ok and retrying.refusals == 0
    assert [(e["event"], e["log_level"]) for e in logged] == [
        ("batch_waits_for_store", "warning")] * 6 + [("batch_store_writes_again", "warning")]
    assert "out of disk space" in logged[0]["reason"] and logged[0]["retry_in_s"] == 1.0


async def test_a_consumer_failing_otherwise_logs_the_error_and_raises_it_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def wait(seconds: float) -> None:
        pass

    monkeypatch.setattr(bus.asyncio, "sleep", wait)
    health = WriteHealth()
    retrying = bus.Retrying("batch", "zaiban-tracking", health)
    with capture_logs() as logged:
        try:
            raise ValueError("a bug")
        except ValueError as error:
            await retrying.failed(error)  # returns: the caller raises the error itself
    assert health.ok and retrying.refusals == 0
    assert [(e["event"], e["log_level"]) for e in logged] == [
        ("batch_failed_will_retry", "error")]
