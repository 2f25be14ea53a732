"""Shared pytest fixtures and hooks."""

from __future__ import annotations

import os

import pytest

# ---- the real stack (owner: infra) ------------------------------------------------------------
# `stack` (session): the running Kafka broker and MongoDB-protocol store (zaiban.infra.StackInfo);
#     started on demand with `zaiban infra up`'s Python API, reused when already running; with
#     ZAIBAN_TEST_STACK=containers, testcontainers images instead. Unavailable → tests FAIL.
# `namespace` (function): a unique topic prefix "t<hex>." and database "zt_<hex>" for one test;
#     the database and the prefixed topics are dropped afterwards.
# `local_stack` (session): the project's own local processes (`zaiban infra up`) in any mode —
#     for tests about them; in local mode it is `stack`. Unavailable → tests FAIL.
# `private_stack` (function): a second Kafka + FerretDB of one's own on free ports, for fault tests
#     that stop/restart the broker or store (PrivateStack.restart_kafka(), .stop("store"), ...).
# `small_disk_stack` (function): a private stack whose store's data is on a tmpfs of
#     `store_disk_mb` MB (a fixture a module overrides), for the full-disk fault; needs root.
# The tests/ folder is on sys.path (pytest's rootdir-relative conftest import), hence the import.
from stackfixtures import (  # noqa: F401
    Namespace,
    local_stack,
    namespace,
    namespace_db,
    private_stack,
    small_disk_stack,
    stack,
    store_disk_mb,
)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With ZAIBAN_REQUIRE_TESTS=1 (set by `make test`), a run where no test ran fails."""
    if not os.environ.get("ZAIBAN_REQUIRE_TESTS") or exitstatus != pytest.ExitCode.OK:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    ran = sum(len(reporter.stats.get(k, ())) for k in ("passed", "failed", "error",
                                                       "xfailed", "xpassed"))
    if ran == 0:
        reporter.write_line("ZAIBAN_REQUIRE_TESTS: no test ran (all skipped or deselected)",
                            red=True)
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
# ---- end of the real stack block --------------------------------------------------------------

# ---- services on the stack ----------------------------------------------------------------------
# `settings` (function): CommonSettings for this test's namespace (topics, databases, test secret).
from servicefixtures import settings  # noqa: E402, F401

LONGEST_FIRST = ("tests/faults/", "tests/unit/bench/", "tests/e2e/", "tests/fuzz/",
                 "tests/browser/", "tests/security/")
"""Folders whose files take longest (fault scenarios, bench smoke runs, whole stacks)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first. `make test` hands whole files to its processes in collection
    order (--dist loadfile): the bench smoke tests (about three minutes, `unit` sorting last)
    were the last file left, running alone while the other processes had finished. Each
    file's tests stay together and in their order (a stable sort by folder)."""

    def rank(item: pytest.Item) -> int:
        return next((n for n, folder in enumerate(LONGEST_FIRST)
                     if item.nodeid.startswith(folder)), len(LONGEST_FIRST))

    items.sort(key=rank)
