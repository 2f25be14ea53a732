"""A newcomer's first run: `zaiban up` in a fresh home starts its own broker and store, loads
the demo city and serves the public entry — and says nothing alarming while the new broker
settles: no ERROR line and no traceback, from the services or from the libraries under them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from helpers import alarming
from stackfixtures import private_settings

from zaiban import infra
from zaiban.demo import REFERENCE_CASE
from zaiban.infra import StackInfo
from zaiban.infra.processes import free_port

pytestmark = pytest.mark.stack

ZAIBAN = Path(sys.executable).with_name("zaiban")
ROOT = Path(__file__).resolve().parents[2]

def test_the_check_sees_error_lines_in_every_form() -> None:
    output = "\n".join([
        "WARNING:aiokafka.consumer.group_coordinator:Heartbeat failed for group g",
        "ERROR:aiokafka.cluster:Topic t.zaiban.case-events not found in cluster metadata",
        '{"service": "intake", "event": "service_started", "level": "info"}',
        '{"event": "projection_failed", "level": "error", "service": "tracking"}',
        "2026-10-06T08:00:00Z [error    ] projection_failed service=tracking",
        "Traceback (most recent call last):",
        "an error_rate of 0.1 is no error line",
    ])
    assert alarming(output) == output.splitlines()[1:2] + output.splitlines()[3:6]


def first_run_environment(home: infra.StackSettings, public_port: int) -> dict[str, str]:
    """A shell with nothing of zaiban set but a fresh home, free ports and a namespace."""
    token = uuid.uuid4().hex[:12]
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZAIBAN_")}
    env.update({
        "ZAIBAN_HOME": str(home.home),
        "ZAIBAN_KAFKA_PORT": str(home.kafka_port),
        "ZAIBAN_KAFKA_CONTROLLER_PORT": str(home.controller_port),
        "ZAIBAN_KAFKA_TLS_PORT": str(home.tls_port),
        "ZAIBAN_STORE_PORT": str(home.store_port),
        "ZAIBAN_PUBLIC_PORT": str(public_port),
        "ZAIBAN_TOPIC_PREFIX": f"t{token}.",
        "ZAIBAN_DB_PREFIX": f"zt_{token}",
    })
    return env


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Until `url` answers 200; fails when `zaiban up` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"zaiban up exited ({process.returncode}) before {url} answered:\n"
                        f"{log.read_text(errors='replace')}")
        try:
            answer = httpx.get(url, timeout=5.0)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text[:200]}"
        except httpx.HTTPError as error:
            last = repr(error)
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer 200 within {timeout:.0f}s ({last}):\n"
                f"{log.read_text(errors='replace')}")


def test_a_first_zaiban_up_prints_no_error_and_no_traceback(local_stack: StackInfo,
                                                           tmp_path: Path) -> None:
    home = private_settings(tmp_path)  # a home of its own: its broker is new, as on a first run
    port = free_port()
    log = tmp_path / "zaiban-up.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(ZAIBAN), "up"], cwd=ROOT, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=first_run_environment(home, port))
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/readyz", process, log, timeout=240)
        # the consumers have joined their groups and read the demo's log
        wait_for(f"{base}/api/cases/{REFERENCE_CASE}", process, log, timeout=120)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # Ctrl-C, as the banner says
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        infra.down(home)

    output = log.read_text(errors="replace")
    assert "zaiban is starting on" in output
    assert alarming(output) == [], output
