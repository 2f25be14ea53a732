"""The public entry as `make up` serves it, on the real stack, for the security and fuzz tests.

Every service that exists in this checkout runs in-process behind one app
(`services.composition.create_public_app`); the app's own lifespan starts and stops
them. Cases are made over HTTP, as a resident and staff would make them.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from helpers import eventually
from servicefixtures import token

from contracts.facts import Role
from services.common.settings import CommonSettings
from services.composition import SERVICES, create_public_app
from services.intake.settings import IntakeSettings
from services.opendata.settings import OpenDataSettings
from services.routing.settings import RoutingSettings
from services.tracking.settings import TrackingSettings

AVAILABLE = tuple(name for name in SERVICES
                  if importlib.util.find_spec(f"services.{name}.service") is not None)
"""The services written so far (metrics may still be on its way)."""

DEPT_A, DEPT_B = "water-co", "signal-co"
RESIDENT_NAME, RESIDENT_PHONE, RESIDENT_EMAIL = "欧阳秀英", "13912345678", "xiuying.ouyang@example.cn"
PRIVATE_ADDRESS = "金水区花园路88号院3号楼2单元502室"
STREET = "花园路农业路口"

SUBMISSION: dict[str, Any] = {
    "category": "water",  # its exact address is private; the rules route it to water-co
    "description": "花园路农业路口附近停水两天了，水龙头一直没有水，请尽快处理。",
    "location": {"district": "jinshui", "street": STREET, "address": PRIVATE_ADDRESS},
    "contact": {"name": RESIDENT_NAME, "phone": RESIDENT_PHONE, "email": RESIDENT_EMAIL},
}

OFFICER = token(Role.OFFICER, subject="officer-li")
SUPERVISOR = token(Role.SUPERVISOR, subject="supervisor-zhao")
REPORTER = token(Role.REPORTER, subject="reporter-zhang")
ADMIN = token(Role.ADMIN, subject="admin-root")
DEPARTMENT_A = token(Role.DEPARTMENT, DEPT_A, subject="water-desk")
DEPARTMENT_B = token(Role.DEPARTMENT, DEPT_B, subject="signal-desk")

# A tiny valid PNG (1x1, grey).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
    "3a7e9b550000000a49444154789c6360000000020001e221bc330000000049454e44ae426082")


class EntrySettings(IntakeSettings, RoutingSettings, TrackingSettings,
                    OpenDataSettings):
    """Every service's settings in one object, as the environment gives them to `make up`."""


def entry_settings(settings: CommonSettings, **overrides: Any) -> EntrySettings:
    """Settings for every service of the entry; live streams end after a second so that
    an in-process client (which reads a whole response) gets its answer."""
    values = {**settings.model_dump(), "tracking_live_max_age_s": 1.0,
              "tracking_live_heartbeat_s": 0.5, "opendata_live_max_age_s": 0.5,
              "opendata_poll_s": 0.2, **overrides}
    return EntrySettings(**values)


@asynccontextmanager
async def public_entry(settings: CommonSettings, **overrides: Any) -> AsyncIterator[FastAPI]:
    """The public entry with every available service started (and stopped afterwards)."""
    app = create_public_app(entry_settings(settings, **overrides), services=AVAILABLE)
    async with app.router.lifespan_context(app):
        yield app


def client(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """An in-process HTTP client from `address`; a server error is an answer, not a raise."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://zaiban.test", timeout=30)


# --- making cases over HTTP ------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    case_id: str
    code: str


async def submit(http: httpx.AsyncClient, **changes: Any) -> Made:
    answer = await http.post("/api/cases", json={**SUBMISSION, **changes})
    assert answer.status_code == 201, answer.text
    return Made(answer.json()["case_id"], answer.json()["tracking_code"])


async def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201), f"{answer.request.url}: {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


async def staff_rows(http: httpx.AsyncClient, statuses: list[str]) -> dict[str, dict[str, Any]]:
    """Every case in `statuses` as the staff list shows it, by case number."""
    rows: dict[str, dict[str, Any]] = {}
    offset: int | None = 0
    while offset is not None:
        page = await ok(await http.get("/api/staff/cases", headers=OFFICER, params={
            "status": statuses, "limit": 100, "offset": offset}))
        rows.update({row["case_id"]: row for row in page["items"]})
        offset = page["next_offset"]
    return rows


def settled(row: dict[str, Any] | None, state: str) -> bool:
    if row is None:
        return False
    if state == "accepted":  # and handed to the reporter: routing's reaction is recorded
        return bool(row["status"] == "accepted" and row["seq"] >= 3)
    return bool(row["status"] == "routed" and (row["department"] or {}).get("code") == DEPT_A)


async def cases_in(http: httpx.AsyncClient, states: list[str]) -> list[Made]:
    """Fresh cases, one in each of `states`: submitted, accepted (held by a reporter, so
    nothing routes it), routed (to DEPT_A, by the rules), resolved (by DEPT_A) or disputed
    (resolved, and its resident says fixed but not satisfied)."""
    made = list(await asyncio.gather(*(submit(http) for _ in states)))

    async def accept(case: Made, state: str) -> None:
        body = {"reporter_id": "reporter-zhang"} if state == "accepted" else {}
        await ok(await http.post(f"/api/cases/{case.case_id}/accept", headers=OFFICER, json=body))

    later = [(case, state) for case, state in zip(made, states, strict=True)
             if state != "submitted"]
    await asyncio.gather(*(accept(case, state) for case, state in later))

    async def reacted() -> bool:  # one query for all of them, not one each
        rows = await staff_rows(http, ["accepted", "routed"])
        return all(settled(rows.get(case.case_id), state) for case, state in later)

    if later:
        await eventually(reacted, timeout=120, every=0.5,
                         what=f"routing to route or hand over {len(later)} cases")
    async def resolve(case: Made) -> None:
        await ok(await http.post(f"/api/cases/{case.case_id}/resolve", headers=DEPARTMENT_A,
                                 json={"resolution": "已修复管道，恢复供水。"}))

    await asyncio.gather(*(resolve(case) for case, state in later
                           if state in ("resolved", "disputed")))

    async def dispute(case: Made) -> None:
        await ok(await http.post(f"/api/cases/{case.case_id}/feedback",
                                 headers={"X-Tracking-Code": case.code},
                                 json={"fixed": True, "satisfied": False, "rating": 2}))

    await asyncio.gather(*(dispute(case) for case, state in later if state == "disputed"))
    return made


async def work_on(http: httpx.AsyncClient, case_id: str, department: dict[str, str], *,
                  note: str, progress: str, resolution: str) -> None:
    """A department's work on a case routed to it: acknowledged with `note`, a public
    progress note, resolved."""
    at = f"/api/cases/{case_id}"
    await ok(await http.post(f"{at}/acknowledge", headers=department, json={"note": note}))
    await ok(await http.post(f"{at}/progress", headers=department,
                             json={"note": progress, "public": True}))
    await ok(await http.post(f"{at}/resolve", headers=department,
                             json={"resolution": resolution}))


async def case_in(http: httpx.AsyncClient, state: str) -> Made:
    return (await cases_in(http, [state]))[0]


async def upload_photo(http: httpx.AsyncClient) -> str:
    answer = await ok(await http.post("/api/media", files={"photo": ("p.png", PNG, "image/png")}))
    return str(answer["url"]).rsplit("/", 1)[-1]
