"""Services as real processes (`zaiban serve <service>`), to be killed with SIGKILL and
started again, and a small HTTP client that retries as a real client would.

Only processes started here are ever signalled, each by its own pid.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from helpers import TEST_SECRET, alarming
from servicefixtures import open_namespace

from services.common.kafka import credential_store
from services.common.settings import CommonSettings
from services.composition import SERVICES

ZAIBAN = Path(sys.executable).with_name("zaiban")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(settings: CommonSettings, **extra: str) -> dict[str, str]:
    """What a served service reads: the test's stack, topics, databases and secret."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZAIBAN_")}
    env.update({
        "ZAIBAN_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "ZAIBAN_KAFKA_CREDENTIALS": str(credential_store(settings).folder),
        "ZAIBAN_MONGO_URL": settings.mongo_url,
        "ZAIBAN_TOPIC_PREFIX": settings.topic_prefix,
        "ZAIBAN_DB_PREFIX": settings.db_prefix,
        "ZAIBAN_AUTH_SECRET": TEST_SECRET.get_secret_value(),
        "ZAIBAN_ENVIRONMENT": "test",
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
    """One `zaiban serve <name>` on its own port, with its output in `logs`."""

    name: str
    env: dict[str, str]
    logs: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, f"{self.name} runs"
        self.starts += 1
        out = (self.logs / f"{self.name}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [str(ZAIBAN), "serve", self.name, "--port", str(self.port)],
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
        """What every run of this service logged at ERROR or above, and tracebacks."""
        return [f"{path.name}: {line[:600]}"
                for path in sorted(self.logs.glob(f"{self.name}-*.log"))
                for line in alarming(path.read_text(errors="replace"))]

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:]
                         for p in sorted(self.logs.glob(f"{self.name}-*.log")))

    async def ready(self, timeout: float = 60.0) -> None:
        """Wait until GET /readyz answers 200 (the consumers have started)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=3.0) as http:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise AssertionError(f"{self.name} exited:\n{self.log_text()}")
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} not ready after {timeout}s:\n{self.log_text()}")


class Fleet:
    """The services as separate processes (all of them unless `names` says which), on topics
    made for them and with their rights granted (`zaiban topics ensure`, here for the
    settings' prefix)."""

    def __init__(self, settings: CommonSettings, logs: Path,
                 names: tuple[str, ...] = SERVICES,
                 **extra: str) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        env = environment(settings, **extra)
        self.services = {name: ServiceProcess(name, env, logs) for name in names}

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    async def __aenter__(self) -> Fleet:
        await open_namespace(self.settings)
        for service in self.services.values():
            service.start()
        for service in self.services.values():
            await service.ready()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for service in self.services.values():
            service.stop()


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


async def readiness(fleet: Fleet) -> dict[str, int | None]:
    """What each service's /readyz answers now (None: no answer)."""
    answers: dict[str, int | None] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for name, service in fleet.services.items():
            try:
                answers[name] = (await http.get(f"{service.url}/readyz")).status_code
            except httpx.HTTPError:
                answers[name] = None
    return answers


async def all_say(fleet: Fleet, status: int) -> dict[str, int | None] | None:
    """The readiness answers if every service answers `status`, else None."""
    answers = await readiness(fleet)
    return answers if all(found == status for found in answers.values()) else None
