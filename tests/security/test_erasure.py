"""Erasing a resident's personal data, on the real stack, through the public entry.

Given a resident's case with their contact, their flat's address and a photo, when
the resident (with the tracking code) or an admin erases it, then the key is
destroyed and the sealed data opens nowhere, the photo is gone, the erasure is
recorded once in the case's history (by intake before triage, by routing after),
the departments holding the case are told, every view drops the person at once, a
replay from offset 0 rebuilds the case without them — and every public figure stays
what it was. Asking twice, with a wrong code, or for an unknown case is a clear 4xx.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import httpx
from faults.processes import ZAIBAN, environment
from helpers import eventually, figures_caught_up, personal_of, read_events, read_topic
from security.public_entry import (
    ADMIN,
    DEPARTMENT_A,
    DEPT_A,
    OFFICER,
    PRIVATE_ADDRESS,
    RESIDENT_EMAIL,
    RESIDENT_NAME,
    RESIDENT_PHONE,
    SUBMISSION,
    Made,
    case_in,
    client,
    ok,
    public_entry,
    submit,
    upload_photo,
)

from contracts.topics import Topics
from services.common.keys import KEYS_COLLECTION, KEYS_DATABASE
from services.common.settings import CommonSettings
from services.common.store import make_client, service_db
from services.metrics.replay import rebuild as rebuild_metrics
from services.tracking.replay import rebuild as rebuild_tracking

DETAILS = (RESIDENT_NAME, RESIDENT_PHONE, RESIDENT_EMAIL, PRIVATE_ADDRESS)


async def with_photo(http: httpx.AsyncClient) -> tuple[Made, str]:
    photo = await upload_photo(http)
    made = await submit(http, media=[{"url": f"/media/{photo}", "content_type": "image/png"}])
    return made, photo


async def figures(http: httpx.AsyncClient) -> dict[str, Any]:
    """The headline figures (without `positions`, which says how far the log was read)."""
    summary = await ok(await http.get("/api/stats/summary"))
    summary.pop("positions", None)
    return summary


async def erased_in_history(settings: CommonSettings, case_id: str) -> list[Any]:
    async def recorded() -> list[Any] | None:
        events = await read_events(settings, case_id=case_id)
        found = [e for e in events if e.type == "PersonalDataErased"]
        return found or None

    return await eventually(recorded, what=f"PersonalDataErased of {case_id} in the log")


def leaks(answer: httpx.Response | dict[str, Any]) -> list[str]:
    text = answer.text if isinstance(answer, httpx.Response) else json.dumps(
        answer, ensure_ascii=False)
    return [detail for detail in DETAILS if detail in text]


async def test_the_resident_erases_their_case_before_triage(settings: CommonSettings) -> None:
    async with public_entry(settings) as app, client(app) as http:
        case, photo = await with_photo(http)
        code = {"X-Tracking-Code": case.code}

        async def projected() -> dict[str, Any] | None:
            own = await http.get(f"/api/cases/{case.case_id}/private", headers=code)
            return own.json() if own.status_code == 200 else None

        own = await eventually(projected, what="the case on tracking")
        assert own["contact"]["phone"] == RESIDENT_PHONE  # theirs, before
        served = await http.get(f"/media/{photo}")
        assert served.status_code == 200
        assert served.headers["Cache-Control"] == "public, max-age=600"  # not kept a day
        [submitted] = await read_events(settings, case_id=case.case_id)
        assert await personal_of(settings, submitted) is not None

        # bad asks change nothing
        missing = await http.post(f"/api/cases/{case.case_id}/erase")
        wrong = await http.post(f"/api/cases/{case.case_id}/erase",
                                headers={"X-Tracking-Code": "0000-0000-0000-0000"})
        unknown = await http.post("/api/cases/ZB000000-NONE-0000/erase", headers=code)
        not_staff = await http.post(f"/api/admin/erasures/{case.case_id}", headers=OFFICER)
        assert (missing.status_code, wrong.status_code, unknown.status_code,
                not_staff.status_code) == (401, 403, 404, 403)
        assert "X-Tracking-Code" in missing.json()["error"] and "tracking code" in wrong.text
        assert "ZB000000-NONE-0000" in unknown.text
        assert await personal_of(settings, submitted) is not None

        erased = await http.post(f"/api/cases/{case.case_id}/erase", headers=code)
        assert erased.status_code == 200, erased.text
        done = erased.json()
        assert done["status"] == "erased" and done["reason"] == "request"
        assert done["photos_deleted"] == 1 and done["key_destroyed_at"]
        assert done["recorded"] == {"seq": 2, "by": "intake"}

        again = await http.post(f"/api/cases/{case.case_id}/erase", headers=code)
        assert again.status_code == 409 and "erased already" in again.json()["error"]

        # the sealed bytes in the log open no more; the photo is gone; the views forget
        assert await personal_of(settings, submitted) is None
        assert (await http.get(f"/media/{photo}")).status_code == 404

        async def forgotten() -> dict[str, Any] | None:
            mine = await ok(await http.get(f"/api/cases/{case.case_id}/private", headers=code))
            return mine if mine["personal_data_erased"] else None

        mine = await eventually(forgotten, what="tracking to drop the personal data")
        assert mine["contact"] is None and mine["media"] == [] and not leaks(mine)
        assert mine["location"]["street"] and not mine["location"]["address"]
        assert mine["timeline"][-1]["type"] == "PersonalDataErased"
        staff = await http.get(f"/api/staff/cases/{case.case_id}", headers=OFFICER)
        assert staff.status_code == 200 and not leaks(staff)
        # the case goes on: an officer can still triage it
        await ok(await http.post(f"/api/cases/{case.case_id}/reject", headers=OFFICER,
                                 json={"reason": "重复反映，已合并处理"}))
        record = await ok(await http.get(f"/api/admin/erasures/{case.case_id}", headers=ADMIN))
        assert record["status"] == "erased" and record["photos_deleted"] == 1


async def test_an_admin_erases_a_routed_case_and_its_department_is_told(
        settings: CommonSettings) -> None:
    async with public_entry(settings) as app, client(app) as http:
        case = await case_in(http, "routed")
        before = await figures_caught_up(http, settings)
        detail = await http.get(f"/api/staff/cases/{case.case_id}", headers=DEPARTMENT_A)
        assert detail.json()["contact"]["name"] == RESIDENT_NAME

        erased = await http.post(f"/api/admin/erasures/{case.case_id}", headers=ADMIN)
        assert erased.status_code in (200, 202), erased.text
        [event] = await erased_in_history(settings, case.case_id)
        assert event.producer == "routing" and event.data["reason"] == "request"
        assert event.data["by"]["role"] == "admin"

        topic = Topics(settings.topic_prefix).department_cases(DEPT_A)
        raw = await read_topic(settings.kafka_bootstrap, topic, min_count=2)
        notices = [json.loads(value) for value in raw]
        mine = [n for n in notices if n["case_id"] == case.case_id]
        assert [n["action"] for n in mine] == ["assigned", "erased"]
        assert mine[-1]["message_id"] == str(event.event_id)

        async def forgotten() -> httpx.Response | None:
            answer = await http.get(f"/api/staff/cases/{case.case_id}", headers=DEPARTMENT_A)
            return answer if answer.json()["personal_data_erased"] else None

        after = await eventually(forgotten, what="tracking to drop the personal data")
        assert after.json()["contact"] is None and not leaks(after)
        # the department still acts on the case; the public figures did not move
        await ok(await http.post(f"/api/cases/{case.case_id}/resolve", headers=DEPARTMENT_A,
                                 json={"resolution": "已恢复供水"}))
        assert (await http.post(f"/api/admin/erasures/{case.case_id}",
                                headers=ADMIN)).status_code == 409

        async def resolved_counted() -> dict[str, Any] | None:
            now = await figures(http)
            return now if now["resolved"] == before["resolved"] + 1 else None

        counted = await eventually(resolved_counted, what="the resolution in the figures")
        assert counted["received"] == before["received"]

        # a replay from offset 0 rebuilds the case without the person, the figures the same
        await rebuild_tracking(settings)
        await rebuild_metrics(settings)
        replayed = await http.get(f"/api/staff/cases/{case.case_id}", headers=OFFICER)
        assert replayed.json()["personal_data_erased"] and not leaks(replayed)
        assert replayed.json()["contact"] is None
        assert await figures(http) == counted


def console(settings: CommonSettings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`zaiban privacy ...` as an operator runs it, on the test's deployment."""
    return subprocess.run([str(ZAIBAN), "privacy", *args], capture_output=True, text=True,
                          env=environment(settings, **env), timeout=120, check=False)


async def test_the_console_erases_lists_what_retention_would_erase_and_reconciles_a_restore(
        settings: CommonSettings) -> None:
    async with public_entry(settings) as app, client(app) as http:
        case, photo = await with_photo(http)
        finished = await submit(http)
        await ok(await http.post(f"/api/cases/{finished.case_id}/reject", headers=OFFICER,
                                 json={"reason": "不属于本平台受理范围"}))
        [submitted] = await read_events(settings, case_id=case.case_id)
        keys = service_db(make_client(settings), settings, KEYS_DATABASE)[KEYS_COLLECTION]
        backup = await keys.find_one({"_id": case.case_id})  # a backup of the key store
        assert backup is not None and "wrapped" in backup

        # retention, dry run: what is due is listed, nothing is erased
        listed = await asyncio.to_thread(console, settings, "retention", "--dry-run",
                                         ZAIBAN_RETENTION_DAYS="0.000001")
        assert listed.returncode == 0, listed.stderr
        assert finished.case_id in listed.stdout and "nothing erased" in listed.stdout
        assert case.case_id not in listed.stdout  # still open

        erased = await asyncio.to_thread(console, settings, "erase", case.case_id)
        assert erased.returncode == 0, erased.stderr
        assert f"case {case.case_id}: erased" in erased.stdout
        assert "photos deleted     1" in erased.stdout
        assert "PersonalDataErased, seq 2, by intake" in erased.stdout
        assert await personal_of(settings, submitted) is None
        assert (await http.get(f"/media/{photo}")).status_code == 404
        again = await asyncio.to_thread(console, settings, "erase", case.case_id)
        assert again.returncode == 1 and "erased already" in again.stderr
        unknown = await asyncio.to_thread(console, settings, "erase", "ZB000000-NONE-0000")
        assert unknown.returncode == 1 and "not found" in unknown.stderr

        # the key store restored from that backup: the destroyed key is back, until reconciled
        await keys.replace_one({"_id": case.case_id}, backup)
        assert await personal_of(settings, submitted) is not None
        reconciled = await asyncio.to_thread(console, settings, "reconcile")
        assert reconciled.returncode == 0, reconciled.stderr
        assert "keys destroyed again: 1" in reconciled.stdout
        assert await personal_of(settings, submitted) is None
        await keys.database.client.close()


async def test_a_submissions_idempotency_key_outlives_the_erasure_without_its_hash(
        settings: CommonSettings) -> None:
    """A retry with the same key still answers the same case; what the key kept of the
    resident's submission (a hash of all of it) is forgotten."""
    headers = {"Idempotency-Key": "resident-app-retry-7"}
    async with public_entry(settings) as app, client(app) as http:
        first = await http.post("/api/cases", json=SUBMISSION, headers=headers)
        assert first.status_code == 201, first.text
        case_id, code = first.json()["case_id"], first.json()["tracking_code"]
        kept = service_db(make_client(settings), settings, "intake")["submission_keys"]
        [before] = [doc async for doc in kept.find({"case_id": case_id})]
        assert len(before["fingerprint"]) == 64

        erased = await http.post(f"/api/cases/{case_id}/erase", headers={"X-Tracking-Code": code})
        assert erased.status_code == 200, erased.text
        [after] = [doc async for doc in kept.find({"case_id": case_id})]
        assert after["fingerprint"] == "erased"
        again = await http.post("/api/cases", json=SUBMISSION, headers=headers)
        assert again.status_code == 200 and again.json()["case_id"] == case_id
        await kept.database.client.close()
