"""Suggested duplicates on the real broker and store, from any intake instance.

Every instance answers from the rows of all the cases it keeps in memory: the ones it saved
itself at once, the others as the log announces them (`RowFollower`), whichever instance
recorded them.
"""

from __future__ import annotations

from typing import Any

import httpx
from helpers import WANGFUFEN_REQUEST, client_for, eventually, running
from servicefixtures import token

from contracts.facts import Role
from services.common.http import build_app
from services.common.settings import CommonSettings
from services.composition import build
from services.intake.service import IntakeService

OFFICER = token(Role.OFFICER)

MARKET = {"district": "zhongyuan", "street": "沙口路王府坟菜市场门口", "lat": 34.77, "lon": 113.62}
"""The gate of the Wangfufen vegetable market; 0.0009° of latitude north is 100 m off."""
AFAR = {"district": "jinshui", "lat": 34.8, "lon": 113.66}
"""Four kilometres away."""


def a_request(description: str, category: str = "traffic-signals", **location: Any
              ) -> dict[str, Any]:
    attributes = WANGFUFEN_REQUEST["attributes"] if category == "traffic-signals" else {}
    return {**WANGFUFEN_REQUEST, "category": category, "description": description,
            "attributes": attributes, "location": {**MARKET, **location}}


def app(service: IntakeService) -> httpx.AsyncClient:
    return client_for(build_app([service], title="intake"))


async def submitted(http: httpx.AsyncClient, body: dict[str, Any]) -> str:
    answer = await http.post("/api/cases", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["case_id"])


async def suggested(http: httpx.AsyncClient, case_id: str) -> list[dict[str, Any]]:
    answer = await http.get(f"/api/cases/{case_id}/duplicates", headers=OFFICER)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["suggestions"])


async def test_an_officer_is_shown_the_same_duplicates_by_every_instance(
        settings: CommonSettings) -> None:
    first, second = build("intake", settings), build("intake", settings)
    assert isinstance(first, IntakeService) and isinstance(second, IntakeService)
    async with running(first), app(first) as one:
        # all recorded through the first instance
        alike = await submitted(one, a_request("沙口路王府坟菜市场门口红绿灯不亮", **AFAR,
                                               street="金水路"))
        pothole = await submitted(one, a_request("沙口路王府坟菜市场门口的红绿灯不亮了",
                                                 category="roads"))
        rejected = await submitted(one, a_request("沙口路王府坟菜市场门口的红绿灯不亮了"))
        merged = await submitted(one, a_request("王府坟菜市场门口的红绿灯不亮了"))
        await submitted(one, a_request("郑东新区某路口信号灯一直闪烁", **AFAR, street="商务外环"))
        # a snapshot saved before the suggestions' fields were written with it
        await first.streams.drain()  # (new cases' snapshots are written after the answer)
        await first.streams.collection.update_one(
            {"_id": alike}, {"$unset": {"description": "", "street": "", "lat": "", "lon": ""}})

        # the second instance finds those in the store as it starts, and learns the rest
        # from the log only: it saves none of them
        async with running(second), app(second) as two:
            near = await submitted(one, a_request("路灯杆被车撞歪了", street="沙口路88号",
                                                  lat=34.7709))
            same_street = await submitted(one, a_request("信号机箱门开着没人管", **AFAR,
                                                         street=MARKET["street"]))
            case = await submitted(one, a_request(WANGFUFEN_REQUEST["description"]))
            for path, body in ((f"/api/cases/{rejected}/reject", {"reason": "重复提交"}),
                               (f"/api/cases/{merged}/merge", {"into_case_id": near})):
                done = await one.post(path, json=body, headers=OFFICER)
                assert done.status_code == 200, done.text

            answer = await suggested(one, case)
            reasons = {s["case_id"]: tuple(r.split(" ")[0] for r in s["reasons"])
                       for s in answer}
            assert reasons == {near: ("within",), same_street: ("same",),
                               alike: ("similar",)}, answer
            assert [s["score"] for s in answer] == sorted((s["score"] for s in answer),
                                                          reverse=True)
            assert next(s for s in answer if s["case_id"] == near)["distance_m"] == 100
            assert {pothole, rejected, merged}.isdisjoint(reasons)

            async def the_same() -> bool:
                return await suggested(two, case) == answer

            await eventually(the_same, timeout=20, what="the second instance's suggestions")
            assert {near, same_street, case}.issubset(second.rows.rows)
            assert second.rows.row(merged)["status"] == "merged"  # type: ignore[index]
            snapshot = await second.streams.collection.find_one({"_id": alike})
            assert snapshot is not None and snapshot["description"].startswith("沙口路")
