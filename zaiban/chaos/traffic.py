"""A load of cases driven through their whole lifecycle over HTTP, as real clients would:
a resident submits (with an Idempotency-Key, so a retry makes no second case), an officer
accepts, routing routes it by itself, the department acknowledges and — for the article's
share of cases, 25,807 of 30,148 — resolves; the others stay in its hands.

A request that finds the service away (no connection, 503) is retried after a pause; a
command that finds the case not there yet (routing has not read the acceptance) waits.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from contracts.facts import Role
from services.common.auth import issue_token
from zaiban.bench.workload import is_resolved
from zaiban.chaos.fleet import Tally, call

REQUEST: dict[str, Any] = {
    "category": "traffic-signals",
    "description": "沙口路王府坟菜市场门口的红绿灯不亮了，过马路很危险。",
    "location": {"district": "zhongyuan", "street": "沙口路王府坟菜市场门口"},
    "attributes": {"signal_state": "dark"},
    "contact": {"name": "李女士", "phone": "13800000000"},
}
"""The article's reference case, as a resident's browser submits it: the dark traffic
lights at the gate of the Wangfufen vegetable market (the signal company's, by the rules)."""

ARTICLE = (30_148, 25_807)
"""Received and resolved, as the article counts them: the share of cases resolved."""

RETRY_PAUSE_S = 0.3
MAX_PAUSE_S = 2.0
TRANSIENT = {502, 503, 504}


@dataclass
class Load:
    """What the clients were told: cases accepted (201/200 on submission), cases resolved."""

    tally: Tally = field(default_factory=Tally)
    submitted: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)
    open: set[str] = field(default_factory=set)
    """Acknowledged and left in the department's hands, as the article's unresolved share."""
    stuck: dict[str, str] = field(default_factory=dict)
    refused_503: int = 0
    retry_after_missing: int = 0
    unexpected: list[str] = field(default_factory=list)
    last_answers: dict[str, str] = field(default_factory=dict)


def bearer(secret: SecretStr, role: Role, department: str | None, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(secret, subject, role, department)}"}


class Clients:
    """The officer's and the signal company's HTTP clients, with tokens signed by `secret`."""

    def __init__(self, intake: str, routing: str, secret: SecretStr,
                 timeout: float = 30.0) -> None:
        self.intake = httpx.AsyncClient(base_url=intake, timeout=timeout)
        self.routing = httpx.AsyncClient(base_url=routing, timeout=timeout)
        self.officer = bearer(secret, Role.OFFICER, None, "officer-chaos")
        self.department = bearer(secret, Role.DEPARTMENT, "signal-co", "signal-desk")

    async def aclose(self) -> None:
        await self.intake.aclose()
        await self.routing.aclose()


async def _until(load: Load, http: httpx.AsyncClient, path: str, body: Mapping[str, object],
                 headers: dict[str, str], done_when: tuple[str, ...], deadline: float,
                 what: str) -> httpx.Response | None:
    """POST until answered 2xx (or a 409 saying it is done already); None past the deadline."""
    first, failed, pause = True, False, RETRY_PAUSE_S
    last = "no answer"
    while time.monotonic() < deadline:
        if not first:
            # a client backs off: polling a lagging service harder only slows it down
            await asyncio.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, MAX_PAUSE_S)
        if failed:
            load.tally.retries += 1
        answer = await call(http, load.tally, "POST", path, json=body, headers=headers)
        last = "unreachable" if answer is None else f"{answer.status_code} {answer.text[:160]}"
        failed = answer is None or answer.status_code in TRANSIENT
        if answer is not None and answer.status_code == 503:
            load.refused_503 += 1
            if "retry-after" not in answer.headers:
                load.retry_after_missing += 1
        first = False
        if answer is None or failed:
            continue
        if answer.status_code < 300:
            return answer
        if answer.status_code == 409 and any(word in answer.text for word in done_when):
            return answer
        if answer.status_code == 403 and "with no department" in answer.text:
            load.tally.waits += 1  # not routed yet: the department cannot see it so far
            continue
        if answer.status_code not in (404, 409):  # a 500, or a refusal no client could fix
            load.unexpected.append(f"{what} {path}: {answer.status_code} {answer.text[:200]}")
            return None
        load.tally.waits += 1  # not there yet: routing has not read the case so far
    load.last_answers[path] = last
    return None


def path_of(case_id: str, action: str) -> str:
    return f"/api/cases/{case_id}/{action}"


async def one_case(load: Load, clients: Clients, number: int, key_prefix: str,
                   within_s: float, resolves: bool = True) -> None:
    """One case through its lifecycle; each step is tried for `within_s` at most."""
    headers = {"Idempotency-Key": f"{key_prefix}-{number}"}
    receipt = await _until(load, clients.intake, "/api/cases", REQUEST, headers, (),
                           time.monotonic() + within_s, "submit")
    if receipt is None:  # never accepted: the client was never told "accepted"
        load.unexpected.append(f"submission {number} not accepted in {within_s:g} s: "
                               f"{load.last_answers.get('/api/cases')}")
        return
    case_id: str = receipt.json()["case_id"]
    load.submitted.add(case_id)
    steps = [
        (clients.intake, "accept", {"note": "已核实"}, clients.officer, ("only a submitted case",)),
        (clients.routing, "acknowledge", {"note": "收到"}, clients.department,
         ("already acknowledged", "it is resolved")),
        (clients.routing, "resolve", {"resolution": "信号机已修复"}, clients.department,
         ("already resolved",)),
    ][:None if resolves else 2]
    for http, action, body, who, done_when in steps:
        answer = await _until(load, http, path_of(case_id, action), body, who,
                              done_when, time.monotonic() + within_s, action)
        if answer is None:
            load.stuck[case_id] = f"{action}: {load.last_answers.get(path_of(case_id, action))}"
            return
    if resolves:
        load.resolved.add(case_id)
    else:
        load.open.add(case_id)


async def drive(load: Load, clients: Clients, cases: int, *, workers: int = 16,
                key_prefix: str = "fault", within_s: float = 150.0,
                until: asyncio.Future[Any] | None = None, article: bool = False) -> int:
    """Drive `cases` cases through the lifecycle with `workers` concurrent clients, and, when
    `until` is given, more cases until it is done too: every worker is amid a case as long
    as `until` runs, however fast the machine. `article`: only the article's share of them
    is resolved. A client tries each step of a case for `within_s` at most (then the case
    is `stuck`, or its submission `unexpected`). Returns the number of cases driven."""
    taken = 0

    def more() -> bool:
        return taken < cases or (until is not None and not until.done())

    async def worker() -> None:
        nonlocal taken
        while more():
            number, taken = taken, taken + 1
            resolves = not article or is_resolved(number % ARTICLE[0], *ARTICLE)
            await one_case(load, clients, number, key_prefix, within_s, resolves)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return taken
