"""Services as real processes (`zaiban serve <service>`), to be killed with SIGKILL, started
again, run in several copies, or run with an environment of their own (a proxy in front of
their broker, a clock that is off); and a small HTTP client that retries as a real client
would.

Only processes started here are ever signalled, each by its own pid.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from services.common.kafka import credential_store
from services.common.settings import CommonSettings
from services.composition import SERVICES

ZAIBAN = Path(sys.executable).with_name("zaiban")

READYZ_S = 6.0
"""How long a /readyz may take to answer (it asks each dependency for 2 s, at once, on a
machine that may be loaded) before it counts as no answer."""

ERROR_LINE = re.compile(r'^(ERROR|CRITICAL):|"level": "(error|critical)"|\[(error|critical)\s*\]')


def alarming(output: str) -> list[str]:
    """The lines of `output` logged at ERROR or above, and tracebacks."""
    return [line for line in output.splitlines()
            if ERROR_LINE.search(line) or "Traceback (most recent call last)" in line]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(settings: CommonSettings, **extra: str) -> dict[str, str]:
    """What a served service reads: the run's stack, topics, databases and secret."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZAIBAN_")}
    secret = settings.auth_secret.get_secret_value() if settings.auth_secret else ""
    env.update({
        "ZAIBAN_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "ZAIBAN_KAFKA_CREDENTIALS": str(credential_store(settings).folder),
        "ZAIBAN_MONGO_URL": settings.mongo_url,
        "ZAIBAN_TOPIC_PREFIX": settings.topic_prefix,
        "ZAIBAN_DB_PREFIX": settings.db_prefix,
        "ZAIBAN_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "ZAIBAN_AUTH_SECRET": secret,
        "ZAIBAN_ENVIRONMENT": settings.environment,
        # all the load comes from one address: the per-client submission limit is a defence
        # against abuse, not what is tried here
        "ZAIBAN_SUBMIT_RATE_PER_MINUTE": "1000000000",
        "ZAIBAN_SUBMIT_BURST": "1000000",
        "ZAIBAN_HOST": "127.0.0.1",
        "ZAIBAN_LOG_LEVEL": "WARNING",
        "ZAIBAN_LOG_FORMAT": "json",
        # routing publishes what a crash left in its outbox soon after it comes back
        "ZAIBAN_RELAY_EVERY_S": "1.0",
        **extra,
    })
    return env


@dataclass
class ServiceProcess:
    """One `zaiban serve <service>` on its own port, with its output in `logs`. `name` is the
    copy's (`routing`, `routing-2`, ...), `service` the service it runs."""

    name: str
    env: dict[str, str]
    logs: Path
    service: str = ""
    prefix: tuple[str, ...] = ()
    """A command the service runs under (e.g. `faketime`), empty for none."""
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    def __post_init__(self) -> None:
        self.service = self.service or self.name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, f"{self.name} runs"
        self.starts += 1
        out = (self.logs / f"{self.name}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own command, our own arguments
            [*self.prefix, str(ZAIBAN), "serve", self.service, "--port", str(self.port)],
            env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no commit, no flush — a crash."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def logged_errors(self) -> list[str]:
        """What every run of this copy logged at ERROR or above, and tracebacks."""
        return [f"{path.name}: {line[:600]}"
                for path in sorted(self.logs.glob(f"{self.name}-*.log"))
                for line in alarming(path.read_text(errors="replace"))]

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:]
                         for p in sorted(self.logs.glob(f"{self.name}-*.log")))

    async def readiness(self) -> int | None:
        """What GET /readyz answers now (None: no answer)."""
        try:
            async with httpx.AsyncClient(base_url=self.url, timeout=READYZ_S) as http:
                return (await http.get("/readyz")).status_code
        except httpx.HTTPError:
            return None

    async def ready(self, timeout: float = 60.0) -> float:
        """Wait until GET /readyz answers 200 (the consumers have started); the seconds it
        took."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"{self.name} exited:\n{self.log_text()}")
            if await self.readiness() == 200:
                return time.monotonic() - started
            await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} not ready after {timeout}s:\n{self.log_text()}")


class Fleet:
    """The services as separate processes (all of them unless `names` says which), each in
    one copy to begin with; `own` gives a service environment variables of its own (its
    broker and store through a proxy, say) and `prefixes` a command to run under.

    The run's topics and rights must exist before (`zaiban topics ensure`, or the tests'
    namespace)."""

    def __init__(self, settings: CommonSettings, logs: Path,
                 names: tuple[str, ...] = SERVICES, *,
                 own: Mapping[str, Mapping[str, str]] | None = None,
                 prefixes: Mapping[str, tuple[str, ...]] | None = None,
                 **extra: str) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.logs = logs
        self.env = environment(settings, **extra)
        self.own = {name: dict(values) for name, values in (own or {}).items()}
        self.prefixes = dict(prefixes or {})
        self.services = {name: self._copy(name, name) for name in names}
        self.retired: list[ServiceProcess] = []
        """Copies scaled away, kept for their logs."""

    def _copy(self, service: str, name: str) -> ServiceProcess:
        return ServiceProcess(name, {**self.env, **self.own.get(service, {})}, self.logs,
                              service=service, prefix=self.prefixes.get(service, ()))

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    def copies(self, service: str) -> list[ServiceProcess]:
        return [p for p in self.services.values() if p.service == service]

    def every(self) -> list[ServiceProcess]:
        """Every copy that ever ran, for their logs."""
        return [*self.services.values(), *self.retired]

    async def start(self) -> Fleet:
        for service in self.services.values():
            service.start()
        for service in self.services.values():
            await service.ready()
        return self

    async def __aenter__(self) -> Fleet:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()

    async def scale(self, service: str, copies: int) -> float:
        """Run `copies` copies of `service` (one consumer group: each takes partitions from
        the others); the seconds until the new ones were ready. The first copy is the one
        clients call and is never scaled away."""
        running = self.copies(service)
        added: list[ServiceProcess] = []
        for number in range(len(running) + 1, copies + 1):
            copy = self._copy(service, f"{service}-{number}")
            self.services[copy.name] = copy
            copy.start()
            added.append(copy)
        for copy in reversed(running[max(copies, 1):]):
            copy.stop()
            self.retired.append(self.services.pop(copy.name))
        started = time.monotonic()
        for copy in added:
            await copy.ready()
        return time.monotonic() - started

    async def readiness(self) -> dict[str, int | None]:
        answers = await asyncio.gather(*(p.readiness() for p in self.services.values()))
        return dict(zip(self.services, answers, strict=True))

    async def all_say(self, status: int) -> dict[str, int | None] | None:
        answers = await self.readiness()
        return answers if all(found == status for found in answers.values()) else None

    def logged_errors(self) -> list[str]:
        return [line for process in self.every() for line in process.logged_errors()]


@dataclass
class Tally:
    """What the client went through: answers by status, and the retries they cost."""

    answers: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    unreachable: int = 0
    waits: int = 0
    slowest_s: float = 0.0

    def figures(self) -> dict[str, Any]:
        return {"answers": dict(sorted(self.answers.items())), "retries": self.retries,
                "unreachable": self.unreachable, "waits": self.waits,
                "slowest_s": round(self.slowest_s, 2)}


async def call(http: httpx.AsyncClient, tally: Tally, method: str, path: str,
               **kwargs: Any) -> httpx.Response | None:
    """One request; None when the service could not be reached (or did not answer in time)."""
    started = time.monotonic()
    try:
        answer = await http.request(method, path, **kwargs)
    except httpx.HTTPError:
        tally.unreachable += 1
        tally.answers["unreachable"] += 1
        return None
    finally:
        tally.slowest_s = max(tally.slowest_s, time.monotonic() - started)
    tally.answers[str(answer.status_code)] += 1
    return answer
