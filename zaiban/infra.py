"""The local real stack: Apache Kafka (KRaft) and FerretDB (SQLite), run as local processes.

No container engine is needed. Kafka's jars are resolved by Maven from ``deploy/local/pom.xml``;
FerretDB is built from its Go module. Both are cached and started detached, so they outlive the
``zaiban infra up`` command, and are found again by the next one.

Everything lives under one git-ignored folder (``$ZAIBAN_HOME``, default ``<repo>/.zaiban``)::

    bin/ferretdb                    the FerretDB binary (rebuilt when its version differs)
    build/                          scratch space for the FerretDB build
    kafka/pom.xml, kafka/libs/      the Kafka classpath (stamped with the pom's SHA-256)
    kafka/server.properties         KRaft combined node, written on each start
    kafka/data/                     the broker's log dirs (formatted once)
    ferretdb/data/, ferretdb/state/ FerretDB's SQLite files and its state file
    run/*.pid, run/infra.lock       pid files; a lock so concurrent ``up`` calls do not race
    logs/*.log                      one log per process, plus the Maven and Go build logs

Ports: ``ZAIBAN_KAFKA_PORT`` (9092), ``ZAIBAN_KAFKA_CONTROLLER_PORT`` (Kafka port + 1),
``ZAIBAN_STORE_PORT`` (27017). Python API: :func:`ensure_up`, :func:`down`, :func:`status`,
:func:`start`, :func:`stop`, :func:`restart_kafka`, :func:`restart_store`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from base64 import urlsafe_b64encode
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
# The build's package name says which of FERRETDB_FIXES it carries: a binary built
# without them (an older checkout's) is rebuilt.
FERRETDB_PACKAGE = "zaiban-local+sqlite-id-index"
KAFKA_COMPONENT = "kafka"
STORE_COMPONENT = "ferretdb"
COMPONENTS: tuple[str, ...] = (KAFKA_COMPONENT, STORE_COMPONENT)
_ALIASES = {"kafka": KAFKA_COMPONENT, "ferretdb": STORE_COMPONENT, "store": STORE_COMPONENT,
            "mongo": STORE_COMPONENT, "mongodb": STORE_COMPONENT}

T = TypeVar("T")


class InfraError(RuntimeError):
    """The stack cannot be had; the message says why in one line (and where the log is)."""


# --------------------------------------------------------------------------------------------
# settings and results
# --------------------------------------------------------------------------------------------


def repo_root() -> Path | None:
    """The source checkout this module runs from (it holds deploy/local/pom.xml), if any."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "deploy" / "local" / "pom.xml").is_file() else None


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InfraError(f"{name}={raw!r} is not a port number") from None
    if not 0 < value < 65536:
        raise InfraError(f"{name}={value} is not a port number")
    return value


@dataclass(frozen=True)
class StackSettings:
    """Where the local stack lives and which loopback ports it uses."""

    home: Path
    host: str = "127.0.0.1"
    kafka_port: int = 9092
    controller_port: int = 9093
    store_port: int = 27017
    start_timeout: float = 120.0
    stop_timeout: float = 30.0
    kafka_heap: str = "512m"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> StackSettings:
        env = dict(os.environ if env is None else env)
        if env.get("ZAIBAN_HOME"):
            home = Path(env["ZAIBAN_HOME"]).expanduser()
        else:
            root = repo_root()
            home = (root if root is not None else Path.cwd()) / ".zaiban"
        kafka_port = _env_int(env, "ZAIBAN_KAFKA_PORT", 9092)
        try:
            start_timeout = float(env.get("ZAIBAN_INFRA_TIMEOUT") or 120)
        except ValueError:
            raise InfraError(f"ZAIBAN_INFRA_TIMEOUT={env['ZAIBAN_INFRA_TIMEOUT']!r} "
                             "is not a number of seconds") from None
        return cls(
            home=home.resolve(),
            kafka_port=kafka_port,
            controller_port=_env_int(env, "ZAIBAN_KAFKA_CONTROLLER_PORT", kafka_port + 1),
            store_port=_env_int(env, "ZAIBAN_STORE_PORT", 27017),
            start_timeout=start_timeout,
            kafka_heap=env.get("ZAIBAN_KAFKA_HEAP") or "512m",
        )

    # -- layout --
    @property
    def bin_dir(self) -> Path:
        return self.home / "bin"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def kafka_dir(self) -> Path:
        return self.home / "kafka"

    @property
    def libs_dir(self) -> Path:
        return self.kafka_dir / "libs"

    @property
    def ferretdb_dir(self) -> Path:
        return self.home / "ferretdb"

    @property
    def ferretdb_bin(self) -> Path:
        return self.bin_dir / "ferretdb"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://{self.host}:{self.store_port}/"

    def pid_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def address(self, component: str) -> str:
        return self.bootstrap_servers if component == KAFKA_COMPONENT else self.mongo_url

    def ports(self, component: str) -> tuple[int, ...]:
        if component == KAFKA_COMPONENT:
            return (self.kafka_port, self.controller_port)
        return (self.store_port,)


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    pid: int | None
    address: str
    version: str
    log: Path
    state: str = ""  # running | stopped | started | starting | unresponsive | stale pid file


@dataclass(frozen=True)
class StackInfo:
    """What tests and services need to reach the stack."""

    bootstrap_servers: str
    mongo_url: str
    kafka_pid: int | None
    store_pid: int | None
    kafka_version: str
    store_version: str
    home: Path | None = None
    mode: str = "local"
    started: tuple[str, ...] = field(default=())  # components this call started (empty: reused)

    def env(self) -> dict[str, str]:
        """Environment variables pointing a service process at this stack."""
        return {"ZAIBAN_KAFKA_BOOTSTRAP": self.bootstrap_servers,
                "ZAIBAN_MONGO_URL": self.mongo_url}


def component_name(name: str) -> str:
    try:
        return _ALIASES[name.lower()]
    except KeyError:
        raise InfraError(f"unknown component {name!r}; expected one of "
                         f"{', '.join(sorted(_ALIASES))}") from None


# --------------------------------------------------------------------------------------------
# processes, ports, locks
# --------------------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)  # our own child that exited: reap it
        if reaped == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    return True


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return None


def _marker(settings: StackSettings, component: str) -> str:
    if component == KAFKA_COMPONENT:
        return str(settings.kafka_dir / "server.properties")
    return str(settings.ferretdb_bin)


def _read_pid(settings: StackSettings, component: str) -> int | None:
    """The pid of our running process for the component, or None (stale pid files are removed)."""
    path = settings.pid_file(component)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    cmd = _cmdline(pid)
    if _pid_alive(pid) and (cmd is None or _marker(settings, component) in cmd):
        return pid
    path.unlink(missing_ok=True)
    return None


def _port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _port_env_name(settings: StackSettings, component: str, port: int) -> str:
    if component == STORE_COMPONENT:
        return "ZAIBAN_STORE_PORT"
    return "ZAIBAN_KAFKA_PORT" if port == settings.kafka_port else "ZAIBAN_KAFKA_CONTROLLER_PORT"


def _check_ports_free(settings: StackSettings, component: str) -> None:
    for port in settings.ports(component):
        if not _port_free(settings.host, port):
            raise InfraError(
                f"cannot start {component}: port {settings.host}:{port} is taken by another "
                f"process (not one started from {settings.home}); stop it or set "
                f"{_port_env_name(settings, component, port)}")


@contextlib.contextmanager
def _locked(settings: StackSettings, console: Console | None = None) -> Iterator[None]:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.run_dir / "infra.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if console is not None:
                console.print(f"[dim]waiting for another zaiban infra command on "
                              f"{settings.home} …[/dim]")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _tail(path: Path, lines: int = 1) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])[:300]


def _require_tool(name: str, why: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise InfraError(f"`{name}` is not on PATH ({why})")
    return path


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _gist(output: str) -> str:
    """The line of a failed build's output most likely to say what went wrong."""
    lines = [_ANSI.sub("", line).strip() for line in output.splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        if line.startswith("[ERROR]") or '"Error"' in line or re.search(r"\berror\b", line, re.I):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def _run_logged(cmd: list[str], log: Path, *, cwd: Path, env: dict[str, str] | None = None,
                what: str) -> str:
    """Run a build command, appending its output to `log`; a failure is an InfraError."""
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,  # noqa: S603
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    output = proc.stdout.decode(errors="replace")
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} $ {' '.join(cmd)}\n{output}"
                 f"=== exit {proc.returncode}\n")
    if proc.returncode != 0:
        raise InfraError(f"{what} failed (exit {proc.returncode}): {_gist(output)} — see {log}")
    return output


def _spawn(cmd: list[str], log: Path, *, cwd: Path, env: dict[str, str] | None = None) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} zaiban infra starts: "
                 f"{' '.join(cmd)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,  # noqa: S603
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True)
    return proc.pid


def _run_async(factory: Callable[[], Any]) -> Any:
    """Run a coroutine from sync code, also when the calling thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


# --------------------------------------------------------------------------------------------
# Kafka
# --------------------------------------------------------------------------------------------


def _pom_path() -> Path:
    root = repo_root()
    if root is None:
        raise InfraError("deploy/local/pom.xml not found: `zaiban infra` runs from a zaiban "
                         "source checkout (pip install -e .)")
    return root / "deploy" / "local" / "pom.xml"


def _jar_version(libs: Path) -> str | None:
    for jar in sorted(libs.glob("kafka_2.*-*.jar")):
        match = re.fullmatch(r"kafka_2\.\d+-(.+)\.jar", jar.name)
        if match:
            return match.group(1)
    return None


def kafka_version(settings: StackSettings | None = None) -> str:
    """The Kafka version of the cached classpath, else the one the pom asks for."""
    settings = settings or StackSettings.from_env()
    found = _jar_version(settings.libs_dir)
    if found:
        return found
    with contextlib.suppress(InfraError, OSError, ET.ParseError):
        ns = {"m": "http://maven.apache.org/POM/4.0.0"}
        node = ET.parse(_pom_path()).getroot().find("m:properties/m:kafka.version", ns)  # noqa: S314
        if node is not None and node.text:
            return node.text.strip()
    return "unknown"


def _kafka_jars_cached(settings: StackSettings) -> bool:
    stamp = settings.libs_dir / ".pom-sha256"
    digest = hashlib.sha256(_pom_path().read_bytes()).hexdigest()
    try:
        return stamp.read_text().strip() == digest and _jar_version(settings.libs_dir) is not None
    except OSError:
        return False


def _resolve_kafka_jars(settings: StackSettings) -> None:
    """Maven: copy Kafka and its runtime dependencies into kafka/libs (skipped when cached)."""
    if _kafka_jars_cached(settings):
        return
    mvn = _require_tool("mvn", "Maven resolves the Kafka broker's jars")
    pom = _pom_path()
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    settings.kafka_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pom, settings.kafka_dir / "pom.xml")
    tmp = settings.kafka_dir / "libs.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    log = settings.logs_dir / "maven.log"
    _run_logged([mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(settings.kafka_dir / "pom.xml"),
                 "dependency:copy-dependencies", f"-DoutputDirectory={tmp}",
                 "-DincludeScope=runtime"],
                log, cwd=settings.kafka_dir, what="Maven resolve of the Kafka jars")
    if _jar_version(tmp) is None:
        raise InfraError(f"Maven finished but no kafka_2.13 jar is in {tmp} — see {log}")
    (tmp / ".pom-sha256").write_text(digest + "\n")
    shutil.rmtree(settings.libs_dir, ignore_errors=True)
    tmp.rename(settings.libs_dir)


def _kafka_cluster_id(settings: StackSettings) -> str:
    path = settings.kafka_dir / "cluster.id"
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    while True:  # what kafka.tools.StorageTool random-uuid prints: 16 random bytes, base64url
        cid = urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cid.startswith("-"):
            break
    path.write_text(cid + "\n")
    return cid


def _write_kafka_config(settings: StackSettings) -> tuple[Path, Path]:
    kdir = settings.kafka_dir
    h = settings.host
    props = kdir / "server.properties"
    props.write_text("\n".join([
        "# written by `zaiban infra up` on each start; edit zaiban/infra.py instead",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{h}:{settings.controller_port}",
        f"listeners=PLAINTEXT://{h}:{settings.kafka_port},CONTROLLER://{h}:{settings.controller_port}",
        f"advertised.listeners=PLAINTEXT://{h}:{settings.kafka_port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={kdir / 'data'}",
        "num.partitions=3",
        "auto.create.topics.enable=true",
        "delete.topic.enable=true",
        "default.replication.factor=1",
        "min.insync.replicas=1",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=10",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=10",
        "group.initial.rebalance.delay.ms=0",
        "log.cleaner.dedupe.buffer.size=16777216",
        "num.network.threads=2",
        "num.io.threads=4",
        "",
    ]))
    log4j = kdir / "log4j.properties"
    log4j.write_text("\n".join([
        "# WARN and above to stdout, which zaiban infra sends to logs/kafka.log",
        "log4j.rootLogger=WARN, stdout",
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
        "log4j.logger.kafka.server.KafkaRaftServer=INFO",
        "",
    ]))
    return props, log4j


def _java_cmd(settings: StackSettings, java: str, log4j: Path) -> list[str]:
    return [java, f"-Xmx{settings.kafka_heap}", "-Xms256m", "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{log4j}", f"-Dkafka.logs.dir={settings.logs_dir}",
            "-cp", f"{settings.libs_dir}/*"]


def _start_kafka(settings: StackSettings) -> int:
    java = _require_tool("java", "Java 17 runs the Kafka broker")
    _check_ports_free(settings, KAFKA_COMPONENT)
    props, log4j = _write_kafka_config(settings)
    log = settings.log_file(KAFKA_COMPONENT)
    if not (settings.kafka_dir / "data" / "meta.properties").is_file():
        _run_logged([*_java_cmd(settings, java, log4j),
                     "kafka.tools.StorageTool", "format", "--ignore-formatted",
                     "-t", _kafka_cluster_id(settings), "-c", str(props)],
                    log, cwd=settings.kafka_dir, what="formatting the Kafka storage")
    pid = _spawn([*_java_cmd(settings, java, log4j), "kafka.Kafka", str(props)], log,
                 cwd=settings.kafka_dir)
    settings.pid_file(KAFKA_COMPONENT).write_text(f"{pid}\n")
    return pid


async def _kafka_brokers(bootstrap: str, request_timeout_s: float) -> int:
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(bootstrap_servers=bootstrap,
                            request_timeout_ms=int(request_timeout_s * 1000))
    try:
        await client.bootstrap()
        return len(client.cluster.brokers())
    finally:
        await client.close()


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _kafka_ready(settings: StackSettings) -> bool:
    if not _port_answers(settings.host, settings.kafka_port):
        return False
    with _quiet("aiokafka"):
        return bool(_run_async(lambda: _kafka_brokers(settings.bootstrap_servers, 3.0)))


# --------------------------------------------------------------------------------------------
# FerretDB
# --------------------------------------------------------------------------------------------


def ferretdb_binary_version(binary: Path) -> tuple[str, str] | None:
    """`ferretdb --version` → ('v1.24.2', package), or None when the binary is absent or broken."""
    if not binary.is_file():
        return None
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True,  # noqa: S603
                             timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = re.search(r"^version:\s*(\S+)", out.stdout, re.MULTILINE)
    package = re.search(r"^package:\s*(\S+)", out.stdout, re.MULTILINE)
    if out.returncode != 0 or not version:
        return None
    return version.group(1), package.group(1) if package else ""


@dataclass(frozen=True)
class SourceFix:
    """One exact replacement in FerretDB's source, and why."""

    path: str
    old: str
    new: str
    why: str


FERRETDB_FIXES = (
    SourceFix(
        path="internal/backends/sqlite/metadata/metadata.go",
        old="IDColumn = DefaultColumn + \"->'$._id'\"",
        new="IDColumn = DefaultColumn + \"->'_id'\"",
        why="FerretDB 1.24's SQLite backend creates the unique _id index on the expression "
            "_ferretdb_sjson->\"_id\" but looks documents up by _ferretdb_sjson->'$._id': the "
            "same value, a different expression, so SQLite never uses the index and every "
            "find, update or delete by _id scans the whole collection (upstream's PostgreSQL "
            "twin of this is FerretDB issue 4646). Spelling the lookup as the index spells it "
            "lets SQLite use the index; stored data and indexes are unchanged.",
    ),
)


def _apply_ferretdb_fixes(src: Path) -> None:
    for fix in FERRETDB_FIXES:
        target = src / fix.path
        text = target.read_text()
        if text.count(fix.old) != 1:
            raise InfraError(f"FerretDB's {fix.path} no longer reads as expected; the fix "
                             f"for the _id index cannot be applied to {FERRETDB_VERSION}")
        target.write_text(text.replace(fix.old, fix.new))


# WAL with synchronous=NORMAL: a commit is safe from a crash of FerretDB or of a service, and
# is fsynced at checkpoints rather than one by one (an OS crash may lose the last commits).
# The store holds projections and write models of the case log, and Kafka here acknowledges
# before fsync too; the log is the record. (FerretDB adds its WAL and busy-timeout defaults.)
SQLITE_PRAGMAS = "_pragma=journal_mode(wal)&_pragma=synchronous(normal)"


def _build_ferretdb(settings: StackSettings) -> None:
    """Build FerretDB from its Go module (skipped when the binary has the wanted version).

    A plain ``go install …/cmd/ferretdb@version`` builds a binary that panics at start: the
    module lacks the generated build/version/version.txt. So: download the module, copy it,
    write that file, apply FERRETDB_FIXES, and ``go build`` the copy.
    """
    if ferretdb_binary_version(settings.ferretdb_bin) == (FERRETDB_VERSION, FERRETDB_PACKAGE):
        return
    go = _require_tool("go", "Go builds the FerretDB document store")
    log = settings.logs_dir / "ferretdb-build.log"
    build = settings.home / "build"
    build.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOFLAGS": "-mod=mod -buildvcs=false", "CGO_ENABLED": "0"}
    out = _run_logged([go, "mod", "download", "-json", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"],
                      log, cwd=build, env=env, what="Go download of the FerretDB module")
    try:
        module_dir = Path(json.loads(out)["Dir"])
    except (ValueError, KeyError, TypeError):
        raise InfraError(f"Go did not report where the FerretDB module is — see {log}") from None
    src = build / f"ferretdb-{FERRETDB_VERSION}"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(module_dir, src)
    for dirpath, _dirs, files in os.walk(src):  # the module cache is read-only
        os.chmod(dirpath, 0o755)  # noqa: S103
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o644)
    (src / "build" / "version" / "version.txt").write_text(FERRETDB_VERSION + "\n")
    (src / "build" / "version" / "package.txt").write_text(FERRETDB_PACKAGE + "\n")
    _apply_ferretdb_fixes(src)
    settings.bin_dir.mkdir(parents=True, exist_ok=True)
    tmp_bin = settings.bin_dir / "ferretdb.tmp"
    _run_logged([go, "build", "-trimpath", "-o", str(tmp_bin), "./cmd/ferretdb"], log, cwd=src,
                env=env, what="Go build of FerretDB")
    built = ferretdb_binary_version(tmp_bin)
    if built != (FERRETDB_VERSION, FERRETDB_PACKAGE):
        raise InfraError(f"the FerretDB build reports {built!r}, not {FERRETDB_VERSION} "
                         f"({FERRETDB_PACKAGE}) — see {log}")
    tmp_bin.replace(settings.ferretdb_bin)
    shutil.rmtree(src, ignore_errors=True)


def _start_ferretdb(settings: StackSettings) -> int:
    _check_ports_free(settings, STORE_COMPONENT)
    data = settings.ferretdb_dir / "data"
    state = settings.ferretdb_dir / "state"
    data.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    cmd = [str(settings.ferretdb_bin),
           "--handler=sqlite", f"--sqlite-url=file:{data}/?{SQLITE_PRAGMAS}",
           f"--listen-addr={settings.host}:{settings.store_port}",
           f"--state-dir={state}",
           "--debug-addr=-",  # no HTTP debug/metrics listener
           "--telemetry=disable",
           "--log-level=error", "--log-format=text"]
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    pid = _spawn(cmd, settings.log_file(STORE_COMPONENT), cwd=state, env=env)
    settings.pid_file(STORE_COMPONENT).write_text(f"{pid}\n")
    return pid


def _store_ping(url: str, timeout: float = 2.0) -> dict[str, Any]:
    from pymongo import MongoClient

    ms = int(timeout * 1000)
    client: MongoClient[dict[str, Any]] = MongoClient(
        url, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms)
    try:
        client.admin.command("ping")
        return dict(client.admin.command("buildInfo"))
    finally:
        client.close()


def _store_ready(settings: StackSettings) -> bool:
    if not _port_answers(settings.host, settings.store_port):
        return False
    _store_ping(settings.mongo_url)
    return True


def store_version(settings: StackSettings | None = None) -> str:
    settings = settings or StackSettings.from_env()
    built = ferretdb_binary_version(settings.ferretdb_bin)
    return built[0] if built else FERRETDB_VERSION


# --------------------------------------------------------------------------------------------
# the API
# --------------------------------------------------------------------------------------------


def _version(settings: StackSettings, component: str, *, live: bool = False) -> str:
    if component == KAFKA_COMPONENT:
        return f"Apache Kafka {kafka_version(settings)} (KRaft)"
    if live:  # ask the running server itself
        with contextlib.suppress(Exception):
            info = _store_ping(settings.mongo_url, timeout=1.0)
            return (f"FerretDB {info.get('ferretdbVersion', '?')} (SQLite; "
                    f"speaks MongoDB {info.get('version', '?')})")
    return f"FerretDB {store_version(settings)} (SQLite)"


def _ready_check(settings: StackSettings, component: str) -> Callable[[], bool]:
    return (lambda: _kafka_ready(settings)) if component == KAFKA_COMPONENT else (
        lambda: _store_ready(settings))


def _wait_ready(settings: StackSettings, component: str, pid: int, timeout: float) -> None:
    check = _ready_check(settings, component)
    log = settings.log_file(component)
    deadline = time.monotonic() + timeout
    last: object = "port not answering"
    while True:
        if not _pid_alive(pid):
            settings.pid_file(component).unlink(missing_ok=True)
            raise InfraError(f"{component} (pid {pid}) exited during start-up: {_tail(log)} "
                             f"— see {log}")
        try:
            if check():
                return
            last = "port not answering" if not _port_answers(
                settings.host, settings.ports(component)[0]) else "no broker in metadata yet"
        except Exception as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise InfraError(f"{component} (pid {pid}) not ready after {timeout:.0f}s ({last}) "
                             f"— see {log}")
        time.sleep(0.3)


def _prepare(settings: StackSettings, components: tuple[str, ...], console: Console) -> None:
    """Maven resolve and Go build, side by side, behind a spinner; no-ops when cached."""
    jobs: dict[str, Callable[[], None]] = {}
    if KAFKA_COMPONENT in components and not _kafka_jars_cached(settings):
        jobs[f"resolving Kafka {kafka_version(settings)} jars with Maven "
             f"(log: {settings.logs_dir / 'maven.log'})"] = lambda: _resolve_kafka_jars(settings)
    if STORE_COMPONENT in components and \
            ferretdb_binary_version(settings.ferretdb_bin) != (FERRETDB_VERSION, FERRETDB_PACKAGE):
        jobs[f"building FerretDB {FERRETDB_VERSION} with Go "
             f"(log: {settings.logs_dir / 'ferretdb-build.log'})"] = (
            lambda: _build_ferretdb(settings))
    if not jobs:
        return
    # fail fast on a missing tool, before starting anything long
    for label in jobs:
        if label.startswith("resolving"):
            _require_tool("mvn", "Maven resolves the Kafka broker's jars")
        else:
            _require_tool("go", "Go builds the FerretDB document store")
    started = time.monotonic()
    with console.status(" and ".join(jobs) + " …", spinner="dots") as spinner, \
            concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        futures = {pool.submit(fn): label for label, fn in jobs.items()}
        pending = set(futures)
        while pending:
            done, pending = concurrent.futures.wait(pending, timeout=1.0)
            for fut in done:
                fut.result()  # raises InfraError
                console.print(f"[green]✓[/green] {futures[fut].split(' (log')[0]} "
                              f"({time.monotonic() - started:.0f}s)")
            if pending:
                spinner.update(" and ".join(futures[f] for f in pending)
                               + f" … {time.monotonic() - started:.0f}s")


def _ensure(settings: StackSettings, components: tuple[str, ...],
            console: Console) -> dict[str, tuple[int, bool]]:
    """Under the lock: bring the components up; returns {component: (pid, started_now)}."""
    result: dict[str, tuple[int, bool]] = {}
    running = {comp: _read_pid(settings, comp) for comp in components}
    to_start = tuple(comp for comp, pid in running.items() if pid is None)
    for comp in to_start:  # fail fast, before any long build
        if comp == KAFKA_COMPONENT:
            _require_tool("java", "Java 17 runs the Kafka broker")
        _check_ports_free(settings, comp)
    _prepare(settings, to_start, console)
    for comp in components:
        pid = running[comp]
        if pid is not None:
            result[comp] = (pid, False)
            continue
        settings.logs_dir.mkdir(parents=True, exist_ok=True)
        pid = _start_kafka(settings) if comp == KAFKA_COMPONENT else _start_ferretdb(settings)
        result[comp] = (pid, True)
    starting = [c for c, (_, new) in result.items() if new]
    label = ("waiting for " + " and ".join(starting) + " to answer") if starting else (
        "checking the running stack")
    with console.status(label + " …", spinner="dots"):
        for comp, (pid, _new) in result.items():
            _wait_ready(settings, comp, pid, settings.start_timeout)
    return result


def ensure_up(settings: StackSettings | None = None, *,
              console: Console | None = None) -> StackInfo:
    """Start Kafka and FerretDB unless they already run; wait until both answer.

    Idempotent: a running stack is reused (same pids, ``started == ()``). Raises
    :class:`InfraError` with a one-line reason when the stack cannot be had.
    """
    settings = settings or StackSettings.from_env()
    console = console or Console(stderr=True)
    with _locked(settings, console):
        pids = _ensure(settings, COMPONENTS, console)
    return StackInfo(
        bootstrap_servers=settings.bootstrap_servers,
        mongo_url=settings.mongo_url,
        kafka_pid=pids[KAFKA_COMPONENT][0],
        store_pid=pids[STORE_COMPONENT][0],
        kafka_version=kafka_version(settings),
        store_version=store_version(settings),
        home=settings.home,
        started=tuple(c for c, (_, new) in pids.items() if new),
    )


def start(component: str, settings: StackSettings | None = None, *,
          console: Console | None = None) -> int:
    """Ensure one component runs and answers; returns its pid."""
    comp = component_name(component)
    settings = settings or StackSettings.from_env()
    console = console or Console(stderr=True)
    with _locked(settings, console):
        return _ensure(settings, (comp,), console)[comp][0]


def _stop(settings: StackSettings, comp: str, timeout: float) -> bool:
    pid = _read_pid(settings, comp)
    if pid is None:
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)  # started with start_new_session: its group is its pid
        deadline = time.monotonic() + wait
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _pid_alive(pid):
            break
    settings.pid_file(comp).unlink(missing_ok=True)
    # the ports are free once the process is gone; give the kernel a moment to agree
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(
            _port_free(settings.host, p) for p in settings.ports(comp)):
        time.sleep(0.1)
    return True


def stop(component: str, settings: StackSettings | None = None, *,
         timeout: float | None = None) -> bool:
    """Stop one component (SIGTERM, then SIGKILL after `timeout`); False if it was not running."""
    comp = component_name(component)
    settings = settings or StackSettings.from_env()
    with _locked(settings):
        return _stop(settings, comp, settings.stop_timeout if timeout is None else timeout)


def down(settings: StackSettings | None = None, *, timeout: float | None = None) -> list[str]:
    """Stop the whole stack; returns the components that were running."""
    settings = settings or StackSettings.from_env()
    t = settings.stop_timeout if timeout is None else timeout
    with _locked(settings):
        # the store first: services hold no state there that Kafka needs
        return [c for c in reversed(COMPONENTS) if _stop(settings, c, t)]


def _restart(component: str, settings: StackSettings | None,
             console: Console | None) -> StackInfo:
    settings = settings or StackSettings.from_env()
    with _locked(settings):
        _stop(settings, component, settings.stop_timeout)
    return ensure_up(settings, console=console)


def restart_kafka(settings: StackSettings | None = None, *,
                  console: Console | None = None) -> StackInfo:
    """Stop the broker and start it again on the same data (for fault tests)."""
    return _restart(KAFKA_COMPONENT, settings, console)


def restart_store(settings: StackSettings | None = None, *,
                  console: Console | None = None) -> StackInfo:
    """Stop FerretDB and start it again on the same data (for fault tests)."""
    return _restart(STORE_COMPONENT, settings, console)


def status(settings: StackSettings | None = None) -> list[ComponentStatus]:
    settings = settings or StackSettings.from_env()
    out: list[ComponentStatus] = []
    for comp in COMPONENTS:
        had_pid_file = settings.pid_file(comp).exists()
        pid = _read_pid(settings, comp)
        if pid is None:
            state = "stale pid file (removed)" if had_pid_file else "stopped"
        elif _port_answers(settings.host, settings.ports(comp)[0]):
            state = "running"
        else:
            state = "unresponsive"
        out.append(ComponentStatus(name=comp, running=state == "running", pid=pid,
                                   address=settings.address(comp),
                                   version=_version(settings, comp, live=state == "running"),
                                   log=settings.log_file(comp), state=state))
    return out


# --------------------------------------------------------------------------------------------
# the `zaiban infra` commands
# --------------------------------------------------------------------------------------------

app = typer.Typer(no_args_is_help=True, help=__doc__.split("\n\n")[0] if __doc__ else None)


def _fail(exc: InfraError) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]zaiban infra:[/bold red] {exc}", markup=True,
                               highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _show(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _print_rows(console: Console, rows: list[ComponentStatus]) -> None:
    colours = {"running": "green", "started": "green", "stopped": "dim"}
    for row in rows:
        colour = colours.get(row.state, "yellow")
        pid = f"pid {row.pid}" if row.pid else "-"
        console.print(f"{row.name:<9}[{colour}]{row.state:<8}[/{colour}] {pid:<10} "
                      f"{row.address:<28} {row.version:<48} log {_show(row.log)}",
                      highlight=False, soft_wrap=True)


@app.command("up")
def up_cmd(timeout: float = typer.Option(None, help="Seconds to wait for each component "
                                              "[default: ZAIBAN_INFRA_TIMEOUT or 120].")) -> None:
    """Start Kafka and FerretDB (or find them running) and wait until both answer."""
    began = time.monotonic()
    try:
        settings = StackSettings.from_env()
        if timeout is not None:
            settings = StackSettings(**{**settings.__dict__, "start_timeout": timeout})
        info = ensure_up(settings)
        rows = [ComponentStatus(
                    name=s.name, running=True, pid=s.pid, address=s.address, version=s.version,
                    log=s.log, state="started" if s.name in info.started else "running")
                for s in status(settings)]
    except InfraError as exc:
        raise _fail(exc) from None
    console = Console()
    _print_rows(console, rows)
    what = "started " + " and ".join(info.started) if info.started else "already running"
    console.print(f"stack {what} in {time.monotonic() - began:.1f}s — "
                  f"bootstrap servers {info.bootstrap_servers}, store {info.mongo_url}",
                  highlight=False, soft_wrap=True)


@app.command("down")
def down_cmd(component: str = typer.Argument(None, help="kafka or ferretdb (default: both).")
          ) -> None:
    """Stop the stack (or one component): SIGTERM, then SIGKILL after a timeout."""
    try:
        settings = StackSettings.from_env()
        if component:
            stopped = [component_name(component)] if stop(component, settings) else []
        else:
            stopped = down(settings)
    except InfraError as exc:
        raise _fail(exc) from None
    Console().print("stopped " + ", ".join(stopped) if stopped else "nothing was running",
                    highlight=False)


@app.command("status")
def status_cmd() -> None:
    """Show each component: state, pid, address, version, log."""
    try:
        rows = status()
    except InfraError as exc:
        raise _fail(exc) from None
    _print_rows(Console(), rows)
