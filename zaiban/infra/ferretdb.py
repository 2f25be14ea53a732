"""FerretDB 1.24 on SQLite: built from its Go module with one source fix, started, pinged.

A plain ``go install …/cmd/ferretdb@version`` cannot be used (see :func:`build_ferretdb`), and
stock 1.24 on SQLite never uses its ``_id`` index (see :data:`FERRETDB_FIXES`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zaiban.infra.processes import check_ports_free, port_answers, require_tool, run_logged, spawn
from zaiban.infra.settings import STORE_COMPONENT, InfraError, StackSettings

FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
# The build's package name says which of FERRETDB_FIXES it carries: a binary built
# without them (an older checkout's) is rebuilt.
FERRETDB_PACKAGE = "zaiban-local+sqlite-id-index"


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


def ferretdb_built(settings: StackSettings) -> bool:
    """The cached binary is the wanted version and carries FERRETDB_FIXES."""
    return ferretdb_binary_version(settings.ferretdb_bin) == (FERRETDB_VERSION, FERRETDB_PACKAGE)


def build_ferretdb(settings: StackSettings) -> None:
    """Build FerretDB from its Go module (skipped when the binary has the wanted version).

    A plain ``go install …/cmd/ferretdb@version`` builds a binary that panics at start: the
    module lacks the generated build/version/version.txt. So: download the module, copy it,
    write that file, apply FERRETDB_FIXES, and ``go build`` the copy.
    """
    if ferretdb_built(settings):
        return
    go = require_tool("go", "Go builds the FerretDB document store")
    log = settings.logs_dir / "ferretdb-build.log"
    build = settings.home / "build"
    build.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOFLAGS": "-mod=mod -buildvcs=false", "CGO_ENABLED": "0"}
    out = run_logged([go, "mod", "download", "-json", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"],
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
    run_logged([go, "build", "-trimpath", "-o", str(tmp_bin), "./cmd/ferretdb"], log, cwd=src,
               env=env, what="Go build of FerretDB")
    built = ferretdb_binary_version(tmp_bin)
    if built != (FERRETDB_VERSION, FERRETDB_PACKAGE):
        raise InfraError(f"the FerretDB build reports {built!r}, not {FERRETDB_VERSION} "
                         f"({FERRETDB_PACKAGE}) — see {log}")
    tmp_bin.replace(settings.ferretdb_bin)
    shutil.rmtree(src, ignore_errors=True)


GO_RUNTIME = {"GOGC": "400", "GOMEMLIMIT": "1GiB"}
"""The store's garbage collection: a cycle each time its heap grew by 400 % rather than Go's
100 %, and more often only as it nears 1 GiB. Every document FerretDB writes or reads becomes
garbage (BSON in, JSON for SQLite, BSON out): at Go's default, a fifth of its CPU went to
collecting it. `zaiban bench seed --cases 30148` (two runs each): its CPU 17.4-17.7 s at 100,
15.1-15.3 at 200, 13.7-14.2 at 400; its peak resident set 215, 290 and 439 MB. A GOGC or
GOMEMLIMIT set in the environment wins."""


def start_ferretdb(settings: StackSettings) -> int:
    check_ports_free(settings, STORE_COMPONENT)
    data = settings.ferretdb_data_dir
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
    env = {**GO_RUNTIME, **os.environ, "DO_NOT_TRACK": "1"}
    pid = spawn(cmd, settings.log_file(STORE_COMPONENT), cwd=state, env=env)
    settings.pid_file(STORE_COMPONENT).write_text(f"{pid}\n")
    return pid


def store_ping(url: str, timeout: float = 2.0) -> dict[str, Any]:
    from pymongo import MongoClient

    ms = int(timeout * 1000)
    client: MongoClient[dict[str, Any]] = MongoClient(
        url, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms)
    try:
        client.admin.command("ping")
        return dict(client.admin.command("buildInfo"))
    finally:
        client.close()


def store_ready(settings: StackSettings) -> bool:
    if not port_answers(settings.host, settings.store_port):
        return False
    store_ping(settings.mongo_url)
    return True


def store_version(settings: StackSettings | None = None) -> str:
    settings = settings or StackSettings.from_env()
    built = ferretdb_binary_version(settings.ferretdb_bin)
    return built[0] if built else FERRETDB_VERSION
