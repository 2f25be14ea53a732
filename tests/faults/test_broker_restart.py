"""Kafka restarts during a load of submissions (on a private stack of the test's own).

While the broker is away intake answers 503 with Retry-After: never 500, never 201 — and it
answers in bounded time. Every submission answered 201 (or 200, a retry told its case) is in
the log once the broker is back.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from faults.lifecycle import REQUEST
from faults.processes import Fleet
from faults.verify import the_log
from helpers import eventually, read_events, settings_for
from stackfixtures import PrivateStack

from services.common.settings import CommonSettings

AWAY_S = 12.0
SLOWEST_ANSWER_S = 20.0


@dataclass
class Answer:
    sent: float
    answered: float
    status: int | None
    retry_after: str | None
    case_id: str | None


@dataclass
class Submissions:
    answers: list[Answer] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)
    retries: int = 0


async def submit_until(stop: asyncio.Event, http: httpx.AsyncClient, seen: Submissions,
                       worker: int) -> None:
    """Submit cases one after another; a failed one is retried with its Idempotency-Key."""
    number = 0
    while not stop.is_set():
        key = f"broker-{worker}-{number}"
        while True:
            sent = time.monotonic()
            status: int | None
            retry_after: str | None
            case_id: str | None
            try:
                answer = await http.post("/api/cases", json=REQUEST,
                                         headers={"Idempotency-Key": key})
                status, retry_after = answer.status_code, answer.headers.get("retry-after")
                case_id = answer.json().get("case_id") if status in (200, 201) else None
            except httpx.HTTPError:
                status = retry_after = case_id = None
            seen.answers.append(Answer(sent, time.monotonic(), status, retry_after, case_id))
            if case_id is not None:
                seen.accepted.add(case_id)
                break
            if stop.is_set():
                break
            seen.retries += 1
            await asyncio.sleep(0.5)
        number += 1


def private(stack: PrivateStack) -> CommonSettings:
    token = uuid.uuid4().hex[:8]
    return settings_for(stack.info.bootstrap_servers, stack.info.mongo_url, f"b{token}.",
                        f"zb_{token}")


async def test_while_kafka_is_away_intake_answers_503_and_loses_no_accepted_submission(
        private_stack: PrivateStack, tmp_path: Any) -> None:
    settings = private(private_stack)
    started = time.monotonic()
    seen = Submissions()
    stop = asyncio.Event()
    async with Fleet(settings, tmp_path / "logs", names=("intake",)) as fleet:
        async with httpx.AsyncClient(base_url=fleet["intake"].url, timeout=60) as http:
            load = [asyncio.create_task(submit_until(stop, http, seen, w)) for w in range(8)]
            await asyncio.sleep(3.0)
            before = len(seen.accepted)
            await asyncio.to_thread(private_stack.stop, "kafka")
            down_at = time.monotonic()
            await asyncio.sleep(AWAY_S)
            back_from = time.monotonic()
            await asyncio.to_thread(private_stack.start, "kafka")
            up_at = time.monotonic()
            await fleet["intake"].ready(timeout=60)
            after_restart = len(seen.accepted)

            async def accepting_again() -> bool:
                return len(seen.accepted) > after_restart + 8

            try:
                await eventually(accepting_again, timeout=30, what="intake to accept again")
            finally:
                stop.set()
                await asyncio.gather(*load)
            recovered_s = time.monotonic() - up_at

    statuses = [a.status for a in seen.answers]
    assert 500 not in statuses, "a 500 while the broker was away"
    assert set(statuses) <= {200, 201, 503}, sorted(set(map(str, statuses)))
    refused = [a for a in seen.answers if a.status == 503]
    assert refused, "intake never said 503 while the broker was away"
    assert all(a.retry_after for a in refused), "a 503 without Retry-After"
    # sent and answered while the broker was surely away: never accepted
    while_away = [a for a in seen.answers if a.sent >= down_at and a.answered <= back_from]
    assert while_away and all(a.status == 503 for a in while_away), [
        (round(a.sent - down_at, 1), round(a.answered - down_at, 1), a.status)
        for a in seen.answers if a.answered > down_at][:40]
    slowest = max(a.answered - a.sent for a in seen.answers)
    assert slowest < SLOWEST_ANSWER_S, f"a submission waited {slowest:.1f}s for its answer"

    await read_events(settings, min_count=len(seen.accepted))
    logged = (await the_log(settings)).cases  # no two events of a case share a seq, either
    lost = seen.accepted - logged
    assert not lost, f"{len(lost)} submissions answered 201 are not in the log"
    print("\nFAULT FIGURES", json.dumps({
        "test": "kafka restart", "accepted": len(seen.accepted), "accepted_before": before,
        "requests": len(seen.answers), "503s": len(refused), "retries": seen.retries,
        "lost": len(lost), "away_s": round(up_at - down_at, 1),
        "slowest_answer_s": round(slowest, 1), "accepting_again_after_s": round(recovered_s, 1), "logged_cases": len(logged),
        "seconds": round(time.monotonic() - started, 1)}))
