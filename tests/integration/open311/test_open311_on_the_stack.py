"""Open311 GeoReport v2 on the real stack: an Open311 client talks to intake and tracking
served together (as on the public entry), in XML and in JSON.

The clock stands at 2026-10-20 12:00 in Zhengzhou, so "the most recent 90 days" is fixed.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import pytest_asyncio
from helpers import (
    TEST_SECRET,
    client_for,
    eventually,
    personal_of,
    publish_envelopes,
    read_events,
    running,
)
from servicefixtures import token
from unit.tracking.tracking_stories import (
    EMAIL,
    NAME,
    PHONE,
    PRIVATE_ADDRESS,
    RING,
    STAFF_IDS,
    a_long_handling,
    accepted,
    day,
    reference_case,
    submitted,
    water_case,
)

from contracts import case_events as ev
from contracts.facts import Role
from contracts.personal import ResidentContact
from services.common.auth import issue_token
from services.common.clock import ManualClock
from services.common.http import build_app
from services.common.settings import CommonSettings
from services.intake.service import IntakeService
from services.intake.settings import IntakeSettings
from services.lifecycle.history import History
from services.tracking.service import TrackingService
from services.tracking.settings import TrackingSettings

if TYPE_CHECKING:
    from services.metrics.service import MetricsService

pytestmark = pytest.mark.stack

NOW = day("10-20", 12)
BASE = "/open311/v2"
JURISDICTION = "zhengzhou.gov.cn"
API_KEY = issue_token(TEST_SECRET, "city-app", Role.OFFICER, kind="api_key")

# The spec's element names, in its order.
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type", "keywords",
                  "group"]
ATTRIBUTE_FIELDS = ["variable", "code", "datatype", "required", "datatype_description", "order",
                    "description", "values"]
REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code",
                  "description", "agency_responsible", "service_notice", "requested_datetime",
                  "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
                  "lat", "long", "media_url"]

# Reported from the gate of the Wangfufen vegetable market on Shakou Road (Jinshui district).
LIGHTS = {
    "api_key": API_KEY, "jurisdiction_id": JURISDICTION, "service_code": "traffic-signals",
    "lat": "34.7995", "long": "113.6390", "attribute[signal_state]": "dark",
    "description": "沙口路王府坟菜市场门口的红绿灯不亮了，过马路很危险。",
    "first_name": "秀英", "last_name": "李", "phone": PHONE, "email": EMAIL,
    "device_id": "tt222111", "account_id": "123456",
    "media_url": "https://media.example.org/p/dark-lights.jpg",
}
# A home's water: the exact address must stay private.
WATER = {"api_key": API_KEY, "service_code": "water", "address_string": PRIVATE_ADDRESS,
         "attribute[district]": "jinshui", "description": "家里停水两天了，水压一直很低。"}


@dataclass
class Open311:
    http: httpx.AsyncClient
    settings: CommonSettings
    tracking: TrackingService
    intake: IntakeService | None = None
    metrics: MetricsService | None = None


@asynccontextmanager
async def public_entry(settings: CommonSettings, *, intake: bool = True,
                       metrics: bool = False) -> AsyncIterator[Open311]:
    """The services behind one app, as on the public entry, with the clock at NOW."""
    common = settings.model_copy(update={"open311_jurisdiction": JURISDICTION})
    clock = ManualClock(NOW)
    # live streams end after a moment, so the in-process client can read one to its end
    tracking = TrackingService(TrackingSettings.from_common(
        common, tracking_live_max_age_s=1.0, tracking_live_poll_s=0.2), clock)
    taking = IntakeService(IntakeSettings.from_common(common), clock) \
        if intake else None
    counting = None
    if metrics:
        from services.metrics.service import MetricsService
        from services.metrics.settings import MetricsSettings

        counting = MetricsService(MetricsSettings.from_common(common), clock)
    runtimes = [r for r in (taking, tracking, counting) if r is not None]
    async with running(*runtimes), client_for(
            build_app(runtimes, title="zaiban open311")) as http:
        yield Open311(http, common, tracking, taking, counting)


@pytest_asyncio.fixture(loop_scope="session")
async def open311(settings: CommonSettings) -> AsyncIterator[Open311]:
    """Intake and tracking: every Open311 endpoint."""
    async with public_entry(settings) as entry:
        yield entry


@pytest_asyncio.fixture(loop_scope="session")
async def with_metrics(settings: CommonSettings) -> AsyncIterator[Open311]:
    """Intake, tracking and metrics: a request's whole way to the public figures."""
    async with public_entry(settings, metrics=True) as entry:
        yield entry


@pytest_asyncio.fixture(loop_scope="session")
async def reader(settings: CommonSettings) -> AsyncIterator[Open311]:
    """Tracking alone (the reads of requests), for stories told with published histories."""
    async with public_entry(settings, intake=False) as entry:
        yield entry


def xml_of(response: httpx.Response, root: str) -> ET.Element:
    assert response.headers["content-type"] == "text/xml; charset=utf-8", response.text
    assert response.text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    element = ET.fromstring(response.content)
    assert element.tag == root, response.text
    return element


def json_of(response: httpx.Response) -> Any:
    assert response.headers["content-type"] == "application/json; charset=utf-8", response.text
    return response.json()


def errors_of(response: httpx.Response) -> list[tuple[int, str]]:
    """The spec's error answer, in either format, as (code, description) pairs."""
    if response.headers["content-type"].startswith("text/xml"):
        errors = xml_of(response, "errors")
        assert all(e.tag == "error" and [c.tag for c in e] == ["code", "description"]
                   for e in errors)
        found = [(int(e.findtext("code") or 0), e.findtext("description") or "") for e in errors]
    else:
        found = [(e["code"], e["description"]) for e in json_of(response)]
    assert found and all(code == response.status_code for code, _ in found), response.text
    return found


def requests_in_xml(response: httpx.Response) -> list[dict[str, str]]:
    requests = xml_of(response, "service_requests")
    rows = []
    for request in requests:
        assert request.tag == "request"
        assert [field.tag for field in request] == REQUEST_FIELDS
        rows.append({field.tag: field.text or "" for field in request})
    return rows


async def readable(http: httpx.AsyncClient, case_id: str) -> dict[str, Any]:
    """The request as GET requests/{id}.json answers it, once tracking has it."""

    async def probe() -> dict[str, Any] | None:
        answer = await http.get(f"{BASE}/requests/{case_id}.json")
        return answer.json()[0] if answer.status_code == 200 else None

    return await eventually(probe, what=f"request {case_id} in tracking")


# -- services ---------------------------------------------------------------------------------


async def test_discovery_the_services_and_their_definitions_in_xml_and_json(
        open311: Open311) -> None:
    http = open311.http

    found = xml_of(await http.get(f"{BASE}/discovery.xml"), "discovery")
    assert [e.tag for e in found] == ["changeset", "contact", "key_service", "endpoints"]
    endpoint = found.find("endpoints/endpoint")
    assert endpoint is not None
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint.findtext("url") == "http://zaiban.test/open311/v2"
    assert [f.text for f in endpoint.findall("formats/format")] == ["text/xml",
                                                                     "application/json"]
    discovered = json_of(await http.get(f"{BASE}/discovery.json"))
    assert discovered["endpoints"][0]["formats"] == ["text/xml", "application/json"]
    assert discovered["endpoints"][0]["type"] == "test"

    services = xml_of(await http.get(f"{BASE}/services.xml"), "services")
    assert all(s.tag == "service" and [f.tag for f in s] == SERVICE_FIELDS for s in services)
    assert services[0].findtext("service_code") == "traffic-signals"
    assert services[0].findtext("service_name") == "交通信号灯"
    assert {s.findtext("type") for s in services} == {"realtime"}
    listed = json_of(await http.get(f"{BASE}/services.json", params={
        "lang": "en", "jurisdiction_id": JURISDICTION}))
    assert isinstance(listed, list) and len(listed) == len(services)
    assert listed[2] == {"service_code": "water", "service_name": "Water supply",
                         "description": "No water, low pressure, water quality, leaks",
                         "metadata": True, "type": "realtime", "keywords": "供水, Water supply",
                         "group": "utilities"}

    definition = xml_of(await http.get(f"{BASE}/services/traffic-signals.xml",
                                       headers={"Accept-Language": "en"}), "service_definition")
    assert [e.tag for e in definition] == ["service_code", "attributes"]
    attributes = definition.findall("attributes/attribute")
    assert [[f.tag for f in a] for a in attributes] == [ATTRIBUTE_FIELDS] * 2
    assert [(a.findtext("code"), a.findtext("required"), a.findtext("order"))
            for a in attributes] == [("signal_state", "true", "1"), ("district", "false", "2")]
    assert [v.findtext("key") for v in attributes[0].findall("values/value")] == [
        "dark", "partial", "flashing", "timing"]
    assert attributes[0].find("values/value/name").text == "All dark"  # type: ignore[union-attr]
    defined = json_of(await http.get(f"{BASE}/services/heating.json"))
    assert defined["service_code"] == "heating"
    assert defined["attributes"][0]["datatype"] == "number"
    assert defined["attributes"][0]["datatype_description"] == "a number, e.g. 18.5"

    # what does not exist is a 404 in the spec's format
    assert errors_of(await http.get(f"{BASE}/services/ufo.xml")) == [
        (404, "service_code 'ufo' not found")]
    assert errors_of(await http.get(f"{BASE}/services/ufo.json"))[0][0] == 404
    wrong_place = await http.get(f"{BASE}/services.json", params={"jurisdiction_id": "sfgov.org"})
    assert wrong_place.status_code == 404 and "sfgov.org" in errors_of(wrong_place)[0][1]
    html = await http.get(f"{BASE}/services.html")
    assert html.status_code == 404 and "xml or .json" in errors_of(html)[0][1]
    nowhere = await http.get(f"{BASE}/complaints.json")
    assert nowhere.status_code == 404 and errors_of(nowhere)[0][1].startswith("/open311/v2/")
    no_format = await http.get(f"{BASE}/services")
    assert no_format.status_code == 404 and errors_of(no_format)  # XML, the required format
    bad_lang = await http.get(f"{BASE}/services.json", params={"lang": "tlh"})
    assert bad_lang.status_code == 400 and "lang" in errors_of(bad_lang)[0][1]


# -- submitting and reading back --------------------------------------------------------------


async def test_a_request_is_answered_once_durable_then_read_back_live_and_counted(
        with_metrics: Open311) -> None:
    http, settings = with_metrics.http, with_metrics.settings

    posted = await http.post(f"{BASE}/requests.json", data=LIGHTS)

    assert posted.status_code == 201, posted.text
    [receipt] = json_of(posted)
    case_id = receipt["service_request_id"]
    assert set(receipt) == {"service_request_id", "service_notice", "account_id",
                            "zaiban_tracking_code"}
    assert receipt["account_id"] is None and case_id in receipt["service_notice"]
    code = receipt["zaiban_tracking_code"]
    assert posted.headers["Location"] == f"{BASE}/requests/{case_id}.json"
    # durable before the answer: the log holds it already
    [event] = await read_events(settings, case_id=case_id)
    assert event.type == "CaseSubmitted" and event.facts.channel == "open311"
    assert event.data["location"] == {"district": "jinshui", "address": "", "street": "",
                                      "lat": 34.7995, "lon": 113.639}
    assert event.data["attributes"] == {"signal_state": "dark"}
    personal = await personal_of(settings, event)
    assert personal and personal.contact == ResidentContact(name=NAME, phone=PHONE, email=EMAIL)
    assert PHONE not in event.model_dump_json() and EMAIL not in event.model_dump_json()
    assert event.data["external_ref"] == "open311:city-app"
    assert "tt222111" not in event.model_dump_json()

    posted_xml = await http.post(f"{BASE}/requests.xml", data=WATER,
                                 headers={"Idempotency-Key": "water-1"})
    assert posted_xml.status_code == 201, posted_xml.text
    receipt_xml = xml_of(posted_xml, "service_requests")
    assert [[f.tag for f in r] for r in receipt_xml] == [
        ["service_request_id", "service_notice", "account_id", "zaiban_tracking_code"]]
    water_id = receipt_xml.findtext("request/service_request_id")
    water_code = receipt_xml.findtext("request/zaiban_tracking_code")
    assert water_id and water_code and receipt_xml.findtext("request/account_id") == ""
    again = await http.post(f"{BASE}/requests.xml", data=WATER,
                            headers={"Idempotency-Key": "water-1"})
    assert again.status_code == 200
    retried = xml_of(again, "service_requests")
    assert retried.findtext("request/service_request_id") == water_id
    assert retried.findtext("request/zaiban_tracking_code") == water_code

    lights = await readable(http, case_id)
    assert lights == {
        "service_request_id": case_id, "status": "open",
        "status_notes": None, "service_name": "交通信号灯", "service_code": "traffic-signals",
        "description": LIGHTS["description"], "agency_responsible": None,
        "service_notice": "按“一般”类时限办理",
        "requested_datetime": "2026-10-20T12:00:00+08:00",
        "updated_datetime": "2026-10-20T12:00:00+08:00", "expected_datetime": None,
        "address": "金水区", "address_id": None, "zipcode": None,
        "lat": 34.7995, "long": 113.639, "media_url": LIGHTS["media_url"]}
    await readable(http, water_id)

    [water] = requests_in_xml(await http.get(f"{BASE}/requests/{water_id}.xml",
                                             params={"lang": "en"}))
    assert (water["service_request_id"], water["status"], water["service_name"]) == (
        water_id, "open", "Water supply")
    assert water["address"] == "Jinshui" and water["lat"] == water["long"] == ""
    both = json_of(await http.get(f"{BASE}/requests.json",
                                  params={"service_request_id": f"{case_id},{water_id}"}))
    assert {r["service_request_id"] for r in both} == {case_id, water_id}
    listed = requests_in_xml(await http.get(f"{BASE}/requests.xml"))
    assert {r["service_request_id"] for r in listed} == {case_id, water_id}
    everything = (json.dumps(both, ensure_ascii=False)
                  + (await http.get(f"{BASE}/requests.xml")).text)
    for private in (NAME, "秀英", PHONE, EMAIL, PRIVATE_ADDRESS, "123456", "tt222111", code,
                    water_code, "zaiban_tracking_code"):
        assert private not in everything
    one = (await http.get(f"{BASE}/requests/{case_id}.json")).text + (
        await http.get(f"{BASE}/requests/{water_id}.xml")).text
    assert code not in one and water_code not in one and "tracking" not in one

    # the code the client was given opens the resident's own view of each case, with their
    # contact; another case's code does not
    mine = await http.get(f"/api/cases/{case_id}/private", headers={"X-Tracking-Code": code})
    assert mine.status_code == 200, mine.text
    assert mine.json()["case_id"] == case_id and PHONE in mine.text
    water_private = await http.get(f"/api/cases/{water_id}/private",
                                   headers={"X-Tracking-Code": water_code})
    assert water_private.status_code == 200 and PRIVATE_ADDRESS in water_private.text
    assert (await http.get(f"/api/cases/{water_id}/private",
                           headers={"X-Tracking-Code": code})).status_code == 403

    # a token is the case number; anything else is not found
    assert json_of(await http.get(f"{BASE}/tokens/{case_id}.json")) == [
        {"service_request_id": case_id, "token": case_id}]
    by_token = xml_of(await http.get(f"{BASE}/tokens/{water_id}.xml"), "service_requests")
    assert [[f.tag for f in r] for r in by_token] == [["service_request_id", "token"]]
    assert by_token.findtext("request/service_request_id") == water_id

    # the case's live timeline says it came in over Open311
    live = await http.get(f"/api/cases/{case_id}/live", params={"lang": "en"})
    assert live.status_code == 200 and live.headers["content-type"].startswith(
        "text/event-stream")
    first = next(json.loads(line.removeprefix("data: ")) for line in live.text.splitlines()
                 if line.startswith("data: "))
    assert (first["type"], first["what"]["channel"]) == ("CaseSubmitted", "open311")
    assert first["text"] == "Submitted via Open311 (Traffic signals, Jinshui)"
    public = (await http.get(f"/api/cases/{case_id}")).json()
    assert public["channel"] == "open311" and NAME not in json.dumps(public, ensure_ascii=False)

    # and the public figures count both under the channel open311
    async def counted() -> dict[str, Any] | None:
        rows = (await http.get("/api/stats/breakdown/channel", params={"lang": "en"})).json()
        found = {row["code"]: row for row in rows["rows"]}
        return found if found["open311"]["received"] == 2 else None

    channels = await eventually(counted, what="two open311 requests in the figures")
    assert channels["open311"]["name"] == "Open311"
    assert sum(row["received"] for row in channels.values()) == 2


async def test_what_cannot_be_a_request_is_refused_in_the_spec_format_and_records_nothing(
        open311: Open311) -> None:
    http, settings = open311.http, open311.settings
    recorded = json_of(await http.post(f"{BASE}/requests.json", data=LIGHTS))
    staff_token = token(Role.ADMIN)["Authorization"].removeprefix("Bearer ")

    refusals: list[tuple[str, dict[str, str], int, str]] = [
        ("xml", {**LIGHTS, "api_key": ""}, 403, "api_key was not provided"),
        ("json", {k: v for k, v in LIGHTS.items() if k != "api_key"}, 403, "api_key"),
        ("xml", {**LIGHTS, "api_key": "zb1.forged.key"}, 403, "invalid api_key"),
        ("json", {**LIGHTS, "api_key": staff_token}, 403, "not a api_key token"),
        ("xml", {**LIGHTS, "jurisdiction_id": "sfgov.org"}, 404, "jurisdiction_id"),
        ("json", {**LIGHTS, "service_code": "ufo"}, 404, "service_code 'ufo' not found"),
        ("xml", {**LIGHTS, "service_code": ""}, 400, "service_code was not provided"),
        ("json", {k: v for k, v in LIGHTS.items() if k not in ("lat", "long")}, 400,
         "a location is required"),
        ("xml", {**LIGHTS, "description": "灯" * 4001}, 400, "description: at most 4,000"),
        ("json", {**LIGHTS, "lat": "39.9", "long": "116.4"}, 400, "lat/long: the point"),
        ("xml", {k: v for k, v in LIGHTS.items() if k != "attribute[signal_state]"}, 400,
         "attribute[signal_state]: required for this category"),
        ("json", {**LIGHTS, "attribute[signal_state]": "on fire"}, 400,
         "attribute[signal_state]: one of"),
        ("xml", {**WATER, "attribute[district]": ""}, 400, "attribute[district]: needed"),
        ("json", {**LIGHTS, "email": "li at example"}, 400, "email: not an email address"),
    ]
    for fmt, data, status, says in refusals:
        answer = await http.post(f"{BASE}/requests.{fmt}", data=data)
        assert answer.status_code == status, (data, answer.text)
        assert any(says in description for _, description in errors_of(answer)), answer.text
    as_json = await http.post(f"{BASE}/requests.json", json=LIGHTS)
    assert as_json.status_code == 400 and "x-www-form-urlencoded" in errors_of(as_json)[0][1]

    reads: list[tuple[str, dict[str, str], int, str]] = [
        ("requests/ZB000000-NONE-0000.xml", {}, 404, "service_request_id"),
        ("requests/ZB000000-NONE-0000.json", {}, 404, "not found"),
        ("tokens/ZB000000-NONE-0000.xml", {}, 404, "token"),
        ("tokens/not a token!.json", {}, 404, "token"),
        ("requests.xml", {"start_date": "2026-10-01T00:00:00"}, 400, "has no time zone"),
        ("requests.json", {"end_date": "next week"}, 400, "end_date"),
        ("requests.xml", {"start_date": "2026-06-01T00:00:00+08:00",
                          "end_date": "2026-10-01T00:00:00+08:00"}, 400, "at most 90 days"),
        ("requests.json", {"status": "pending"}, 400, "status"),
        ("requests.xml", {"service_code": "ufo"}, 404, "service_code 'ufo'"),
        ("requests.json", {"jurisdiction_id": "sfgov.org"}, 404, "jurisdiction_id"),
    ]
    for path, params, status, says in reads:
        answer = await http.get(f"{BASE}/{path}", params=params)
        assert answer.status_code == status, (path, answer.text)
        assert says in errors_of(answer)[0][1], answer.text
    deleting = await http.delete(f"{BASE}/requests.json")
    assert deleting.status_code == 405 and errors_of(deleting)

    events = await read_events(settings, min_count=1)
    assert [e.case_id for e in events] == [recorded[0]["service_request_id"]]


# -- queries: the window and the cap ----------------------------------------------------------


def a_recent_case(number: int) -> History:
    case_id = f"ZB261010-RCNT-{number:04d}"
    at = day("10-10", 8) + timedelta(minutes=number)
    return History(case_id).given(at, submitted(case_id, category="roads", street="农业路"))


async def projected(reader: Open311, stories: Sequence[History]) -> None:
    """Every story's case is in tracking's read model, up to its last event (a count of
    cases alone is reached while a long case's later events are still on their way)."""
    last = {story.case_id: story.envelopes[-1].seq for story in stories}
    store = reader.tracking.store

    async def all_there() -> bool:
        if await store.count() != len(last):
            return False
        views = [await store.get(case_id) for case_id in last]
        return all(view is not None and view.seq >= last[view.case_id] for view in views)

    await eventually(all_there, timeout=90, every=1.0, what=f"{len(last)} cases projected")


async def test_queries_cover_the_last_90_days_by_default_and_answer_at_most_1000(
        reader: Open311) -> None:
    http, settings = reader.http, reader.settings
    recent = [a_recent_case(n) for n in range(1, 1002)]
    old = [History(f"ZB260701-OLD0-000{n}").given(day("07-01", 9 + n), submitted(
        f"ZB260701-OLD0-000{n}")) for n in (1, 2)]
    stories = [*recent, *old]
    await publish_envelopes(settings, [e for h in stories for e in h.envelopes], keys=RING)
    await projected(reader, stories)

    default = requests_in_xml(await http.get(f"{BASE}/requests.xml"))

    assert len(default) == 1000
    newest_first = [h.case_id for h in reversed(recent)]
    assert [r["service_request_id"] for r in default] == newest_first[:1000]
    in_july = json_of(await http.get(f"{BASE}/requests.json", params={
        "start_date": "2026-06-25T00:00:00+08:00", "end_date": "2026-07-05T00:00:00Z",
        "status": "", "service_code": ""}))
    assert [r["service_request_id"] for r in in_july] == [old[1].case_id, old[0].case_id]
    by_id = json_of(await http.get(f"{BASE}/requests.json", params={
        "service_request_id": f"{old[0].case_id},{recent[0].case_id}",
        "status": "closed", "start_date": "2026-10-19T00:00:00Z"}))  # ids override the rest
    assert {r["service_request_id"] for r in by_id} == {old[0].case_id, recent[0].case_id}


async def test_queries_filter_by_service_code_and_open_or_closed(reader: Open311) -> None:
    http, settings = reader.http, reader.settings
    lights, water, long_one = reference_case(), water_case(), a_long_handling()
    refused = History("ZB261009-REJ0-0001").given(day("10-09", 8), submitted(
        "ZB261009-REJ0-0001", category="roads")).given(day("10-09", 9), ev.CaseRejected(
            officer=accepted().officer, reason="不属于受理范围"))
    stories = [lights, water, long_one, refused]
    await publish_envelopes(settings, [e for h in stories for e in h.envelopes], keys=RING)
    await projected(reader, stories)

    closed = json_of(await http.get(f"{BASE}/requests.json", params={"status": "closed"}))
    opened = requests_in_xml(await http.get(f"{BASE}/requests.xml", params={"status": "open"}))
    both = json_of(await http.get(f"{BASE}/requests.json", params={"status": "open,closed"}))
    water_en = json_of(await http.get(f"{BASE}/requests.json", params=[
        ("service_code", "water"), ("lang", "en")]))
    lights_or_gas = requests_in_xml(await http.get(f"{BASE}/requests.xml", params=[
        ("service_code", "traffic-signals"), ("service_code", "gas")]))

    assert [(r["service_request_id"], r["status"]) for r in closed] == [
        (refused.case_id, "closed"), (long_one.case_id, "closed"), (lights.case_id, "closed")]
    assert [r["service_request_id"] for r in opened] == [water.case_id]
    assert len(both) == 4
    # both submitted at 08:00 on 10-08: the later case number first
    assert [r["service_request_id"] for r in water_en] == [water.case_id, long_one.case_id]
    assert water_en[1]["status_notes"] == "Resolved by Municipal Roads Office: 已彻底修复"
    assert water_en[1]["agency_responsible"] == "Water Supply Company"
    assert [r["address"] for r in water_en] == ["文化路, Jinshui", "农业路, Jinshui"]
    assert all(r["lat"] is None and r["long"] is None for r in water_en)
    assert closed[0]["status_notes"] == "不予受理：不属于受理范围"
    assert [r["service_request_id"] for r in lights_or_gas] == [lights.case_id]
    assert lights_or_gas[0]["lat"] == "34.7995" and lights_or_gas[0]["long"] == "113.639"
    assert lights_or_gas[0]["expected_datetime"] == "2026-10-14T10:00:00+08:00"
    shown = json.dumps(both, ensure_ascii=False) + (await http.get(f"{BASE}/requests.xml")).text
    for private in (NAME, PHONE, EMAIL, PRIVATE_ADDRESS, *STAFF_IDS, "还是在漏水", "班组人手不足"):
        assert private not in shown
