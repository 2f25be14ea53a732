"""Intake carries out an erasure in steps, and a crash may stop it after any of them: the
request comes again and what is left is finished (`services/intake/erasures.py`).

Given a resident's case with a photo, accepted by an officer (so that routing, not intake,
records its erasure), when intake dies right after it destroyed the case's key, and routing
records the erasure before the request comes again to a restarted intake, then the photo
is gone all the same: the key is destroyed last of what intake does to the case's data,
after the photos, so nothing can record the erasure (after which the case names no photos)
while a photo is left.
"""

from __future__ import annotations

import uuid

import pytest
from helpers import (
    DiesAfter,
    Killed,
    case_once,
    client_for,
    publish_envelopes,
    running,
)
from security.public_entry import OFFICER, PNG, SUBMISSION, ok

from contracts.case_commands import ErasePersonalData
from contracts.facts import Actor, Role
from services.common.http import build_app
from services.common.settings import CommonSettings
from services.composition import build
from services.intake.erasures import Erasures
from services.intake.service import IntakeService
from services.lifecycle import privacy


async def test_a_crash_once_the_key_is_destroyed_leaves_no_photo_behind(
        settings: CommonSettings) -> None:
    service = build("intake", settings)
    assert isinstance(service, IntakeService)
    async with running(service), client_for(build_app([service], title="intake")) as http:
        photo = await ok(await http.post("/api/media",
                                         files={"photo": ("p.png", PNG, "image/png")}))
        media = [{"url": photo["url"], "content_type": "image/png"}]
        case_id = (await ok(await http.post("/api/cases",
                                            json={**SUBMISSION, "media": media})))["case_id"]
        await ok(await http.post(f"/api/cases/{case_id}/accept", headers=OFFICER, json={}))
        command = ErasePersonalData(request_id=str(uuid.uuid4()), case_id=case_id,
                                    by=Actor(role=Role.ADMIN, staff_id="admin-root"),
                                    requested_at=service.clock.now())

        erasures = service.erasures
        dying = Erasures(erasures.streams, DiesAfter(erasures.keys, "destroy"),
                         erasures.photos, erasures.records)
        with pytest.raises(Killed):
            await dying.carry_out(command)

        # routing sees the key destroyed and records the erasure; intake folds it
        accepted = await service.streams.get(case_id)
        assert accepted is not None and not privacy.recorded_by_intake(accepted)
        now = service.clock.now()
        recorded = accepted.record(privacy.erase(accepted, command.by, "request"), at=now,
                                   recorded_at=now, producer="routing",
                                   correlation_id=command.request_id, cause=f"erase/{case_id}")
        await publish_envelopes(settings, recorded.envelopes)

        folded = await case_once(service.streams, case_id, lambda case: case.erased,
                                 what="intake to fold the erasure")
        assert folded.media == ()

        await erasures.carry_out(command)  # the request, redelivered after the restart
        assert (await http.get(str(photo["url"]))).status_code == 404
        assert await erasures.keys.destroyed(case_id) is not None
