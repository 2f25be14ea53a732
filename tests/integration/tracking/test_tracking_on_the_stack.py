"""Tracking on the real stack: histories go into the case event log, timelines come out.

Each story publishes events recorded with `Case.record` (as intake and routing
record them), runs the tracking service against Kafka and the document store,
and reads what a resident, the public or staff would read over HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from helpers import ServerSentEvents, eventually, publish_envelopes, serving
from servicefixtures import token
from unit.tracking.tracking_stories import (
    CITY,
    EMAIL,
    NAME,
    PHONE,
    PRIVATE_ADDRESS,
    REFERENCE_STEPS,
    RING,
    STAFF_IDS,
    accepted,
    code_of,
    day,
    reference_case,
    routed,
    submitted,
    water_case,
)

from contracts import case_events as ev
from contracts.facts import Role
from services.common.settings import CommonSettings
from services.composition import app_of, build
from services.lifecycle.history import History
from services.tracking.replay import rebuild
from services.tracking.service import TrackingService
from services.tracking.store import CODES_COLLECTION, COLLECTION, REBUILD_COLLECTION

pytestmark = pytest.mark.stack


async def projected(http: httpx.AsyncClient, case_id: str, seq: int) -> dict[str, Any]:
    """The public view of `case_id`, once the projection has reached `seq`."""

    async def probe() -> dict[str, Any] | None:
        answer = await http.get(f"/api/cases/{case_id}")
        if answer.status_code == 200 and answer.json()["seq"] >= seq:
            return answer.json()
        return None

    return await eventually(probe, what=f"case {case_id} projected up to seq {seq}")


# -- the public -------------------------------------------------------------------------------


async def test_the_reference_case_shows_its_steps_in_order_with_dates_and_no_personal_data(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    history = reference_case()
    await publish_envelopes(settings, history.envelopes, keys=RING)

    case = await projected(http, history.case_id, 8)

    steps = [(e["type"], e["date"], e["status"]) for e in case["timeline"]]
    assert steps == REFERENCE_STEPS
    assert case["status"] == "closed" and case["department"]["name"] == "交通信号设施公司"
    texts = [e["text"] for e in case["timeline"]]
    assert texts[3] == "已转交 交通信号设施公司 处理"
    assert texts[4] == "发布报道《王府坟菜市场门口红绿灯何时能点亮？》"
    assert case["stories"][0]["title"] == "王府坟菜市场门口红绿灯何时能点亮？"
    assert case["location"]["address"] == "沙口路王府坟菜市场门口"  # traffic lights: public
    body = json.dumps(case, ensure_ascii=False)
    for private in (NAME, PHONE, EMAIL, "灯亮了，谢谢", *STAFF_IDS):
        assert private not in body

    english = (await http.get(f"/api/cases/{history.case_id}?lang=en")).json()
    assert english["timeline"][3]["text"] == "Routed to Traffic Signal Company"
    traditional = (await http.get(f"/api/cases/{history.case_id}",
                                  headers={"Accept-Language": "zh-TW,zh;q=0.9"})).json()
    assert traditional["timeline"][3]["text"] == "已轉交 交通號誌設施公司 處理"
    wrong = await http.get(f"/api/cases/{history.case_id}?lang=klingon")
    assert wrong.status_code == 422 and "lang" in wrong.json()["error"]
    missing = await http.get("/api/cases/ZB000000-NONE-0000")
    assert missing.status_code == 404


async def test_the_public_list_finds_cases_by_status_category_district_and_words(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    lights, water = reference_case(), water_case()
    await publish_envelopes(settings, lights.envelopes + water.envelopes, keys=RING)
    await projected(http, lights.case_id, 8)
    await projected(http, water.case_id, 1)

    everything = (await http.get("/api/cases")).json()
    assert [c["case_id"] for c in everything["items"]] == [water.case_id, lights.case_id]
    assert everything["total"] == 2
    by_words = (await http.get("/api/cases", params={"q": "菜市场"})).json()
    assert [c["case_id"] for c in by_words["items"]] == [lights.case_id]
    closed = (await http.get("/api/cases", params={"status": "closed"})).json()
    assert [c["case_id"] for c in closed["items"]] == [lights.case_id]
    both = (await http.get("/api/cases", params=[("status", "closed"),
                                                 ("status", "submitted")])).json()
    assert both["total"] == 2
    water_only = (await http.get("/api/cases", params={"category": "water",
                                                       "district": "jinshui"})).json()
    assert [c["case_id"] for c in water_only["items"]] == [water.case_id]
    first_page = (await http.get("/api/cases", params={"limit": 1})).json()
    assert first_page["next_offset"] == 1 and len(first_page["items"]) == 1
    body = json.dumps(everything, ensure_ascii=False)
    assert PRIVATE_ADDRESS not in body and PHONE not in body and NAME not in body
    regex_like = (await http.get("/api/cases", params={"q": "门口(.*"})).json()
    assert regex_like["total"] == 0
    too_many = await http.get("/api/cases", params={"limit": 101})
    assert too_many.status_code == 422 and "limit" in too_many.json()["error"]


# -- the resident -----------------------------------------------------------------------------


async def test_the_resident_reads_their_case_with_its_tracking_code(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    history = reference_case()
    duplicate = (History("ZB261006-DUP0-0002")
                 .given(day("10-06", 12), submitted("ZB261006-DUP0-0002"))
                 .given(day("10-06", 13), ev.CaseMerged(officer=accepted().officer,
                                                        into_case_id=history.case_id)))
    await publish_envelopes(settings, history.envelopes + duplicate.envelopes, keys=RING)
    await projected(http, history.case_id, 8)
    await projected(http, duplicate.case_id, 2)
    code = code_of(history.case_id)

    own = await http.get(f"/api/cases/{history.case_id}/private",
                         headers={"X-Tracking-Code": code})
    assert own.status_code == 200
    mine = own.json()
    assert mine["contact"] == {"name": NAME, "phone": PHONE, "email": EMAIL}
    assert mine["feedback"]["comment"] == "灯亮了，谢谢记者和信号公司！"
    assert "tracking_code_hash" not in own.text and "code_hash" not in own.text

    wrong = await http.get(f"/api/cases/{history.case_id}/private",
                           headers={"X-Tracking-Code": code_of("somebody-else")})
    unknown = await http.get("/api/cases/ZB000000-NONE-0000/private",
                             headers={"X-Tracking-Code": code})
    assert wrong.status_code == unknown.status_code == 403
    assert wrong.json() == unknown.json()
    without = await http.get(f"/api/cases/{history.case_id}/private")
    assert without.status_code == 401 and "X-Tracking-Code" in without.json()["error"]

    looked_up = await http.get(f"/api/tracking/{code}")
    assert looked_up.status_code == 200 and looked_up.json()["case_id"] == history.case_id
    assert (await http.get(f"/api/tracking/{code_of('nobody')}")).status_code == 404
    assert (await http.get("/api/tracking/not-a-code!")).status_code == 422

    # the duplicate's resident follows the original's public timeline
    theirs = (await http.get(f"/api/cases/{duplicate.case_id}/private",
                             headers={"X-Tracking-Code": code_of(duplicate.case_id)})).json()
    assert theirs["merged_into"] == history.case_id
    assert theirs["original"]["case_id"] == history.case_id
    assert [e["type"] for e in theirs["original"]["timeline"]] == [s[0] for s in REFERENCE_STEPS]
    assert "contact" not in theirs["original"]  # the original resident's details stay theirs
    assert NAME not in json.dumps(theirs["original"], ensure_ascii=False)


async def test_a_redelivered_event_leaves_one_entry(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    history = reference_case()
    first_four, fifth = history.envelopes[:4], history.envelopes[4]
    await publish_envelopes(settings, first_four, keys=RING)
    await publish_envelopes(settings, first_four, keys=RING)  # a producer retry, or a replayed batch
    await publish_envelopes(settings, [first_four[1], fifth], keys=RING)  # one old event comes again

    case = await projected(http, history.case_id, 5)

    assert [e["seq"] for e in case["timeline"]] == [1, 2, 3, 4, 5]


# -- live -------------------------------------------------------------------------------------


class EventStream(ServerSentEvents):
    """Reads a case's timeline entries off its live stream."""

    async def next_entry(self) -> dict[str, Any]:
        """The next `entry` event (heartbeats and other events skipped), within 15 s."""
        fields = await self.next_event(lambda fields: fields.get("event") == "entry")
        return {"id": int(fields["id"]), **json.loads(fields["data"])}


async def test_a_follower_gets_new_entries_live_and_resumes_after_the_last_it_saw(
        settings: CommonSettings, tracking: TrackingService, http: httpx.AsyncClient) -> None:
    history = reference_case()
    envelopes = history.envelopes
    await publish_envelopes(settings, envelopes[:2], keys=RING)
    await projected(http, history.case_id, 2)
    # Streams are served by another instance that projects nothing itself: they learn of
    # news from the shared store, as they would with N tracking instances.
    reader = build("tracking", settings)
    url = f"/api/cases/{history.case_id}/live"
    try:
        async with serving(app_of(reader)) as base, httpx.AsyncClient(base_url=base) as client:
            async with client.stream("GET", url) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                stream = EventStream(response)
                assert [(await stream.next_entry())["id"] for _ in range(2)] == [1, 2]
                await publish_envelopes(settings, envelopes[2:4], keys=RING)
                site_visit, routing = await stream.next_entry(), await stream.next_entry()
                assert (site_visit["id"], site_visit["type"]) == (3, "SiteVisited")
                assert (routing["id"], routing["text"]) == (4, "已转交 交通信号设施公司 处理")

            await publish_envelopes(settings, envelopes[4:], keys=RING)  # while nobody is listening
            code = code_of(history.case_id)
            async with client.stream("GET", url, params={"code": code, "lang": "en"},
                                     headers={"Last-Event-ID": "4"}) as response:
                stream = EventStream(response)
                resumed = [await stream.next_entry() for _ in range(4)]
            assert [e["id"] for e in resumed] == [5, 6, 7, 8]
            assert resumed[0]["text"].startswith("Story published")
            assert resumed[2]["what"]["comment"] == "灯亮了，谢谢记者和信号公司！"  # private

            refused = await client.get(url, params={"code": code_of("someone-else")})
            assert refused.status_code == 403
            bad_resume = await client.get(url, headers={"Last-Event-ID": "yesterday"})
            assert bad_resume.status_code == 422 and "Last-Event-ID" in bad_resume.json()["error"]
    finally:
        await reader.mongo.close()


# -- staff ------------------------------------------------------------------------------------


async def test_a_department_sees_only_the_cases_it_leads(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    lights = reference_case()
    water = water_case().given(day("10-08", 9), accepted(category="water")).given(
        day("10-08", 10), routed("water-co", day("10-09", 10)))
    fresh = History("ZB261009-NEW0-0007").given(day("10-09", 8), submitted("ZB261009-NEW0-0007"))
    await publish_envelopes(settings, lights.envelopes + water.envelopes + fresh.envelopes, keys=RING)
    for case_id, seq in ((lights.case_id, 8), (water.case_id, 3), (fresh.case_id, 1)):
        await projected(http, case_id, seq)

    signal_co = token(Role.DEPARTMENT, "signal-co")
    theirs = (await http.get("/api/staff/cases", headers=signal_co)).json()
    assert theirs["total"] == 1 and [c["case_id"] for c in theirs["items"]] == [lights.case_id]
    assert (await http.get("/api/staff/cases", params={"department": "water-co"},
                           headers=signal_co)).status_code == 403
    assert (await http.get(f"/api/staff/cases/{water.case_id}",
                           headers=signal_co)).status_code == 403
    assert (await http.get(f"/api/staff/cases/{lights.case_id}",
                           headers=signal_co)).status_code == 200

    officer = token(Role.OFFICER)
    everyone = (await http.get("/api/staff/cases", headers=officer)).json()
    assert everyone["total"] == 3
    assert {c["case_id"] for c in everyone["items"]} == {lights.case_id, water.case_id,
                                                          fresh.case_id}
    open_water = (await http.get("/api/staff/cases", headers=officer, params={
        "department": "water-co", "open": "true", "channel": "web"})).json()
    assert [c["case_id"] for c in open_water["items"]] == [water.case_id]
    # a list shows where without the flat's address: that is personal data, read on the
    # case's own page (where each read is recorded)
    assert open_water["items"][0]["location"]["address"] == ""
    assert PRIVATE_ADDRESS not in json.dumps(open_water, ensure_ascii=False)
    waiting = (await http.get("/api/staff/cases", headers=token(Role.SUPERVISOR),
                              params={"status": "submitted"})).json()
    assert [c["case_id"] for c in waiting["items"]] == [fresh.case_id]
    none_overdue = (await http.get("/api/staff/cases", headers=officer,
                                   params={"overdue": "true"})).json()
    assert none_overdue["total"] == 0
    by_words = (await http.get("/api/staff/cases", headers=token(Role.REPORTER),
                               params={"q": "停水"})).json()
    assert [c["case_id"] for c in by_words["items"]] == [water.case_id]

    assert (await http.get("/api/staff/cases")).status_code == 401
    detail = (await http.get(f"/api/staff/cases/{lights.case_id}", headers=officer)).json()
    assert detail["contact"]["phone"] == PHONE
    assert not any(staff_id in json.dumps(detail) for staff_id in STAFF_IDS)


# -- replay -----------------------------------------------------------------------------------


async def documents(tracking: TrackingService) -> list[dict[str, Any]]:
    return sorted([doc async for doc in tracking.db[COLLECTION].find({})], key=lambda d: d["_id"])


async def two_cases_projected_live(settings: CommonSettings, http: httpx.AsyncClient
                                   ) -> tuple[History, History]:
    """The reference case (8 events) and a water case (1), projected by the live consumer."""
    lights, water = reference_case(), water_case()
    await publish_envelopes(settings, lights.envelopes + water.envelopes, keys=RING)
    await projected(http, lights.case_id, 8)
    await projected(http, water.case_id, 1)
    return lights, water


async def test_a_replay_from_offset_zero_rebuilds_exactly_the_live_read_model(
        settings: CommonSettings, tracking: TrackingService, http: httpx.AsyncClient) -> None:
    _, water = await two_cases_projected_live(settings, http)
    live = await documents(tracking)

    report = await rebuild(settings)

    assert await documents(tracking) == live
    assert report.events == 9 and report.cases == 2 and report.unreadable == 0
    assert REBUILD_COLLECTION not in await tracking.db.list_collection_names()
    # the running service goes on projecting into the swapped-in collection
    more = water.given(day("10-08", 9), accepted(category="water"))
    await publish_envelopes(settings, more.envelopes[1:], keys=RING)
    assert (await projected(http, water.case_id, 2))["status"] == "accepted"
    assert CITY.category("water") is not None


async def test_a_replay_holding_one_case_in_memory_at_a_time_builds_the_same_read_model(
        settings: CommonSettings, tracking: TrackingService, http: httpx.AsyncClient) -> None:
    # A log bigger than memory: views are written out after every case and read back when
    # a later batch has more of their events.
    lights, _ = await two_cases_projected_live(settings, http)
    live = await documents(tracking)
    await tracking.db[CODES_COLLECTION].drop()  # a store lost: the codes go with it

    report = await rebuild(settings, held=1, batch=2)

    assert await documents(tracking) == live
    # and a resident's tracking code finds the case again
    looked_up = await http.get(f"/api/tracking/{code_of(lights.case_id)}")
    assert looked_up.status_code == 200 and looked_up.json()["case_id"] == lights.case_id
    assert report.events == 9 and report.cases == 2
