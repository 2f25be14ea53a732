"""A department's own system, as the README shows it (examples/department_client.py), on the
real stack: the signal company is onboarded (`zaiban departments onboard signal-co --out`),
its system connects with the configuration it was given, takes the routed case from its
cases topic, acknowledges it and reports it resolved on its replies topic, and the case's
public timeline shows both steps, given by the signal company."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Any

import httpx
from helpers import WANGFUFEN_REQUEST, client_for, eventually, running
from servicefixtures import token

from contracts.facts import Role
from examples import department_client
from services.common.http import build_app
from services.common.settings import CommonSettings
from services.composition import build
from zaiban.departments import onboard, write_secret

OFFICER = token(Role.OFFICER, subject="officer-li")
FIXED = "更换了信号控制器，四个灯都亮了"


async def timeline(http: httpx.AsyncClient, case_id: str) -> list[dict[str, Any]]:
    answer = await http.get(f"/api/cases/{case_id}", params={"lang": "zh-Hans"})
    return answer.json()["timeline"] if answer.status_code == 200 else []


async def test_the_example_client_answers_its_routed_case_and_the_timeline_shows_it(
    settings: CommonSettings, tmp_path: Path,
) -> None:
    # the operator onboards the signal company and hands it its configuration
    onboarded = await onboard(settings, "signal-co")
    properties = tmp_path / "signal-co.properties"
    write_secret(properties, onboarded.config.properties())
    assert stat.S_IMODE(properties.stat().st_mode) == 0o600
    config = department_client.read_properties(properties)
    assert config["zaiban.cases.topic"] == settings.topic_prefix + (
        "zaiban.routing.department.signal-co.cases")

    services = [build(name, settings) for name in ("intake", "routing", "tracking")]
    stop = asyncio.Event()
    async with running(*services), client_for(build_app(services, title="zaiban")) as http:
        department = asyncio.create_task(
            department_client.run(config, resolution=FIXED, stop=stop))
        try:
            submitted = await http.post("/api/cases", json=WANGFUFEN_REQUEST)
            assert submitted.status_code == 201, submitted.text
            case_id = submitted.json()["case_id"]
            accept = await http.post(f"/api/cases/{case_id}/accept", headers=OFFICER, json={})
            assert accept.status_code == 200, accept.text

            async def resolved() -> list[dict[str, Any]] | None:
                entries = await timeline(http, case_id)
                return entries if entries and entries[-1]["type"] == "CaseResolved" else None

            entries = await eventually(resolved, timeout=30,
                                       what="the department's system to resolve the case")
        finally:
            stop.set()
            await department
    assert [entry["type"] for entry in entries] == [
        "CaseSubmitted", "CaseAccepted", "CaseRouted", "CaseAcknowledged", "CaseResolved"]
    acknowledged, resolved_ = entries[-2:]
    for entry in (acknowledged, resolved_):
        assert (entry["who"]["role"], entry["who"]["department"]) == ("department", "signal-co")
    assert FIXED in str(resolved_)
