"""Toxiproxy: a TCP proxy whose links can be made slow, cut or black-holed on demand (the
network between the services and their broker and store, for `zaiban chaos network`).

Built with ``go install`` from its Go module (cached in the stack's ``bin/`` like FerretDB,
rebuilt when its version differs), started on demand on a free loopback port by whoever needs
it (never by ``zaiban infra up``: the platform does not), its pid tracked in
``run/toxiproxy.pid``, and stopped by that pid. :class:`Toxiproxy` is a small async client of
its HTTP API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from zaiban.infra.processes import free_port, pid_alive, require_tool, run_logged, spawn, tail
from zaiban.infra.settings import InfraError, StackSettings

TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"
TOXIPROXY_VERSION = "v2.5.0"
"""Builds with this Go (v2.3.0 is older and brings nothing wanted here)."""
TOXIPROXY_COMPONENT = "toxiproxy"

Stream = Literal["upstream", "downstream"]
"""upstream: from the client (a service) to the server (broker, store); downstream: back."""


def toxiproxy_bin(settings: StackSettings) -> Path:
    return settings.bin_dir / "toxiproxy-server"


def toxiproxy_binary_version(binary: Path) -> str | None:
    """`toxiproxy-server -version` → 'v2.5.0', or None when absent or broken."""
    if not binary.is_file():
        return None
    try:
        out = subprocess.run([str(binary), "-version"], capture_output=True, text=True,  # noqa: S603
                             timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = out.stdout.split()
    return words[-1] if out.returncode == 0 and words else None


def build_toxiproxy(settings: StackSettings) -> Path:
    """``go install`` Toxiproxy's server into the stack's bin dir (skipped when the binary
    there has the wanted version); the binary. Its version is stamped in at link time (the
    module's own is "git"), which is how the cache knows it."""
    binary = toxiproxy_bin(settings)
    if toxiproxy_binary_version(binary) == TOXIPROXY_VERSION:
        return binary
    go = require_tool("go", "Go builds Toxiproxy, the network fault proxy")
    log = settings.logs_dir / "toxiproxy-build.log"
    gobin = settings.bin_dir / "toxiproxy.build"
    shutil.rmtree(gobin, ignore_errors=True)
    gobin.mkdir(parents=True)
    env = {**os.environ, "GOBIN": str(gobin), "CGO_ENABLED": "0",
           "GOFLAGS": "-mod=mod -buildvcs=false"}
    run_logged([go, "install", "-trimpath",
                f"-ldflags=-X {TOXIPROXY_MODULE}.Version={TOXIPROXY_VERSION}",
                f"{TOXIPROXY_MODULE}/cmd/server@{TOXIPROXY_VERSION}"],
               log, cwd=settings.bin_dir, env=env, what="Go install of Toxiproxy")
    built = toxiproxy_binary_version(gobin / "server")
    if built != TOXIPROXY_VERSION:
        raise InfraError(f"the Toxiproxy build reports {built!r}, not {TOXIPROXY_VERSION} "
                         f"— see {log}")
    (gobin / "server").replace(binary)
    shutil.rmtree(gobin, ignore_errors=True)
    return binary


@dataclass(frozen=True)
class ToxiproxyServer:
    """A running Toxiproxy: its pid and the address of its API."""

    pid: int
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def start_toxiproxy(settings: StackSettings, binary: Path,
                    timeout: float = 30.0) -> ToxiproxyServer:
    """Start Toxiproxy on a free loopback port (its log in the stack's logs, its pid in
    run/toxiproxy.pid) and wait until its API answers."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    port = free_port(settings.host)
    log = settings.log_file(TOXIPROXY_COMPONENT)
    pid = spawn([str(binary), "-host", settings.host, "-port", str(port)], log,
                cwd=settings.run_dir,
                env={**os.environ, "LOG_LEVEL": "warn"})  # its default traces every write
    settings.pid_file(TOXIPROXY_COMPONENT).write_text(f"{pid}\n")
    server = ToxiproxyServer(pid, settings.host, port)
    deadline = time.monotonic() + timeout
    while True:
        if not pid_alive(pid):
            raise InfraError(f"toxiproxy (pid {pid}) exited during start-up: {tail(log)} "
                             f"— see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/version", timeout=1.0).status_code == 200:
                return server
        if time.monotonic() > deadline:
            stop_toxiproxy(settings, server)
            raise InfraError(f"toxiproxy (pid {pid}) not answering after {timeout:.0f}s "
                             f"— see {log}")
        time.sleep(0.2)


def stop_toxiproxy(settings: StackSettings, server: ToxiproxyServer) -> None:
    """SIGTERM to the process we started (its own session), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.pid, sig)
        deadline = time.monotonic() + wait
        while pid_alive(server.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not pid_alive(server.pid):
            break
    settings.pid_file(TOXIPROXY_COMPONENT).unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def running_toxiproxy(settings: StackSettings,
                            build_in: StackSettings | None = None) -> AsyncIterator[Toxiproxy]:
    """Toxiproxy for the length of the block, as a client of its API: built (cached) in
    `build_in`'s bin dir (the local stack's, so a private stack does not build it again),
    run with its log and pid in `settings`' home, stopped at the end."""
    binary = await asyncio.to_thread(build_toxiproxy, build_in or settings)
    server = await asyncio.to_thread(start_toxiproxy, settings, binary)
    try:
        async with Toxiproxy(server.url) as client:
            yield client
    finally:
        await asyncio.to_thread(stop_toxiproxy, settings, server)


class Toxiproxy:
    """An async client of Toxiproxy's HTTP API (v2): proxies, and the toxics on them."""

    def __init__(self, url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=url, timeout=10.0, transport=transport)

    async def __aenter__(self) -> Toxiproxy:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = await self._http.request(method, path, json=body)
        if answer.status_code >= 300:
            raise InfraError(f"toxiproxy: {method} {path} answered {answer.status_code}: "
                             f"{answer.text[:200]}")
        return answer.json() if answer.content else None

    async def version(self) -> str:
        return (await self._http.get("/version")).text.strip()

    async def create_proxy(self, name: str, listen: str, upstream: str) -> dict[str, Any]:
        """A proxy listening on `listen` (host:port) that forwards to `upstream`."""
        return dict(await self._call("POST", "/proxies", {
            "name": name, "listen": listen, "upstream": upstream, "enabled": True}))

    async def proxies(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/proxies"))

    async def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Disabled, a proxy closes its connections and refuses new ones."""
        await self._call("POST", f"/proxies/{proxy}", {"enabled": enabled})

    async def add_toxic(self, proxy: str, name: str, kind: str, stream: Stream = "downstream",
                        toxicity: float = 1.0, **attributes: float) -> None:
        await self._call("POST", f"/proxies/{proxy}/toxics", {
            "name": name, "type": kind, "stream": stream, "toxicity": toxicity,
            "attributes": attributes})

    async def remove_toxic(self, proxy: str, name: str) -> None:
        await self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    async def latency(self, proxy: str, ms: int, jitter_ms: int = 0,
                      stream: Stream = "downstream") -> str:
        """Each chunk delayed by `ms` ± `jitter_ms`; the toxic's name."""
        name = f"latency-{stream}"
        await self.add_toxic(proxy, name, "latency", stream, latency=ms, jitter=jitter_ms)
        return name

    async def reset_peer(self, proxy: str, after_ms: int = 0,
                         stream: Stream = "downstream") -> str:
        """Connections reset (TCP RST) `after_ms` after data arrives; the toxic's name."""
        name = f"reset-{stream}"
        await self.add_toxic(proxy, name, "reset_peer", stream, timeout=after_ms)
        return name

    async def black_hole(self, proxy: str, stream: Stream = "downstream",
                         close_after_ms: int = 0) -> str:
        """Every byte dropped, connections left open (0) or closed after `close_after_ms`;
        removing it closes them. The toxic's name."""
        name = f"timeout-{stream}"
        await self.add_toxic(proxy, name, "timeout", stream, timeout=close_after_ms)
        return name

    async def bandwidth(self, proxy: str, kb_per_s: int, stream: Stream = "downstream") -> str:
        name = f"bandwidth-{stream}"
        await self.add_toxic(proxy, name, "bandwidth", stream, rate=kb_per_s)
        return name
