"""A department's own system, as the README shows it, on the real stack: the signal company
is onboarded (`zaiban departments onboard signal-co --out`), its system connects with the
configuration it was given, takes the routed case from its cases topic and answers on its
replies topic, and the case's public timeline shows it, given by the signal company. It
connects as a department does, from outside: to the broker's SASL_SSL listener, trusting the
CA its configuration carries.

In Python (examples/department_client.py, aiokafka), and in Java (examples/DepartmentClient.java,
the Kafka client reading the properties file as it is, run with the local broker's jars)."""

from __future__ import annotations

import asyncio
import shutil
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from helpers import WANGFUFEN_REQUEST, client_for, departments_over_tls, eventually, running
from servicefixtures import token

from contracts.facts import Role
from examples import department_client
from services.common.http import build_app
from services.common.settings import CommonSettings
from services.composition import build
from zaiban.departments import offboard, onboard, write_secret
from zaiban.infra import StackInfo, StackSettings

OFFICER = token(Role.OFFICER, subject="officer-li")
FIXED = "更换了信号控制器，四个灯都亮了"


async def timeline(http: httpx.AsyncClient, case_id: str) -> list[dict[str, Any]]:
    answer = await http.get(f"/api/cases/{case_id}", params={"lang": "zh-Hans"})
    return answer.json()["timeline"] if answer.status_code == 200 else []


@pytest_asyncio.fixture(loop_scope="session")
async def onboarded(settings: CommonSettings, local_stack: StackInfo,
                    tmp_path: Path) -> AsyncIterator[Path]:
    """The operator onboards the signal company and hands it its configuration: for the
    broker's TLS listener, with the CA that issued the broker's certificate. Its Kafka user is
    the broker's, not the test's namespace's: offboarded afterwards (and no other test file
    onboards signal-co, as make test runs the files side by side)."""
    done = await onboard(departments_over_tls(settings, local_stack), "signal-co")
    try:
        assert done.config.bootstrap == local_stack.departments_bootstrap
        assert done.config.security.protocol == "SASL_SSL"
        properties = tmp_path / "signal-co.properties"
        write_secret(properties, done.config.properties())
        assert stat.S_IMODE(properties.stat().st_mode) == 0o600
        yield properties
    finally:
        await offboard(settings, "signal-co")


async def routed_case(http: httpx.AsyncClient) -> str:
    """A resident reports the dark traffic lights; an officer accepts: routed to signal-co."""
    submitted = await http.post("/api/cases", json=WANGFUFEN_REQUEST)
    assert submitted.status_code == 201, submitted.text
    case_id: str = submitted.json()["case_id"]
    accept = await http.post(f"/api/cases/{case_id}/accept", headers=OFFICER, json={})
    assert accept.status_code == 200, accept.text
    return case_id


async def timeline_ending(http: httpx.AsyncClient, case_id: str, last: str,
                          what: str) -> list[dict[str, Any]]:
    async def ended() -> list[dict[str, Any]] | None:
        entries = await timeline(http, case_id)
        return entries if entries and entries[-1]["type"] == last else None

    return await eventually(ended, timeout=60, what=what)


async def test_the_python_client_answers_its_routed_case_and_the_timeline_shows_it(
    settings: CommonSettings, onboarded: Path,
) -> None:
    config = department_client.read_properties(onboarded)
    assert config["zaiban.cases.topic"] == settings.topic_prefix + (
        "zaiban.routing.department.signal-co.cases")

    services = [build(name, settings) for name in ("intake", "routing", "tracking")]
    stop = asyncio.Event()
    async with running(*services), client_for(build_app(services, title="zaiban")) as http:
        department = asyncio.create_task(
            department_client.run(config, resolution=FIXED, stop=stop))
        try:
            case_id = await routed_case(http)
            entries = await timeline_ending(http, case_id, "CaseResolved",
                                            "the department's system to resolve the case")
        finally:
            stop.set()
            await department
    assert [entry["type"] for entry in entries] == [
        "CaseSubmitted", "CaseAccepted", "CaseRouted", "CaseAcknowledged", "CaseResolved"]
    acknowledged, resolved_ = entries[-2:]
    for entry in (acknowledged, resolved_):
        assert (entry["who"]["role"], entry["who"]["department"]) == ("department", "signal-co")
    assert FIXED in str(resolved_)


async def test_the_java_client_reads_the_same_properties_file_and_acknowledges_its_case(
    settings: CommonSettings, onboarded: Path,
) -> None:
    java = shutil.which("java")
    assert java, "Java 17 runs the local broker; it runs the Java example too"
    properties = onboarded
    jars = StackSettings.from_env().libs_dir  # kafka-clients, jackson, slf4j: the broker's own
    example = Path(__file__).parents[2] / "examples" / "DepartmentClient.java"

    services = [build(name, settings) for name in ("intake", "routing", "tracking")]
    async with running(*services), client_for(build_app(services, title="zaiban")) as http:
        case_id = await routed_case(http)
        department = await asyncio.create_subprocess_exec(
            java, "-cp", f"{jars}/*", str(example), str(properties), "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            output, _ = await asyncio.wait_for(department.communicate(), timeout=120)
        finally:
            if department.returncode is None:
                department.kill()
        assert department.returncode == 0, output.decode()
        assert f"signal-co: {case_id} assigned: acknowledged" in output.decode()
        entries = await timeline_ending(http, case_id, "CaseAcknowledged",
                                        "the Java client's acknowledgement")
    assert (entries[-1]["who"]["role"], entries[-1]["who"]["department"]) == (
        "department", "signal-co")
