"""Nothing a resident tells zaiban is kept in clear, anywhere (issue 13).

A resident with distinctive details — name, mobile, email, a flat's exact address and
point in a private-address category (heating), an ID card number and the mobile written
into the description, a phone photo with its GPS position — submits through every way
in: the JSON API with the photo attached, an officer on the hotline, an Open311 client
(with a device id and an account id of its own), and a frontend on the bus. Each case is
accepted, routed by the rules to the heating company (with housing assisting), noted,
resolved, and the resident gives feedback; the department reads the resident's contact.
Then every topic of the deployment is read from its first offset and every database of
its store document by document (`zaiban privacy scan`), as raw bytes: none of the details
is found, in any form. The scan has read the log and the store (and finds what is there
in clear: the case numbers, the masked phone), so it cannot pass by reading nothing.

Then an admin erases each case's personal data and tracking is rebuilt from offset 0:
the same check (`nothing_personal_anywhere`) still finds nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from helpers import TEST_SECRET, eventually, publish_raw, read_events, read_topic
from photofixtures import GPS_VALUES, MAKER_NOTE_TEXT, phone_jpeg
from security.public_entry import (
    ADMIN,
    OFFICER,
    Made,
    client,
    ok,
    public_entry,
    staff_rows,
    work_on,
)
from servicefixtures import token

from contracts.case_commands import SealedSubmission, SubmitCase
from contracts.facts import Channel, Role
from contracts.topics import Topics
from services.common.auth import issue_token
from services.common.keys import recipient_key, seal_for
from services.common.masking import id_check_character
from services.common.settings import CommonSettings
from services.lifecycle.codes import tracking_code_for
from services.tracking.replay import rebuild as rebuild_tracking
from zaiban.scan import scan

NAME, PHONE, EMAIL = "上官婉清", "159 3726 0418", "wanqing.shangguan@example.net"
ADDRESS = "金水区经三路北段66号院7号楼1单元1203室"
LAT, LON = 34.781234, 113.681357
ID_CARD = "41010519850623471" + id_check_character("41010519850623471")
DEVICE_ID, ACCOUNT_ID = "dev-7f3a9c2e-shangguan-phone", "acct-shangguan-88231"
DESCRIPTION = (f"经三路北段66号院暖气一直不热，室温只有12度。请打我手机{PHONE.replace(' ', '')}，"
               f"身份证{ID_CARD}，上门前联系。")
MASKED_PHONE = "159****0418"
"""The description's phone as the log keeps it in clear: masked."""

DETAILS: tuple[str | bytes, ...] = (NAME, PHONE, EMAIL, ADDRESS, str(LAT), str(LON), ID_CARD,
                                    DEVICE_ID, ACCOUNT_ID, *GPS_VALUES, MAKER_NOTE_TEXT)
"""Everything that identifies the resident, as they gave it (and the photo's GPS seconds and
maker note, as the phone wrote them into the file)."""

DEPARTMENT, ASSISTING = "heating-co", "housing"  # the rules' choice for heating
HEATING_DESK = token(Role.DEPARTMENT, DEPARTMENT, subject="heating-desk")
SUBMISSION: dict[str, Any] = {
    "category": "heating",
    "description": DESCRIPTION,
    "location": {"district": "jinshui", "street": "经三路北段", "address": ADDRESS,
                 "lat": LAT, "lon": LON},
    "attributes": {"indoor_temperature": "12"},
    "contact": {"name": NAME, "phone": PHONE, "email": EMAIL},
}


async def submit_through_every_channel(http: httpx.AsyncClient,
                                       settings: CommonSettings) -> dict[Channel, Made]:
    """The resident's request through each way in; the JSON API's with the phone photo."""
    uploaded = await ok(await http.post(
        "/api/media", files={"photo": ("IMG_0412.jpg", phone_jpeg(), "image/jpeg")}))
    web = await ok(await http.post("/api/cases", json={
        **SUBMISSION, "media": [{"url": uploaded["url"], "content_type": "image/jpeg"}]}))
    hotline = await ok(await http.post("/api/hotline/cases", headers=OFFICER,
                                       json={**SUBMISSION, "channel": "hotline"}))
    api_key = issue_token(TEST_SECRET, "city-app", Role.OFFICER, kind="api_key")
    open311 = await http.post("/open311/v2/requests.json", data={
        "api_key": api_key, "service_code": "heating", "attribute[district]": "jinshui",
        "attribute[indoor_temperature]": "12", "lat": str(LAT), "long": str(LON),
        "address_string": ADDRESS, "first_name": NAME[2:], "last_name": NAME[:2],
        "phone": PHONE, "email": EMAIL, "description": DESCRIPTION,
        "device_id": DEVICE_ID, "account_id": ACCOUNT_ID})
    assert open311.status_code == 201, open311.text
    open311_case = open311.json()[0]["service_request_id"]
    bus_case = await submit_on_the_bus(http, settings)
    secret = settings.secret()
    return {
        Channel.WEB: Made(web["case_id"], web["tracking_code"]),
        Channel.HOTLINE: Made(hotline["case_id"], hotline["tracking_code"]),
        Channel.OPEN311: Made(open311_case, tracking_code_for(secret, open311_case)),
        Channel.BUS: Made(bus_case, tracking_code_for(secret, bus_case)),
    }


async def submit_on_the_bus(http: httpx.AsyncClient, settings: CommonSettings) -> str:
    """A frontend publishes its submission on the submissions topic, sealed for intake with
    the key intake publishes; intake records it. Its submission of a category the city does
    not have goes to intake's dead letters (sealed as it came)."""
    topics = Topics(settings.topic_prefix)
    ref = f"app-{uuid.uuid4().hex[:12]}"
    command, wrong = (SubmitCase.model_validate({
        **SUBMISSION, "channel": "app", "external_ref": ref, "submission_id": ref, **change})
        for change in ({}, {"category": "district-heating", "submission_id": f"{ref}-2"}))
    published = await ok(await http.get("/api/bus/submission-key"))
    recipient = recipient_key(published["public_key"])
    await publish_raw(settings.kafka_bootstrap, topics.submissions, [
        SealedSubmission(sealed=seal_for(recipient, published["kid"],
                                         each.model_dump_json().encode())
                         ).model_dump_json().encode()
        for each in (command, wrong)], key=ref.encode())
    await read_topic(settings.kafka_bootstrap, topics.dead_letter("intake"), min_count=1,
                     timeout=60)

    async def recorded() -> str | None:
        for envelope in await read_events(settings):
            if envelope.type == "CaseSubmitted" and envelope.data.get("external_ref") == ref:
                return envelope.case_id
        return None

    return await eventually(recorded, timeout=60, every=0.5, what="intake to record the bus "
                                                                  "submission")


async def handle_to_the_end(http: httpx.AsyncClient, cases: dict[Channel, Made]) -> None:
    """Each case accepted, routed by the rules, acknowledged, noted, resolved; the resident's
    feedback; the department reads the resident's contact and the resident their case."""
    ids = [case.case_id for case in cases.values()]
    for case_id in ids:
        await ok(await http.post(f"/api/cases/{case_id}/accept", headers=OFFICER, json={}))

    async def routed() -> bool:
        rows = await staff_rows(http, ["routed"])
        return all((rows.get(case_id, {}).get("department") or {}).get("code") == DEPARTMENT
                   for case_id in ids)

    await eventually(routed, timeout=120, every=0.5, what="routing to route the cases")

    async def handle(case: Made) -> None:
        at = f"/api/cases/{case.case_id}"
        await work_on(http, case.case_id, HEATING_DESK, note="已派维修工",
                      progress="已排查楼内管道，更换阀门", resolution="阀门已更换，室温恢复到20度")
        await ok(await http.post(f"{at}/feedback", headers={"X-Tracking-Code": case.code},
                                 json={"fixed": True, "satisfied": True, "rating": 5,
                                       "comment": "暖气热了，谢谢"}))
        staff = await ok(await http.get(f"/api/staff/cases/{case.case_id}", headers=HEATING_DESK))
        assert staff["contact"]["name"] == NAME  # kept (sealed), and read by who may
        own = await ok(await http.get(f"{at}/private", headers={"X-Tracking-Code": case.code}))
        assert own["description"] == DESCRIPTION

    await asyncio.gather(*(handle(case) for case in cases.values()))

    async def closed() -> bool:
        statuses = [(await http.get(f"/api/cases/{case_id}")).json()["facts"]["status"]
                    for case_id in ids]
        return all(status == "closed" for status in statuses)

    await eventually(closed, timeout=60, every=0.5, what="the cases to close on the public page")


async def nothing_personal_anywhere(settings: CommonSettings, cases: dict[Channel, Made],
                                    details: tuple[str | bytes, ...] = DETAILS) -> None:
    """Scan every topic of the test's deployment from its first offset and every database
    of its store: none of `details` (nor a case's tracking code) in any form. And the scan
    read the log and the store: it finds there what is kept in clear (each case number,
    the masked phone)."""
    present = (MASKED_PHONE, *(case.case_id for case in cases.values()))
    codes = tuple(case.code for case in cases.values())
    result = await scan(settings, (*details, *codes, *present))
    print(f"\nscan: {result.figures()}")
    print("\n".join(f"  {topic}: {count} messages"
                    for topic, count in sorted(result.messages_by_topic.items())))
    leaks = [hit for hit in result.hits if hit.needle not in present]
    assert not leaks, "personal data in clear:\n" + "\n".join(map(str, leaks))

    topics = Topics(settings.topic_prefix)
    assert result.messages_by_topic.get(topics.case_events, 0) > 0
    assert result.messages_by_topic.get(topics.department_cases(DEPARTMENT), 0) > 0
    assert result.documents > 0
    assert f"{settings.database('keys')}.data_keys" in result.documents_by_collection
    for needle in present:
        places = {hit.place for hit in result.hits_of(needle)}
        assert topics.case_events in places, f"the scan did not find {needle} in the log"
        assert any(place.startswith(settings.db_prefix) for place in places), \
            f"the scan did not find {needle} in the store"


async def erase_every_case(http: httpx.AsyncClient, cases: dict[Channel, Made]) -> None:
    """An admin erases each case's personal data; every view has dropped it."""
    for case in cases.values():
        erased = await http.post(f"/api/admin/erasures/{case.case_id}", headers=ADMIN)
        assert erased.status_code in (200, 202), erased.text

    async def forgotten() -> bool:
        views = [await ok(await http.get(f"/api/staff/cases/{case.case_id}", headers=OFFICER))
                 for case in cases.values()]
        return all(view["personal_data_erased"] for view in views)

    await eventually(forgotten, timeout=60, every=0.5, what="every view to drop the person")


async def test_no_detail_of_a_resident_is_kept_in_clear_in_any_topic_or_database(
        settings: CommonSettings) -> None:
    async with public_entry(settings) as app, client(app) as http:
        cases = await submit_through_every_channel(http, settings)
        await handle_to_the_end(http, cases)
        await nothing_personal_anywhere(settings, cases)
        # and after the personal data is erased, and tracking rebuilt from offset 0
        await erase_every_case(http, cases)
        await rebuild_tracking(settings)
        await nothing_personal_anywhere(settings, cases)
