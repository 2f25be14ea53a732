"""The admins' door to the city's configuration: `/api/admin/city/...`.

Read it, its history, and change one item (a category, district, department or dispatch
rule) against the version seen. A change answered "accepted" is held by Kafka (acks=all)
and already applied by the instance that answered; every other instance follows within
seconds (services/common/cityconfig.py).
"""

# No `from __future__ import annotations` here: FastAPI reads the route signatures at
# runtime, and the guards they name are local.

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from contracts.cityconfig import ChangeCity, Kind
from services.common.auth import Principal, TokenCheck, staff_guard
from services.common.citychanges import change
from services.common.cityconfig import CityLog, LiveCity, described_city
from services.common.clock import Clock
from services.lifecycle.errors import Invalid, NotNow, Problem

READ_BACK_TIMEOUT_S = 10.0
"""How long an accepted change waits to be read back by the instance that recorded it."""

KINDS: dict[str, Kind] = {"categories": "category", "districts": "district",
                          "departments": "department", "rules": "rule", "limits": "limits",
                          "calendar": "calendar"}

Section = Annotated[str, Path(
    pattern="^(categories|districts|departments|rules|limits|calendar)$",
    description="Which list of the configuration (`limits`: the time limits of the priority "
                "class the code names; `calendar`: its one item `changes`).")]
ItemCode = Annotated[str, Path(min_length=1, max_length=140,
                               description="The item's code; a dispatch rule's is "
                                           "`category@district`.")]


def city_routes(*, live: LiveCity, log_: CityLog, tokens: TokenCheck, clock: Clock) -> APIRouter:
    """The admins' door to the configuration: read it (any staff), change one item (admins)."""
    router = APIRouter(tags=["admin"])
    admin = staff_guard(tokens)()  # admins alone
    one_at_a_time = asyncio.Lock()  # on this instance; across instances, versions decide

    async def record(kind: Kind, code: str, command: ChangeCity,
                     principal: Principal) -> dict[str, Any]:
        async with one_at_a_time:
            event = change(live.current, live.version, kind, code, command,
                           by=principal.subject, now=clock.now())
            await log_.record(event)
            if not await live.reaches(event.version, READ_BACK_TIMEOUT_S):
                raise TimeoutError("the change is recorded but not read back yet")
            if live.made.get(event.version) != str(event.change_id):
                raise NotNow(f"another change made version {event.version} first: the "
                             f"configuration is at version {live.version}; reload it and "
                             "make the change again")
            return {"accepted": True, "version": event.version,
                    "change": event.change.model_dump(), "at": event.at.isoformat()}

    @router.get("/api/admin/city", summary="The city's configuration now, and its version "
                                           "(admins)")
    async def read_city(principal: Annotated[Principal, Depends(admin)]) -> dict[str, Any]:
        return described_city(live)

    @router.get("/api/admin/city/history",
                summary="Every change this instance applied: version, who, when, what (admins)")
    async def city_history(principal: Annotated[Principal, Depends(admin)]
                           ) -> list[dict[str, Any]]:
        return [{"version": e.version, "by": e.by, "at": e.at.isoformat(),
                 "change": e.change.model_dump()} for e in live.history]

    @router.put("/api/admin/city/{section}/{item_code}",
                summary="Add or replace a category, district, department or dispatch rule "
                        "(admins)")
    async def put_item(section: Section, item_code: ItemCode, command: ChangeCity,
                       principal: Annotated[Principal, Depends(admin)]) -> dict[str, Any]:
        """Recorded on the configuration topic before the answer (409 against an old
        version, 422 naming what is wrong); every instance runs it within seconds."""
        if command.item is None:
            raise Invalid.of([Problem("body.item", "a put needs the item; to remove one, "
                                                   "DELETE it")])
        return await record(KINDS[section], item_code, command, principal)

    @router.delete("/api/admin/city/{section}/{item_code}",
                   summary="Remove a category, district, department or dispatch rule (admins)")
    async def remove_item(section: Section, item_code: ItemCode,
                          expected_version: Annotated[int, Query(ge=0)],
                          principal: Annotated[Principal, Depends(admin)]) -> dict[str, Any]:
        return await record(KINDS[section], item_code,
                            ChangeCity(expected_version=expected_version), principal)

    return router
