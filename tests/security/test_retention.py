"""Retention, on the real stack: a finished case's personal data is erased by itself once
the city's retention period has passed — on the erasure path, surviving a restart — and
an open case's is kept. The period is shortened to seconds for the test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from helpers import eventually, personal_of, read_events
from security.public_entry import OFFICER, client, ok, public_entry, submit

from services.common.settings import CommonSettings
from services.common.store import make_client, service_db
from services.intake import retention

KEEP_S = 6.0
SHORT = {"retention_days": KEEP_S / 86400, "retention_sweep_every_s": 0.5}
"""Personal data kept six seconds after a case ends, looked for twice a second."""


async def due_now(settings: CommonSettings) -> list[str]:
    """What `zaiban privacy retention --dry-run` lists: due, not erased."""
    client_ = make_client(settings)
    try:
        cases = service_db(client_, settings, "intake")["cases"]
        found = await retention.due(cases, datetime.now(UTC), timedelta(seconds=KEEP_S), 100)
        return [d.case_id for d in found]
    finally:
        await client_.close()


async def test_a_finished_cases_personal_data_is_erased_when_its_time_is_up(
        settings: CommonSettings) -> None:
    # the period never passes in this first run: it ends before the rejected case is due
    async with public_entry(settings, **SHORT) as app, client(app) as http:
        finished, still_open = await submit(http), await submit(http)
        await ok(await http.post(f"/api/cases/{finished.case_id}/reject", headers=OFFICER,
                                 json={"reason": "不属于本平台受理范围"}))
        assert finished.case_id not in await due_now(settings)  # not yet: just ended

    # a restart: nothing was remembered in memory; the sweep finds what is due
    async with public_entry(settings, **SHORT) as app, client(app) as http:

        async def erased() -> list[Any] | None:
            events = await read_events(settings, case_id=finished.case_id)
            found = [e for e in events if e.type == "PersonalDataErased"]
            return found or None

        [event] = await eventually(erased, timeout=60, what="the retention sweep's erasure")
        assert event.data["reason"] == "retention" and event.data["by"]["role"] == "system"
        submitted = (await read_events(settings, case_id=finished.case_id))[0]
        assert await personal_of(settings, submitted) is None

        # a rejected case is routing's: intake's write model learns of the erasure when it
        # folds routing's event from the log, and the sweep stops finding the case then
        async def no_longer_due() -> bool:
            return finished.case_id not in await due_now(settings)

        await eventually(no_longer_due, what="intake to fold the erasure into its write model")
        [_] = [e for e in await read_events(settings, case_id=finished.case_id)
               if e.type == "PersonalDataErased"]  # asked again meanwhile: erased once

        # the open case keeps its resident's details
        kept = (await read_events(settings, case_id=still_open.case_id))[0]
        assert await personal_of(settings, kept) is not None
        mine = await ok(await http.get(f"/api/cases/{still_open.case_id}/private",
                                       headers={"X-Tracking-Code": still_open.code}))
        assert mine["contact"] is not None and not mine["personal_data_erased"]
