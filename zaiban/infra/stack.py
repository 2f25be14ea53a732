"""The stack as a whole: bring it up (building what is missing), stop it, restart a part, report.

Every entry point takes the home's lock (``run/infra.lock``), so concurrent ``zaiban infra up``
calls, test sessions and benchmarks on one home do not race; a running component is reused.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from zaiban.infra.ferretdb import (
    FERRETDB_VERSION,
    build_ferretdb,
    ferretdb_built,
    start_ferretdb,
    store_ping,
    store_ready,
    store_version,
)
from zaiban.infra.kafka import (
    kafka_jars_cached,
    kafka_ready,
    kafka_version,
    resolve_kafka_jars,
    restore_users,
    start_kafka,
    started_with_authentication,
    started_with_tls_listener,
)
from zaiban.infra.processes import (
    check_ports_free,
    free_port,
    locked,
    pid_alive,
    port_answers,
    port_free,
    read_pid,
    require_tool,
    tail,
)
from zaiban.infra.settings import (
    COMPONENTS,
    KAFKA_COMPONENT,
    STORE_COMPONENT,
    ComponentStatus,
    InfraError,
    StackInfo,
    StackSettings,
    component_name,
)
from zaiban.infra.tls import TlsFiles


def _version(settings: StackSettings, component: str, *, live: bool = False) -> str:
    if component == KAFKA_COMPONENT:
        return f"Apache Kafka {kafka_version(settings)} (KRaft)"
    if live:  # ask the running server itself
        with contextlib.suppress(Exception):
            info = store_ping(settings.mongo_url, timeout=1.0)
            return (f"FerretDB {info.get('ferretdbVersion', '?')} (SQLite; "
                    f"speaks MongoDB {info.get('version', '?')})")
    return f"FerretDB {store_version(settings)} (SQLite)"


def _ready_check(settings: StackSettings, component: str) -> Callable[[], bool]:
    return (lambda: kafka_ready(settings)) if component == KAFKA_COMPONENT else (
        lambda: store_ready(settings))


def _wait_ready(settings: StackSettings, component: str, pid: int, timeout: float) -> None:
    check = _ready_check(settings, component)
    log = settings.log_file(component)
    deadline = time.monotonic() + timeout
    last: object = "port not answering"
    while True:
        if not pid_alive(pid):
            settings.pid_file(component).unlink(missing_ok=True)
            raise InfraError(f"{component} (pid {pid}) exited during start-up: {tail(log)} "
                             f"— see {log}")
        try:
            if check():
                return
            last = "port not answering" if not port_answers(
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
    if KAFKA_COMPONENT in components and not kafka_jars_cached(settings):
        jobs[f"resolving Kafka {kafka_version(settings)} jars with Maven "
             f"(log: {settings.logs_dir / 'maven.log'})"] = lambda: resolve_kafka_jars(settings)
    if STORE_COMPONENT in components and not ferretdb_built(settings):
        jobs[f"building FerretDB {FERRETDB_VERSION} with Go "
             f"(log: {settings.logs_dir / 'ferretdb-build.log'})"] = (
            lambda: build_ferretdb(settings))
    if not jobs:
        return
    # fail fast on a missing tool, before starting anything long
    for label in jobs:
        if label.startswith("resolving"):
            require_tool("mvn", "Maven resolves the Kafka broker's jars")
        else:
            require_tool("go", "Go builds the FerretDB document store")
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
    running = {comp: read_pid(settings, comp) for comp in components}
    if (settings.authenticated and running.get(KAFKA_COMPONENT) is not None
            and not started_with_authentication(settings)):
        raise InfraError(
            f"the running Kafka (pid {running[KAFKA_COMPONENT]}) was started by an older zaiban, "
            f"without authentication, and no client of this one can talk to it: stop it "
            f"(`zaiban infra down kafka`) and start it again (`zaiban infra up`), which formats "
            f"its local storage again with the admin's credential")
    if (settings.authenticated and running.get(KAFKA_COMPONENT) is not None
            and not started_with_tls_listener(settings)):
        raise InfraError(
            f"the running Kafka (pid {running[KAFKA_COMPONENT]}) was started by an older zaiban, "
            f"without the departments' TLS listener: restart it (`zaiban infra down kafka`, "
            f"then `zaiban infra up`; its data is kept)")
    to_start = tuple(comp for comp, pid in running.items() if pid is None)
    for comp in to_start:  # fail fast, before any long build
        if comp == KAFKA_COMPONENT:
            require_tool("java", "Java 17 runs the Kafka broker")
        check_ports_free(settings, comp)
    _prepare(settings, to_start, console)
    for comp in components:
        pid = running[comp]
        if pid is not None:
            result[comp] = (pid, False)
            continue
        settings.logs_dir.mkdir(parents=True, exist_ok=True)
        pid = (start_kafka(settings, console) if comp == KAFKA_COMPONENT
               else start_ferretdb(settings))
        result[comp] = (pid, True)
    starting = [c for c, (_, new) in result.items() if new]
    label = ("waiting for " + " and ".join(starting) + " to answer") if starting else (
        "checking the running stack")
    with console.status(label + " …", spinner="dots"):
        for comp, (pid, _new) in result.items():
            _wait_ready(settings, comp, pid, settings.start_timeout)
        if result.get(KAFKA_COMPONENT, (0, False))[1]:
            _users_back(settings, result[KAFKA_COMPONENT][0])
    return result


def _users_back(settings: StackSettings, pid: int) -> None:
    """A broker started now may be new (a private one of tests', one formatted again) and know
    only the admin: every principal of the local credentials is made its SCRAM user (again),
    with its password."""
    try:
        restore_users(settings)
    except Exception as exc:
        raise InfraError(f"kafka (pid {pid}) answers, but the local principals' credentials "
                         f"could not be set: {type(exc).__name__}: {exc} — see "
                         f"{settings.log_file(KAFKA_COMPONENT)}") from exc


def ensure_up(settings: StackSettings | None = None, *,
              console: Console | None = None) -> StackInfo:
    """Start Kafka and FerretDB unless they already run; wait until both answer.

    Idempotent: a running stack is reused (same pids, ``started == ()``). Raises
    :class:`InfraError` with a one-line reason when the stack cannot be had.
    """
    settings = settings or StackSettings.from_env()
    console = console or Console(stderr=True)
    with locked(settings, console):
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
        kafka_credentials=settings.kafka_credentials_dir,
        departments_bootstrap=settings.tls_bootstrap_servers,
        departments_ca_file=TlsFiles(settings.kafka_tls_dir).ca,
    )


def start(component: str, settings: StackSettings | None = None, *,
          console: Console | None = None) -> int:
    """Ensure one component runs and answers; returns its pid."""
    comp = component_name(component)
    settings = settings or StackSettings.from_env()
    console = console or Console(stderr=True)
    with locked(settings, console):
        return _ensure(settings, (comp,), console)[comp][0]


def _stop(settings: StackSettings, comp: str, timeout: float) -> bool:
    pid = read_pid(settings, comp)
    if pid is None:
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)  # started with start_new_session: its group is its pid
        deadline = time.monotonic() + wait
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not pid_alive(pid):
            break
    settings.pid_file(comp).unlink(missing_ok=True)
    # the ports are free once the process is gone; give the kernel a moment to agree
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(
            port_free(settings.host, p) for p in settings.ports(comp)):
        time.sleep(0.1)
    return True


def stop(component: str, settings: StackSettings | None = None, *,
         timeout: float | None = None) -> bool:
    """Stop one component (SIGTERM, then SIGKILL after `timeout`); False if it was not running."""
    comp = component_name(component)
    settings = settings or StackSettings.from_env()
    with locked(settings):
        return _stop(settings, comp, settings.stop_timeout if timeout is None else timeout)


def down(settings: StackSettings | None = None, *, timeout: float | None = None) -> list[str]:
    """Stop the whole stack; returns the components that were running."""
    settings = settings or StackSettings.from_env()
    t = settings.stop_timeout if timeout is None else timeout
    with locked(settings):
        # the store first: services hold no state there that Kafka needs
        return [c for c in reversed(COMPONENTS) if _stop(settings, c, t)]


@contextlib.contextmanager
def throwaway_kafka(like: StackSettings | None = None, *,
                    console: Console | None = None) -> Iterator[StackSettings]:
    """A broker of the local stack's Kafka build, but PLAINTEXT (no users, no ACLs, no TLS),
    in a temporary home on free loopback ports: started, handed over, then stopped and its
    home deleted. `like` gives the build (its jars are shared, nothing is resolved) and the
    heap; `zaiban bench bus-security` measures the cost of authentication against it."""
    like = like or StackSettings.from_env()
    with tempfile.TemporaryDirectory(prefix="zaiban-kafka-") as home:
        own = replace(like, home=Path(home), kafka_port=free_port(), controller_port=free_port(),
                      tls_port=free_port(), stop_timeout=15, authenticated=False)
        own.kafka_dir.mkdir(parents=True)
        if like.libs_dir.is_dir():
            own.libs_dir.symlink_to(like.libs_dir, target_is_directory=True)
        try:
            start(KAFKA_COMPONENT, own, console=console)
            yield own
        finally:
            stop(KAFKA_COMPONENT, own)


def private_settings(home: Path, like: StackSettings | None = None) -> StackSettings:
    """Settings for a second local stack (for fault tests and `zaiban chaos`, which stop and
    restart its broker and store): its own `home`, free loopback ports, and `like`'s (the
    local stack's) Kafka jars, FerretDB binary and Kafka credentials, symlinked, so nothing
    is resolved or built and every client logs in to it as to the local one."""
    like = like or StackSettings.from_env()
    own = StackSettings(home=home, kafka_port=free_port(), controller_port=free_port(),
                        tls_port=free_port(), store_port=free_port(),
                        start_timeout=like.start_timeout, stop_timeout=15,
                        kafka_heap=like.kafka_heap)
    own.kafka_dir.mkdir(parents=True, exist_ok=True)
    own.bin_dir.mkdir(parents=True, exist_ok=True)
    for link, target in ((own.libs_dir, like.libs_dir), (own.ferretdb_bin, like.ferretdb_bin),
                         (own.kafka_credentials_dir, like.kafka_credentials_dir)):
        if target.exists() and not link.exists():
            link.symlink_to(target, target_is_directory=target.is_dir())
    return own


def _restart(component: str, settings: StackSettings | None,
             console: Console | None) -> StackInfo:
    settings = settings or StackSettings.from_env()
    with locked(settings):
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
        pid = read_pid(settings, comp)
        if pid is None:
            state = "stale pid file (removed)" if had_pid_file else "stopped"
        elif port_answers(settings.host, settings.ports(comp)[0]):
            state = "running"
        else:
            state = "unresponsive"
        out.append(ComponentStatus(name=comp, running=state == "running", pid=pid,
                                   address=settings.address(comp),
                                   version=_version(settings, comp, live=state == "running"),
                                   log=settings.log_file(comp), state=state))
    return out
