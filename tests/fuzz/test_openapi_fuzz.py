"""Fuzzing the public entry's OpenAPI with schemathesis: every endpoint, thousands of
generated requests, valid and invalid, many with a real staff token, a real tracking
code and a real case number so that they get past the door. None may answer 5xx.

All services run in-process on the real stack, as `make up` runs them. Schemathesis
generates the requests from `app.openapi()` in a process of its own
(generate_requests.py: generating is the slow part, so it gets the other core); this
test sends them as they come through an in-process HTTP client on its own event
loop, where the services' Kafka and Mongo clients live. Generation is derandomized,
so a run repeats the last one; ZAIBAN_FUZZ_RANDOM=1 explores new ground and
ZAIBAN_FUZZ_EXAMPLES sets the requests per endpoint and mode (valid, invalid): 15 by
default, which reaches every endpoint in each mode within the suite's budget; more, or
random, for a longer hunt.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import TEST_SECRET
from security.public_entry import (
    ADMIN,
    DEPARTMENT_A,
    OFFICER,
    REPORTER,
    SUPERVISOR,
    cases_in,
    client,
    public_entry,
    upload_photo,
)

from contracts.facts import Role
from services.common.auth import issue_token
from services.common.settings import CommonSettings

EXAMPLES = int(os.environ.get("ZAIBAN_FUZZ_EXAMPLES", "15"))
RANDOM = os.environ.get("ZAIBAN_FUZZ_RANDOM") == "1"
GENERATOR = Path(__file__).with_name("generate_requests.py")
IN_FLIGHT = 8
CALLERS: dict[str, dict[str, str]] = {
    "as generated": {}, "officer": OFFICER, "supervisor": SUPERVISOR, "reporter": REPORTER,
    "department": DEPARTMENT_A, "admin": ADMIN, "resident": {}, "integrator": {}}
"""Whose credentials a request carries: none but what was generated, a staff token, the
tracking code of the case it names (resident), an Open311 API key (integrator)."""


@dataclass
class Tally:
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    unsendable: Counter[str] = field(default_factory=Counter)
    not_generated: list[str] = field(default_factory=list)

    def record(self, line: dict[str, Any], answer: httpx.Response) -> None:
        self.sent[line["label"]] += 1
        self.statuses[answer.status_code] += 1
        if answer.status_code >= 500 and not says_not_ready(line, answer):
            self.server_errors.append(
                f"{line['label']} ({line['mode']}, as {line['caller']}) -> "
                f"{answer.status_code} {answer.text[:200]}\n    {line['curl']}")


def says_not_ready(line: dict[str, Any], answer: httpx.Response) -> bool:
    """/readyz answering 503 with what is not ready is its documented answer, not a server
    error: a probe on a busy machine can find the store slower than its 2 s to answer."""
    if answer.status_code != 503 or not line["label"].endswith("/readyz"):
        return False
    try:
        return answer.json().get("ready") is False
    except ValueError:
        return False


async def send_all(http: httpx.AsyncClient, job: dict[str, Any], tally: Tally,
                   scratch: Path) -> None:
    """Run the generator and send each request it writes, a few at a time."""
    generator = await asyncio.create_subprocess_exec(
        sys.executable, str(GENERATOR), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, limit=16 * 1024 * 1024,
        env={**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": str(scratch)})  # not in the repo
    assert generator.stdin and generator.stdout
    generator.stdin.write(json.dumps(job).encode())
    await generator.stdin.drain()
    generator.stdin.close()
    slots = asyncio.Semaphore(IN_FLIGHT)
    sending: set[asyncio.Task[None]] = set()

    async def send(line: dict[str, Any]) -> None:
        try:
            request = line["request"]
            answer = await http.request(
                request["method"], request["url"], headers=request["headers"],
                content=base64.b64decode(request["body"]))
            tally.record(line, answer)
        finally:
            slots.release()

    async for raw in generator.stdout:
        line = json.loads(raw)
        if line.get("done"):
            tally.not_generated = line["not_generated"]
        elif "unsendable" in line:
            tally.unsendable[line["unsendable"]] += 1
        else:
            await slots.acquire()
            task = asyncio.create_task(send(line))
            sending.add(task)
            task.add_done_callback(sending.discard)
    await asyncio.gather(*sending)
    assert await generator.wait() == 0, "the request generator failed"


@pytest.mark.timeout(600)
async def test_no_generated_request_gets_a_server_error(settings: CommonSettings,
                                                        tmp_path: Path) -> None:
    started = time.monotonic()
    async with (public_entry(settings, tracking_live_max_age_s=0.2) as app,
                client(app) as http):
        cases = await cases_in(http, ["submitted", "accepted", "routed", "resolved", "routed"])
        job: dict[str, Any] = {"openapi": app.openapi(), "examples": EXAMPLES, "derandomize": not RANDOM,
               "cases": [{"case_id": c.case_id, "code": c.code} for c in cases],
               "photo": await upload_photo(http), "callers": CALLERS,
               "api_key": issue_token(TEST_SECRET, "fuzzer", Role.OFFICER, kind="api_key")}
        tally = Tally()
        await send_all(http, job, tally, tmp_path)

    operations = {f"{method.upper()} {path}" for path, item in job["openapi"]["paths"].items()
                  for method in item}
    total = sum(tally.sent.values())
    print(f"\nfuzz: {len(operations)} operations, {total} requests in "
          f"{time.monotonic() - started:.0f} s, {len(tally.server_errors)} answered 5xx; "
          f"statuses {dict(sorted(tally.statuses.items()))}; no client could send "
          f"{sum(tally.unsendable.values())} {dict(tally.unsendable)}; "
          f"not generated: {tally.not_generated}")
    assert not tally.server_errors, "\n".join(tally.server_errors[:20])
    assert not operations - set(tally.sent), f"never reached: {operations - set(tally.sent)}"
    assert total >= 1000, f"only {total} requests were sent"
