"""The local processes: pid files, ports, a lock, build commands and detached starts.

A component runs detached in its own session (so it outlives ``zaiban infra up``) and is found
again through ``run/<component>.pid``: a pid counts only while that process is alive and its
command line names this home's files, so a recycled pid is not mistaken for ours.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from zaiban.infra.settings import KAFKA_COMPONENT, STORE_COMPONENT, InfraError, StackSettings


def pid_alive(pid: int) -> bool:
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


def read_pid(settings: StackSettings, component: str) -> int | None:
    """The pid of our running process for the component, or None (stale pid files are removed)."""
    path = settings.pid_file(component)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    cmd = _cmdline(pid)
    if pid_alive(pid) and (cmd is None or _marker(settings, component) in cmd):
        return pid
    path.unlink(missing_ok=True)
    return None


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port no one listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_env_name(settings: StackSettings, component: str, port: int) -> str:
    if component == STORE_COMPONENT:
        return "ZAIBAN_STORE_PORT"
    return {settings.kafka_port: "ZAIBAN_KAFKA_PORT", settings.tls_port: "ZAIBAN_KAFKA_TLS_PORT"}.get(
        port, "ZAIBAN_KAFKA_CONTROLLER_PORT")


def check_ports_free(settings: StackSettings, component: str) -> None:
    for port in settings.ports(component):
        if not port_free(settings.host, port):
            raise InfraError(
                f"cannot start {component}: port {settings.host}:{port} is taken by another "
                f"process (not one started from {settings.home}); stop it or set "
                f"{_port_env_name(settings, component, port)}")


@contextlib.contextmanager
def locked(settings: StackSettings, console: Console | None = None) -> Iterator[None]:
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


def tail(path: Path, lines: int = 1) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])[:300]


def require_tool(name: str, why: str) -> str:
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


def run_logged(cmd: list[str], log: Path, *, cwd: Path, env: dict[str, str] | None = None,
                what: str, secrets: tuple[str, ...] = ()) -> str:
    """Run a build command, appending its output to `log` (with `secrets` blanked out); a
    failure is an InfraError."""
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,  # noqa: S603
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    output = proc.stdout.decode(errors="replace")
    shown = " ".join(cmd)
    for secret in secrets:
        shown, output = shown.replace(secret, "***"), output.replace(secret, "***")
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} $ {shown}\n{output}"
                 f"=== exit {proc.returncode}\n")
    if proc.returncode != 0:
        raise InfraError(f"{what} failed (exit {proc.returncode}): {_gist(output)} — see {log}")
    return output


def spawn(cmd: list[str], log: Path, *, cwd: Path, env: dict[str, str] | None = None) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} zaiban infra starts: "
                 f"{' '.join(cmd)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,  # noqa: S603
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True)
    return proc.pid


def run_async(factory: Callable[[], Any]) -> Any:
    """Run a coroutine from sync code, also when the calling thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()
