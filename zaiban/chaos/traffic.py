"""A load of cases driven through their whole lifecycle, as real clients would: a resident
submits (with an Idempotency-Key, so a retry makes no second case), an officer accepts,
routing routes it by itself, the department acknowledges and — for the article's share of
cases, 25,807 of 30,148 — resolves; the others stay in its hands.

By default every client speaks HTTP (the fault scenarios). A `Mix` spreads the cases over
the other ways in: a share submitted through Open311 (`POST /open311/v2/requests.json`, an
integrator's api_key) or on the bus (a frontend's sealed submission on the submissions
topic, the case number from its receipt), a share answered by the department's own system
on the bus (its cases topic in, its replies topic out: `Bus`), and a share of resolved
cases answered by the resident with the tracking code (`POST /api/cases/{id}/feedback`).
Which way a case goes is decided by its number alone, so a run is the same every time.

A request that finds the service away (no connection, 503) is retried after a pause; a
command that finds the case not there yet (routing has not read the acceptance) waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import random
import ssl
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import SecretStr

from contracts.case_commands import SealedSubmission
from contracts.facts import Role
from contracts.receipts import SubmissionReceipt
from contracts.topics import Topics
from services.common.auth import issue_token
from services.common.kafka import ADMIN, kafka_options
from services.common.keys import DataKey, open_for, public_key_text, recipient_key, seal_for
from services.common.settings import CommonSettings
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

OPEN311_REQUEST: dict[str, str] = {
    "jurisdiction_id": "zhengzhou.gov.cn", "service_code": "traffic-signals",
    "lat": "34.7995", "long": "113.6390", "attribute[signal_state]": "dark",
    "description": "沙口路王府坟菜市场门口的红绿灯不亮了，过马路很危险。",
    "first_name": "秀英", "last_name": "李", "phone": "13800000000",
}
"""The same report from an Open311 client (GeoReport v2, form-encoded; its api_key added)."""

DEPARTMENT = "signal-co"
"""Who the rules route the traffic lights to: the department that answers."""
RESOLVED = b'"CaseResolved"'
"""How a resolution looks in a case log record (its `type`)."""

ARTICLE = (30_148, 25_807)
"""Received and resolved, as the article counts them: the share of cases resolved."""

RETRY_PAUSE_S = 0.3
MAX_PAUSE_S = 2.0
TRANSIENT = {502, 503, 504}


@dataclass(frozen=True)
class Mix:
    """Which way each case goes, in percent of cases (the rest: HTTP, no answer).

    `open311` and `bus`: of submissions; `department_on_bus`: of cases, the department's
    own system acknowledges (and resolves) on the bus instead of over HTTP; `answered`: of
    resolved cases, the resident answers; `disputed`: of those answers, fixed but not
    satisfied (a dispute for supervision), the others fixed and satisfied (the case
    closes). Nobody says "not fixed": a reopened case would take a resolution back from
    the article's figures."""

    open311: int = 0
    bus: int = 0
    department_on_bus: int = 0
    answered: int = 0
    disputed: int = 0

    @staticmethod
    def _within(number: int, percent: int, decision: str) -> bool:
        # each decision a fixed scattering of its own (a digest of the decision and the
        # number), so that the shares are independent: one scattering shifted for each had
        # made the decisions' slots never meet (no answered case was ever disputed, and every
        # case the department answered on the bus was answered by its resident)
        digest = hashlib.blake2b(f"{decision}/{number}".encode(), digest_size=4).digest()
        return int.from_bytes(digest, "big") % 100 < percent

    def channel(self, number: int) -> str:
        slot = (number * 37) % 100
        if slot < self.open311:
            return "open311"
        if slot < self.open311 + self.bus:
            return "bus"
        return "web"

    def department_answers_on_bus(self, number: int) -> bool:
        return self._within(number, self.department_on_bus, "department")

    def answer(self, number: int) -> dict[str, Any] | None:
        """What the resident says once the case is resolved (None: nothing)."""
        if not self._within(number, self.answered, "answer"):
            return None
        if self._within(number, self.disputed, "dispute"):
            return {"fixed": True, "satisfied": False, "rating": 2, "comment": "修好了，但等太久"}
        return {"fixed": True, "satisfied": True, "rating": 5}


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
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """Seconds each command's answer took (the answer that did it, not the retries before),
    by command: `submit (web)`, `accept`, ..., `submit (bus)` from publish to receipt."""
    ways: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """How many cases went each way (`submitted web`, `answered on the bus`, ...)."""


def bearer(secret: SecretStr, role: Role, department: str | None, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(secret, subject, role, department)}"}


class Clients:
    """The officer's and the signal company's HTTP clients, with tokens signed by `secret`;
    an Open311 client's api_key; and, for a mix with a share on the bus, `bus`.

    `lanes`: how many pairs of HTTP clients, each worker of `drive` using one (`lane`). One
    client shared by many workers keeps a connection pool that httpcore reorganises, at
    every request, over all the requests and connections it holds: profiled, half of the
    load generator's CPU at 64 workers, which a bench on a small machine takes from the
    services. A lane of its own holds one connection per service."""

    def __init__(self, intake: str, routing: str, secret: SecretStr,
                 timeout: float = 30.0, bus: Bus | None = None, lanes: int = 1) -> None:
        # one TLS context for all (an httpx client loads the CA bundle for its own: ~30 ms)
        tls = ssl.create_default_context()
        self._http = [(httpx.AsyncClient(base_url=intake, timeout=timeout, verify=tls),
                       httpx.AsyncClient(base_url=routing, timeout=timeout, verify=tls))
                      for _ in range(max(lanes, 1))]
        self.intake, self.routing = self._http[0]
        self.officer = bearer(secret, Role.OFFICER, None, "officer-chaos")
        self.department = bearer(secret, Role.DEPARTMENT, DEPARTMENT, "signal-desk")
        self.open311_key = issue_token(secret, "city-app", Role.OFFICER, kind="api_key")
        self.bus = bus

    def lane(self, worker: int) -> Clients:
        """These clients, with the HTTP clients of `worker`'s lane (themselves with one lane)."""
        if len(self._http) == 1:
            return self
        lane = copy.copy(self)
        lane.intake, lane.routing = self._http[worker % len(self._http)]
        return lane

    async def aclose(self) -> None:
        for pair in self._http:
            for http in pair:
                await http.aclose()
        if (self.intake, self.routing) not in self._http:  # replaced after it was made
            await self.intake.aclose()
            await self.routing.aclose()


class Bus:
    """A frontend and a department's own system on the bus, as the tests' raw clients are
    (ADMIN; a real one has a principal of its own, which costs the services nothing more).

    The frontend seals each submission for intake's key (`GET /api/bus/submission-key`) and
    learns the case number and its tracking code from its receipt. The department reads its
    cases topic and, for the cases `handle` gave it, replies on its replies topic:
    acknowledged, and resolved when told to; for the others, it tells its desk (`routed`),
    which acts over HTTP once the case is its own instead of asking again and again. A
    resident whose case the department resolved on the bus answers once told it is resolved
    (`resolved`: the case log says so, where notify would tell the resident), not by asking
    routing before it has read the department's replies."""

    def __init__(self, settings: CommonSettings, department: str = DEPARTMENT) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.department = department
        self.frontend = DataKey.new("bench-app")
        self.producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                         linger_ms=5, **kafka_options(settings, ADMIN))
        self.receipts: dict[str, asyncio.Future[SubmissionReceipt]] = {}
        self.handled: dict[str, tuple[bool, asyncio.Future[None]]] = {}
        self.assigned: dict[str, asyncio.Future[None]] = {}
        self.resolutions: dict[str, asyncio.Future[None]] = {}
        self.intake_key: tuple[str, bytes] | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._consumers: list[AIOKafkaConsumer] = []

    async def start(self, intake: httpx.AsyncClient) -> Bus:
        published = (await intake.get("/api/bus/submission-key")).raise_for_status().json()
        self.intake_key = (published["kid"], recipient_key(published["public_key"]))
        await self.producer.start()
        for topic, handle in ((self.topics.receipts, self._on_receipt),
                              (self.topics.department_cases(self.department), self._on_case),
                              (self.topics.case_events, self._on_case_event)):
            consumer = await self._from_now(topic)
            self._consumers.append(consumer)
            self._readers.append(asyncio.create_task(self._read(consumer, handle)))
        return self

    async def _from_now(self, topic: str) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                    group_id=None, enable_auto_commit=False,
                                    **kafka_options(self.settings, ADMIN))
        await consumer.start()
        partitions = [TopicPartition(topic, p) for p in range(self.settings.topic_partitions)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for partition, end in ends.items():
            consumer.seek(partition, end)
        return consumer

    @staticmethod
    async def _read(consumer: AIOKafkaConsumer, handle: Any) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    await handle(record.value)

    async def _on_receipt(self, value: bytes) -> None:
        receipt = SubmissionReceipt.model_validate_json(value)
        waiting = self.receipts.get(receipt.submission_id)
        if waiting is not None and not waiting.done():
            waiting.set_result(receipt)

    async def _on_case(self, value: bytes) -> None:
        case = json.loads(value)
        if case["action"] != "assigned" or case["role"] != "lead":
            return
        told = self._assignment(case["case_id"])
        if not told.done():
            told.set_result(None)
        handled = self.handled.pop(case["case_id"], None)
        if handled is None:  # the desk's case, over HTTP: it was told (`routed`)
            return
        self.assigned.pop(case["case_id"], None)
        resolves, done = handled
        said = {"case_id": case["case_id"], "department": self.department}
        replies = [{**said, "action": "acknowledge", "note": "已签收",
                    "reply_id": f"{case['message_id']}/acknowledge"}]
        if resolves:
            replies.append({**said, "action": "resolve", "resolution": "信号机已修复",
                            "reply_id": f"{case['message_id']}/resolve"})
        for reply in replies:
            await self.producer.send_and_wait(self.topics.department_replies(self.department),
                                              json.dumps(reply).encode(),
                                              key=case["case_id"].encode())
        if not done.done():
            done.set_result(None)

    async def _on_case_event(self, value: bytes) -> None:
        if RESOLVED not in value:  # most of the log: not read further
            return
        event = json.loads(value)
        told = self.resolutions.get(event["case_id"])
        if event["type"] == "CaseResolved" and told is not None and not told.done():
            told.set_result(None)

    async def submit(self, body: Mapping[str, Any], submission_id: str,
                     within_s: float) -> tuple[str, str] | str:
        """Publish a sealed submission; the case number and tracking code from its receipt,
        or why it was refused (or not answered within `within_s`)."""
        assert self.intake_key is not None, "start the bus first"
        kid, key = self.intake_key
        message = {**body, "channel": "app", "submission_id": submission_id,
                   "receipt_key": public_key_text(self.frontend)}
        sealed = SealedSubmission(sealed=seal_for(key, kid, json.dumps(message).encode()))
        waiting = self.receipts.setdefault(submission_id,
                                           asyncio.get_running_loop().create_future())
        await self.producer.send_and_wait(self.topics.submissions,
                                          sealed.model_dump_json().encode(),
                                          key=submission_id.encode())
        try:
            receipt = await asyncio.wait_for(asyncio.shield(waiting), within_s)
        except TimeoutError:
            return f"no receipt in {within_s:g} s"
        finally:
            if waiting.done():
                self.receipts.pop(submission_id, None)
        if receipt.outcome != "recorded" or receipt.case_id is None:
            return f"refused: {receipt.reason}"
        code = (open_for(DataKey(submission_id, self.frontend.secret),
                         receipt.tracking_code).decode() if receipt.tracking_code else "")
        return receipt.case_id, code

    def _assignment(self, case_id: str) -> asyncio.Future[None]:
        return self.assigned.setdefault(case_id, asyncio.get_running_loop().create_future())

    @staticmethod
    async def _told(waiting: dict[str, asyncio.Future[None]], case_id: str,
                    within_s: float) -> bool:
        """Wait for `case_id`'s future in `waiting`, then forget it; False if not within
        `within_s` (it is kept: a later wait may still be told)."""
        try:
            await asyncio.wait_for(asyncio.shield(waiting[case_id]), within_s)
        except TimeoutError:
            return False
        waiting.pop(case_id, None)
        return True

    async def routed(self, case_id: str, within_s: float) -> bool:
        """Wait until routing has assigned `case_id` to the department (its cases topic says
        so); False if not within `within_s`."""
        self._assignment(case_id)
        return await self._told(self.assigned, case_id, within_s)

    def handle(self, case_id: str, resolves: bool) -> asyncio.Future[None]:
        """The department's system will answer `case_id` when it is assigned to it: done once
        its replies are sent (a reply on the bus has no answer of its own)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.handled[case_id] = (resolves, done)
        if resolves:
            self.resolutions[case_id] = asyncio.get_running_loop().create_future()
        return done

    async def resolved(self, case_id: str, within_s: float) -> bool:
        """Wait until routing has recorded the resolution of `case_id`, which `handle` was told
        it resolves (the case log says so); False if not within `within_s`."""
        return await self._told(self.resolutions, case_id, within_s)

    async def aclose(self) -> None:
        for task in self._readers:
            task.cancel()
        for task in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for consumer in self._consumers:
            await consumer.stop()
        await self.producer.stop()


async def _until(load: Load, http: httpx.AsyncClient, path: str, body: Mapping[str, object],
                 headers: dict[str, str], done_when: tuple[str, ...], deadline: float,
                 what: str, form: bool = False) -> httpx.Response | None:
    """POST until answered 2xx (or a 409 saying it is done already); None past the deadline.
    `form`: the body is sent form-encoded (Open311), not as JSON."""
    first, failed, pause = True, False, RETRY_PAUSE_S
    last = "no answer"
    payload = {"data": body} if form else {"json": body}
    while time.monotonic() < deadline:
        if not first:
            # a client backs off: polling a lagging service harder only slows it down
            await asyncio.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, MAX_PAUSE_S)
        if failed:
            load.tally.retries += 1
        asked = time.monotonic()
        answer = await call(http, load.tally, "POST", path, headers=headers, **payload)
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
            load.latencies[what].append(time.monotonic() - asked)
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


async def _submitted(load: Load, clients: Clients, number: int, key: str, within_s: float,
                     channel: str) -> tuple[str, str] | None:
    """The case number and tracking code the resident was given (None: never accepted)."""
    deadline = time.monotonic() + within_s
    if channel == "bus":
        assert clients.bus is not None, "a mix with submissions on the bus needs a Bus"
        sent = time.monotonic()
        told = await clients.bus.submit(REQUEST, key, within_s)
        if isinstance(told, str):
            load.unexpected.append(f"submission {number} on the bus: {told}")
            return None
        load.latencies["submit (bus)"].append(time.monotonic() - sent)
        return told
    headers = {"Idempotency-Key": key}
    if channel == "open311":
        path = "/open311/v2/requests.json"
        body: Mapping[str, object] = {**OPEN311_REQUEST, "api_key": clients.open311_key}
    else:
        path, body = "/api/cases", REQUEST
    receipt = await _until(load, clients.intake, path, body, headers, (), deadline,
                           f"submit ({channel})", form=channel == "open311")
    if receipt is None:  # never accepted: the client was never told "accepted"
        load.unexpected.append(f"submission {number} not accepted in {within_s:g} s: "
                               f"{load.last_answers.get(path)}")
        return None
    if channel == "open311":
        [told] = receipt.json()
        return told["service_request_id"], told["zaiban_tracking_code"]
    answered = receipt.json()
    return answered["case_id"], answered.get("tracking_code") or ""


async def one_case(load: Load, clients: Clients, number: int, key_prefix: str,
                   within_s: float, resolves: bool = True, mix: Mix | None = None) -> None:
    """One case through its lifecycle; each step is tried for `within_s` at most."""
    mix = mix or Mix()
    channel = mix.channel(number)
    on_bus = mix.department_answers_on_bus(number)
    answer = mix.answer(number) if resolves else None
    told = await _submitted(load, clients, number, f"{key_prefix}-{number}", within_s, channel)
    if told is None:
        return
    case_id, code = told
    load.submitted.add(case_id)
    load.ways[f"submitted {channel}"] += 1
    replied = clients.bus.handle(case_id, resolves) if on_bus and clients.bus else None
    steps = [
        (clients.intake, "accept", {"note": "已核实"}, clients.officer, ("only a submitted case",)),
        (clients.routing, "acknowledge", {"note": "收到"}, clients.department,
         ("already acknowledged", "it is resolved")),
        (clients.routing, "resolve", {"resolution": "信号机已修复"}, clients.department,
         ("already resolved",)),
    ][:1 if replied else None if resolves else 2]
    for http, action, body, who, done_when in steps:
        if action == "acknowledge" and clients.bus is not None:
            # the desk acts once told the case is its own (the department's topic says so)
            if not await clients.bus.routed(case_id, within_s):
                load.stuck[case_id] = "acknowledge: never assigned to the department"
                return
        done = await _until(load, http, path_of(case_id, action), body, who,
                            done_when, time.monotonic() + within_s, action)
        if done is None:
            load.stuck[case_id] = f"{action}: {load.last_answers.get(path_of(case_id, action))}"
            return
    if replied is not None:
        try:
            await asyncio.wait_for(replied, within_s)
        except TimeoutError:
            load.stuck[case_id] = "the department on the bus was never assigned the case"
            return
        load.ways["answered by the department on the bus"] += 1
    if answer is not None and replied is not None:
        assert clients.bus is not None
        if not await clients.bus.resolved(case_id, within_s):
            load.stuck[case_id] = "feedback: the resolution on the bus was never recorded"
            return
    if answer is not None:
        # the resident answers once the case is resolved (told: over HTTP, by routing's
        # answer; on the bus, by the log): a 409 until then is waited out all the same
        heard = await _until(load, clients.routing, path_of(case_id, "feedback"), answer,
                             {"X-Tracking-Code": code}, (), time.monotonic() + within_s,
                             "feedback")
        if heard is None:
            load.stuck[case_id] = f"feedback: {load.last_answers.get(path_of(case_id, 'feedback'))}"
            return
        load.ways["answered satisfied" if answer["satisfied"] else "answered disputed"] += 1
    if resolves:
        load.resolved.add(case_id)
    else:
        load.open.add(case_id)


async def drive(load: Load, clients: Clients, cases: int, *, workers: int = 16,
                key_prefix: str = "fault", within_s: float = 150.0,
                until: asyncio.Future[Any] | None = None, article: bool = False,
                mix: Mix | None = None) -> int:
    """Drive `cases` cases through the lifecycle with `workers` concurrent clients, and, when
    `until` is given, more cases until it is done too: every worker is amid a case as long
    as `until` runs, however fast the machine. `article`: only the article's share of them
    is resolved (exactly its share of `cases` when `until` is not given). A client tries
    each step of a case for `within_s` at most (then the case is `stuck`, or its submission
    `unexpected`). `mix`: which ways the cases go (all HTTP by default). Returns the number
    of cases driven."""
    taken = 0
    resolved = round(cases * ARTICLE[1] / ARTICLE[0])

    def more() -> bool:
        return taken < cases or (until is not None and not until.done())

    def resolves(number: int) -> bool:
        if not article:
            return True
        if until is None:  # a known number of cases: exactly the article's share of them
            return is_resolved(number, cases, resolved)
        return is_resolved(number % ARTICLE[0], *ARTICLE)

    async def worker(lane: Clients) -> None:
        nonlocal taken
        while more():
            number, taken = taken, taken + 1
            await one_case(load, lane, number, key_prefix, within_s, resolves(number), mix)

    await asyncio.gather(*(worker(clients.lane(n)) for n in range(workers)))
    return taken
