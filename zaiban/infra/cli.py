"""The `zaiban infra` commands: up, down, status (mounted by zaiban/cli.py)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import typer
from rich.console import Console

from zaiban.infra.settings import ComponentStatus, InfraError, StackSettings, component_name
from zaiban.infra.stack import down, ensure_up, status, stop

app = typer.Typer(no_args_is_help=True, help="The local real stack: Apache Kafka (KRaft) and "
                                             "FerretDB (SQLite), run as local processes.")


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
    console.print(f"departments connect over TLS (SASL_SSL) to {info.departments_bootstrap}, "
                  f"trusting the CA {info.departments_ca_file}", highlight=False, soft_wrap=True)


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
