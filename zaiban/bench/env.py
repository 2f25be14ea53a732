"""Where a benchmark runs: the real local stack, in a corner of its own.

Each run gets a topic prefix (`bench<hex>.`) and a database prefix
(`bench_<hex>`) of its own, so it never touches the demo's data or a test's,
and drops them afterwards. Services run for real: in this process (started
like `zaiban serve` starts them) or, where HTTP is measured, as a uvicorn
server in a child process on a loopback port, so the load generator and the
server do not share one interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from pymongo import AsyncMongoClient
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from contracts.topics import Topics
from services.common.kafka import ADMIN, kafka_options
from services.common.logging import configure_logging
from services.common.runtime import running  # noqa: F401 (scenarios import it from here)
from services.common.settings import REPO_ROOT, CommonSettings

RESULTS = REPO_ROOT / ".zaiban" / "bench"
"""Where figures are kept (git-ignored, like the rest of `.zaiban/`)."""

SERVER_START_S = 90.0


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


# --- progress ---------------------------------------------------------------------------


class Steps:
    """Progress bars for the long parts of a scenario (silent when `console` is None)."""

    def __init__(self, console: Console | None) -> None:
        self.bar: Progress | None = None
        if console is not None:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                                transient=True)

    def __enter__(self) -> Steps:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def start(self, description: str, total: int | None = None) -> Step:
        task = self.bar.add_task(description, total=total) if self.bar is not None else None
        return Step(self.bar, task)


@dataclass
class Step:
    bar: Progress | None
    task: TaskID | None

    def to(self, completed: int, total: int | None = None) -> None:
        if self.bar is not None and self.task is not None:
            if total is None:
                self.bar.update(self.task, completed=completed)
            else:
                self.bar.update(self.task, completed=completed, total=total)

    def advance(self, by: int = 1) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task, by)

    def done(self) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.remove_task(self.task)


# --- the run's own corner of the stack ------------------------------------------------------


@dataclass
class Bench:
    """One run: its settings (prefixes, secret), the stack, progress, and its clean-up."""

    settings: CommonSettings
    token: str
    steps: Steps
    folder: Path
    stack_versions: dict[str, str]
    profile: bool = False
    stack_pids: dict[str, int] = field(default_factory=dict)
    """The local stack's processes ("store", "kafka"), when the run uses it: what the run costs
    them is read from /proc like a service's (`usage`)."""
    corners: list[CommonSettings] = field(default_factory=list)
    """Further corners of the run (`corner`), cleaned up with it."""
    peaks: dict[str, float] = field(default_factory=dict)
    """Peak resident memory in MB (VmHWM) of every server process the run started, by
    `Server.label`, read just before each was stopped."""
    labels: set[str] = field(default_factory=set)

    def label(self, name: str) -> str:
        """`name`, or `name #2`, `#3`...: a label no other process of the run has."""
        label, n = name, 1
        while label in self.labels:
            n += 1
            label = f"{name} #{n}"
        self.labels.add(label)
        return label

    @property
    def topics(self) -> Topics:
        return Topics(self.settings.topic_prefix)

    def child(self, **overrides: Any) -> CommonSettings:
        """The run's settings with some changed (a second consumer group, another prefix)."""
        return CommonSettings.model_validate({**self.settings.model_dump(), **overrides})

    def env(self, settings: CommonSettings | None = None) -> dict[str, str]:
        """Environment variables that point a child process at this run's corner."""
        s = settings or self.settings
        secret = s.auth_secret.get_secret_value() if s.auth_secret else ""
        return {**os.environ, "ZAIBAN_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
                "ZAIBAN_MONGO_URL": s.mongo_url, "ZAIBAN_TOPIC_PREFIX": s.topic_prefix,
                "ZAIBAN_DB_PREFIX": s.db_prefix, "ZAIBAN_AUTH_SECRET": secret,
                "ZAIBAN_ENVIRONMENT": s.environment, "ZAIBAN_LOG_FORMAT": "json",
                "ZAIBAN_LOG_LEVEL": "INFO", "ZAIBAN_TOPIC_PARTITIONS": str(s.topic_partitions),
                # all the load comes from one address: the per-client submission limit is
                # a defence against abuse, not what is measured here
                "ZAIBAN_SUBMIT_RATE_PER_MINUTE": "100000000", "ZAIBAN_SUBMIT_BURST": "1000000",
                # how it logs in to the broker (another listener, a broker without SASL)
                "ZAIBAN_KAFKA_SECURITY_PROTOCOL": s.kafka_security_protocol,
                **({"ZAIBAN_KAFKA_CA_FILE": str(s.kafka_ca_file)} if s.kafka_ca_file else {})}

    async def corner(self, name: str) -> CommonSettings:
        """Another corner inside the run's (topics `bench<hex>.<name>.`, databases
        `bench_<hex>_<name>`), its topics made and the services' rights on them granted;
        dropped with the run's."""
        settings = self.child(topic_prefix=f"{self.settings.topic_prefix}{name}.",
                              db_prefix=f"{self.settings.db_prefix}_{name}")
        self.corners.append(settings)
        await self.ensure_topics(settings)
        return settings

    async def ensure_topics(self, settings: CommonSettings | None = None) -> None:
        from zaiban.topics import ensure_for_city

        await ensure_for_city(settings or self.settings)

    async def cleanup(self) -> None:
        """Drop the run's databases, topics and the services' ACLs on them (best effort: a
        leftover costs disk or memory only)."""
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            self.settings.mongo_url, serverSelectionTimeoutMS=5000)
        try:
            for name in await client.list_database_names():
                if name.startswith(f"bench_{self.token}"):
                    await client.drop_database(name)
        finally:
            await client.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(30):
                admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap,
                                            request_timeout_ms=15_000,
                                            **kafka_options(self.settings, ADMIN))
                await admin.start()
                try:
                    mine = [t for t in await admin.list_topics()
                            if t.startswith(f"bench{self.token}")]
                    if mine:
                        await admin.delete_topics(mine)
                finally:
                    await admin.close()
        with contextlib.suppress(Exception):
            from zaiban.topics import revoke, service_acls

            async with asyncio.timeout(30):
                for settings in (self.settings, *self.corners):
                    await revoke(settings, await service_acls(settings))


def bench_settings(bootstrap: str, mongo_url: str, token: str, **overrides: Any) -> CommonSettings:
    return CommonSettings(
        environment="test", kafka_bootstrap=bootstrap, mongo_url=mongo_url,
        topic_prefix=f"bench{token}.", db_prefix=f"bench_{token}",
        auth_secret=SecretStr(secrets.token_urlsafe(32)), log_format="json",
        log_level="WARNING", **overrides)


@contextlib.asynccontextmanager
async def opened(*, console: Console | None, mongo_url: str | None = None,
                 bootstrap: str | None = None, partitions: int = 3,
                 folder: Path = RESULTS, profile: bool = False) -> AsyncIterator[Bench]:
    """The stack up (`zaiban infra up`), a fresh corner of it, dropped afterwards."""
    from zaiban import infra

    versions: dict[str, str] = {}
    pids: dict[str, int] = {}
    if mongo_url is None or bootstrap is None:
        try:
            stack = await asyncio.to_thread(infra.ensure_up, console=console or Console(stderr=True))
        except infra.InfraError as error:
            raise BenchError(f"the local stack is not available: {error}") from error
        versions = {"kafka": stack.kafka_version, "store": stack.store_version}
        for name, pid, ours in (("store", stack.store_pid, mongo_url is None),
                                ("kafka", stack.kafka_pid, bootstrap is None)):
            if ours and pid is not None:
                pids[name] = pid
        mongo_url = mongo_url or stack.mongo_url
        bootstrap = bootstrap or stack.bootstrap_servers
    versions.update(store_url=mongo_url, kafka_bootstrap=bootstrap)
    token = secrets.token_hex(5)
    settings = bench_settings(bootstrap, mongo_url, token, topic_partitions=partitions)
    configure_logging(settings)  # warnings only: the services' info lines would drown the bars
    bench = Bench(settings=settings, token=token, steps=Steps(console), folder=folder,
                  stack_versions=versions, profile=profile, stack_pids=pids)
    with bench.steps:
        try:
            await bench.ensure_topics()
            yield bench
        finally:
            await bench.cleanup()


# --- services, in this process or in a child -----------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`python -m zaiban.bench.serve <app>` under uvicorn on a loopback port, in a child process."""

    def __init__(self, bench: Bench, app: str, *, settings: CommonSettings | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.bench = bench
        self.app = app
        self.settings = settings
        self.extra_env = env or {}
        """Settings of the app's own (`ZAIBAN_TRACKING_FEED_CACHE_S`, ...)."""
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = bench.folder / "logs" / f"{bench.token}-{app}.log"
        self.process: subprocess.Popen[bytes] | None = None
        corner = ""
        if settings is not None:
            corner = settings.topic_prefix.removeprefix(bench.settings.topic_prefix).strip(".")
        self.label = bench.label(f"{app} {corner}".strip())
        """How the run names this process in its figures: the app and its corner."""

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            return subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "zaiban.bench.serve", self.app, "--port", str(self.port)],
                env={**self.bench.env(self.settings), **self.extra_env}, stdout=out,
                stderr=subprocess.STDOUT, cwd=REPO_ROOT)

    async def __aenter__(self) -> Server:
        self.process = self._spawn()
        deadline = time.monotonic() + SERVER_START_S
        async with httpx.AsyncClient(base_url=self.base_url, timeout=3.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise BenchError(f"the {self.app} server exited ({self.process.returncode}); "
                                     f"see {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/readyz")).status_code == 200:
                        return self
                await asyncio.sleep(0.2)
        await self.__aexit__()
        raise BenchError(f"the {self.app} server was not ready in {SERVER_START_S:.0f} s; "
                         f"see {self.log}")

    async def __aexit__(self, *exc: object) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(OSError):
            self.bench.peaks[self.label] = usage(process.pid).peak_rss_mb
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 20)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def usage(self) -> Usage:
        return usage(self.pid)


# --- what a process costs: CPU time and memory, from /proc ------------------------------------


@dataclass(frozen=True)
class Usage:
    cpu_s: float
    """User + system CPU seconds the process has used so far (children not included)."""
    rss_mb: float
    peak_rss_mb: float
    """The most resident memory it has held so far (VmHWM: the high-water mark)."""


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def usage(pid: int) -> Usage:
    """What process `pid` has cost so far, from /proc/<pid>/stat and /proc/<pid>/status."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # the command name (field 2) may hold spaces: count the fields after its closing bracket
    fields = stat[stat.rindex(")") + 2:].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)
    kib = {key: int(value.split()[0]) for key, _, value in
           (line.partition(":") for line in Path(f"/proc/{pid}/status").read_text().splitlines())
           if key in ("VmRSS", "VmHWM")}
    return Usage(cpu_s=cpu_s, rss_mb=kib.get("VmRSS", 0) / 1024,
                 peak_rss_mb=kib.get("VmHWM", 0) / 1024)


async def store_commands(url: str) -> float:
    """How many commands the service at `url` has sent its store so far (its /metrics:
    `zaiban_store_commands_total`, every database, command and collection): round trips,
    which count the same on a quiet machine and a busy one."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        answer = await http.get("/metrics")
        answer.raise_for_status()
    return sum(sample.value for family in text_string_to_metric_families(answer.text)
               if family.name == "zaiban_store_commands" for sample in family.samples
               if sample.name == "zaiban_store_commands_total")


# --- the log's side: how far a group got ----------------------------------------------------


class Positions:
    """End offsets of topics and committed offsets of groups, for progress and 'caught up'."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                         request_timeout_ms=15_000,
                                         **kafka_options(settings, ADMIN))
        self.consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                         group_id=None, enable_auto_commit=False,
                                         **kafka_options(settings, ADMIN))

    async def __aenter__(self) -> Positions:
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def partitions(self, topic: str) -> list[TopicPartition]:
        await self.consumer._client.force_metadata_update()
        found = self.consumer.partitions_for_topic(topic) or set()
        return [TopicPartition(topic, p) for p in sorted(found)]

    async def ends(self, topic: str) -> dict[TopicPartition, int]:
        parts = await self.partitions(topic)
        return dict(await self.consumer.end_offsets(parts)) if parts else {}

    async def committed(self, group: str, topic: str) -> int:
        offsets = await self.admin.list_consumer_group_offsets(group)
        return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)

    async def wait_committed(self, group: str, topic: str, total: int, *, step: Step | None = None,
                             within_s: float, every: float = 0.02) -> float:
        """Wait until `group` committed `total` records of `topic`; returns when (monotonic).

        Asked every 20 ms: a baseline's end is the moment its loop returns, and asking every
        100 ms added 50 ms on average to the service's side only (a tenth of metrics'
        projection of 3,000 cases)."""
        deadline = time.monotonic() + within_s
        done = 0
        while time.monotonic() < deadline:
            done = await self.committed(group, topic)
            if step is not None:
                step.to(done)
            if done >= total:
                return time.monotonic()
            await asyncio.sleep(every)
        raise BenchError(f"group {group} committed {done} of {total} records of {topic} "
                         f"in {within_s:.0f} s")


def total(offsets: dict[TopicPartition, int] | Iterable[int]) -> int:
    values = offsets.values() if isinstance(offsets, dict) else offsets
    return sum(values)


# --- profiles -------------------------------------------------------------------------------


def py_spy() -> str | None:
    """py-spy, if installed (`pip install py-spy` into the venv); profiles are optional."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.asynccontextmanager
async def profiled(bench: Bench, pid: int, name: str, into: dict[str, Any]) -> AsyncIterator[None]:
    """Sample `pid` with py-spy while the block runs (when the run asked for profiles).

    Writes collapsed stacks to `<folder>/profiles/<token>-<name>.txt` and puts the
    hottest functions (share of samples in which each was on the stack, and where
    the time was spent itself) into `into[name]`.
    """
    spy = py_spy() if bench.profile else None
    if spy is None:
        yield
        return
    out = bench.folder / "profiles" / f"{bench.token}-{name}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    process = _record(spy, pid, out)
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()
        if out.exists():
            into[name] = {"file": str(out), **hot_spots(out.read_text())}


def _record(spy: str, pid: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - py-spy from our venv, on a process of ours
        [spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
         "--rate", "50", "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def hot_spots(collapsed: str, top: int = 12) -> dict[str, Any]:
    """The functions most often on the stack (inclusive) and at its top (self), in percent."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0] + ")"
                  if " (" in frame else frame for frame in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if not samples:
        return {"samples": 0, "inclusive": [], "self": []}

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(100 * n / samples, 1)) for frame, n in counter.most_common(top)]

    return {"samples": samples, "inclusive": share(inclusive), "self": share(own)}
