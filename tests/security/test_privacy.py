"""A resident's name, phone, email and private address stay private: through a whole
lifecycle (submitted on the web and through Open311, triaged, routed, handled, reopened,
closed) no public answer, no Open311 answer, no line of the open-data feed and no log line at info level or above
carries them; phone numbers, ID card numbers, emails and plates written into the free
texts reach the public masked. On the public entry, on the real stack."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import structlog
from helpers import TEST_SECRET, eventually, read_events
from security.public_entry import (
    DEPARTMENT_A,
    DEPT_A,
    OFFICER,
    PRIVATE_ADDRESS,
    REPORTER,
    RESIDENT_EMAIL,
    RESIDENT_NAME,
    RESIDENT_PHONE,
    SUPERVISOR,
    cases_in,
    client,
    ok,
    public_entry,
    settled,
    staff_rows,
    submit,
    upload_photo,
    work_on,
)
from servicefixtures import token

from contracts.facts import Role
from services.common.auth import issue_token
from services.common.kafka import ADMIN
from services.common.logging import configure_logging
from services.common.masking import id_check_character
from services.common.settings import CommonSettings
from services.composition import build
from services.opendata.publishing import CaseLogEnds, Publisher, PublishingPolicy

PRIVATE = (RESIDENT_NAME, RESIDENT_PHONE, RESIDENT_EMAIL, PRIVATE_ADDRESS)
HANDLERS = ("water-handler-liu", "water-handler-ma")
"""Staff ids of the water company's handlers: shown to staff, never to the public."""
OPEN311_PHONE, OPEN311_EMAIL = "13600001111", "li.si@example.cn"


@contextmanager
def log_lines(settings: CommonSettings) -> Iterator[list[dict[str, Any]]]:
    """Every structlog line emitted meanwhile (the loggers filter below INFO already).

    The capturing step is put into the configured chain in place, just before the
    renderer, so loggers cached before the test (module-level ones) pass through it too.
    """
    configure_logging(settings)  # as every service does first (once per process)
    lines: list[dict[str, Any]] = []

    def capture(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        lines.append({**event, "level": method})
        return event

    chain = structlog.get_config()["processors"]
    chain.insert(max(len(chain) - 1, 0), capture)
    try:
        yield lines
    finally:
        chain.remove(capture)


def leaks(text: str, private: tuple[str, ...] = PRIVATE) -> list[str]:
    return [p for p in private if p in text]


FEED = "/open-data/events.ndjson?limit=5000"


async def feed_holds(http: httpx.AsyncClient, settings: CommonSettings,
                     case_ids: list[str]) -> None:
    """Wait until the open-data feed has a line for every event of these cases in the log."""
    events = [e for e in await read_events(settings) if e.case_id in case_ids]

    async def complete() -> bool:
        lines = [json.loads(text) for text in (await http.get(FEED)).text.splitlines()]
        return {line["event_id"] for line in lines} >= {str(e.event_id) for e in events}

    await eventually(complete, timeout=60, what="the open-data feed to hold the cases' events")


async def public_answers(http: httpx.AsyncClient, case_ids: list[str],
                         settings: CommonSettings) -> dict[str, str]:
    """What anyone can read about these cases, keyed by the URL asked: the open-data feed
    too, once it holds every event of theirs."""
    await feed_holds(http, settings, case_ids)
    urls = ["/api/cases?limit=100", f"/api/cases?q={RESIDENT_NAME}", "/open311/v2/requests.json",
            "/open311/v2/requests.xml", "/open311/v2/services.json", "/api/cases/map",
            FEED, "/open-data/events.sse"]
    urls += [f"/open-data/cases.csv?lang={lang}" for lang in ("zh-Hans", "zh-Hant", "en")]
    for case_id in case_ids:
        urls += [f"/api/cases/{case_id}?lang={lang}" for lang in ("zh-Hans", "zh-Hant", "en")]
        urls += [f"/api/cases/{case_id}/live", f"/open311/v2/requests/{case_id}.json",
                 f"/open311/v2/requests/{case_id}.xml", f"/cases/{case_id}"]
    answers = {}
    for url in urls:
        answer = await http.get(url)
        assert answer.status_code == 200, f"{url}: {answer.status_code} {answer.text[:200]}"
        answers[url] = answer.text
    return answers | await published_days(http, settings, case_ids)


async def published_days(http: httpx.AsyncClient, settings: CommonSettings,
                         case_ids: list[str]) -> dict[str, str]:
    """The daily files holding these cases' events, as anyone downloads them: the days up to
    now published as they would be the next day (a publisher whose clock says so), read back
    through the public routes and unzipped."""
    service = build("opendata", settings)
    try:
        tomorrow = service.clock.now() + timedelta(days=1, hours=1)
        ends = CaseLogEnds(settings, ADMIN, service.topics.case_events)
        try:
            await Publisher(service.db, PublishingPolicy(tz=service.tz, settle_s=0), service.clock,
                            ends).publish_due(tomorrow)
        finally:
            await ends.stop()
    finally:
        await service.mongo.close()
    manifest = (await http.get("/open-data/days.json")).json()
    files = {}
    for entry in manifest["days"]:
        answer = await http.get(entry["file"])
        assert answer.status_code == 200, f"{entry['file']}: {answer.status_code}"
        files[entry["file"]] = gzip.decompress(answer.content).decode()
    held = "".join(files.values())
    assert all(case_id in held for case_id in case_ids), "the cases' days are not published"
    return files


async def test_no_public_answer_and_no_log_line_carries_a_residents_details(
        settings: CommonSettings) -> None:
    api_key = issue_token(TEST_SECRET, "city-app", Role.OFFICER, kind="api_key")
    with log_lines(settings) as lines:
        async with public_entry(settings) as app, client(app) as http:
            photo = await upload_photo(http)
            # the web: submitted with contact details and a home address; triaged; routed
            case, = await cases_in(http, ["routed"])
            web = case.case_id
            # its department's coordinator gives it to a handler, a supervisor hands it on:
            # staff see who handles it (their staff ids are staff's personal data), no one else
            coordinator = token(Role.DEPARTMENT, DEPT_A, subject="water-chief",
                                coordinator=True)
            for who, handler in ((coordinator, HANDLERS[0]), (SUPERVISOR, HANDLERS[1])):
                await ok(await http.post(f"/api/cases/{web}/handler", headers=who,
                                         json={"handler": handler}))
            await work_on(http, web, DEPARTMENT_A, note="已安排维修", progress="正在更换水管",
                          resolution="已恢复供水")
            resident = {"X-Tracking-Code": case.code}
            await ok(await http.post(f"/api/cases/{web}/feedback", headers=resident,
                                     json={"fixed": False, "satisfied": False, "rating": 2,
                                           "comment": "还是没水"}))
            await ok(await http.post(f"/api/cases/{web}/resolve", headers=DEPARTMENT_A,
                                     json={"resolution": "更换了总阀门"}))
            await ok(await http.post(f"/api/cases/{web}/feedback", headers=resident,
                                     json={"fixed": True, "satisfied": True, "rating": 5}))
            # the resident (and staff) do see the details: they are kept, only not shown
            own = await ok(await http.get(f"/api/cases/{web}/private", headers=resident))
            assert own["contact"]["phone"] == RESIDENT_PHONE
            handling = await ok(await http.get(f"/api/staff/cases/{web}", headers=DEPARTMENT_A))
            assert handling["contact"]["phone"] == RESIDENT_PHONE
            # a reporter the case was not handed to reads it without the contact details
            unhanded = await http.get(f"/api/staff/cases/{web}", headers=REPORTER)
            assert unhanded.status_code == 200
            assert not leaks(unhanded.text, (RESIDENT_NAME, RESIDENT_PHONE, RESIDENT_EMAIL))

            # Open311: a city app submits for a resident, with a photo link
            form = {"api_key": api_key, "service_code": "water", "attribute[district]": "jinshui",
                    "address_string": PRIVATE_ADDRESS, "first_name": "四", "last_name": "李",
                    "phone": OPEN311_PHONE, "email": OPEN311_EMAIL,
                    "description": "家里水龙头流出黄水，请检查。",
                    "media_url": f"https://photos.example.org/{photo}.jpg"}
            created = await http.post("/open311/v2/requests.json", data=form)
            assert created.status_code == 201, created.text
            open311 = created.json()[0]["service_request_id"]
            await ok(await http.post(f"/api/cases/{open311}/reject", headers=OFFICER,
                                     json={"reason": "重复提交"}))

            async def closed() -> bool:
                answer = await http.get(f"/api/cases/{web}")
                return answer.json()["facts"]["status"] == "closed"

            await eventually(closed, what="the case to close on the public page")
            answers = await public_answers(http, [web, open311], settings)
            answers[f"POST {open311}"] = created.text

    private = (*PRIVATE, OPEN311_PHONE, OPEN311_EMAIL, case.code, *HANDLERS)
    leaked = {url: found for url, text in answers.items() if (found := leaks(text, private))}
    assert not leaked, f"personal data in public answers: {leaked}"
    assert json.loads(answers[f"/api/cases?q={RESIDENT_NAME}"])["total"] == 0
    assert web in answers["/open-data/cases.csv?lang=zh-Hans"]  # the CSV lists the case

    assert any(line.get("event") == "recorded" for line in lines), "the log capture saw nothing"
    logged = [line for line in lines if leaks(json.dumps(line, ensure_ascii=False, default=str),
                                              private)]
    assert not logged, f"personal data in the log: {logged[:3]}"
    print(f"\nchecked {len(answers)} public answers and {len(lines)} log lines")


TEXT_PHONE, TEXT_LANDLINE, TEXT_EMAIL, TEXT_PLATE = (
    "13724681357", "0371-66661234", "zhang.wei@example.org", "豫A·58631")
TEXT_ID = "41010519780412561" + id_check_character("41010519780412561")
IN_TEXT = (TEXT_PHONE, TEXT_LANDLINE, TEXT_ID, TEXT_EMAIL, TEXT_PLATE)


async def test_details_written_into_the_texts_reach_the_public_masked(
        settings: CommonSettings) -> None:
    description = (f"小区门口水管漏水，{TEXT_PLATE}的车停在井盖上没法维修。我叫张伟，"
                   f"手机{TEXT_PHONE}，座机{TEXT_LANDLINE}，身份证{TEXT_ID}，邮箱{TEXT_EMAIL}。")
    async with public_entry(settings) as app, client(app) as http:
        # given a resident who wrote their details into the description, and a department
        # that quotes them in a public note and in its resolution
        case = await submit(http, description=description)
        await ok(await http.post(f"/api/cases/{case.case_id}/accept", headers=OFFICER, json={}))

        async def routed() -> bool:
            rows = await staff_rows(http, ["routed"])
            return settled(rows.get(case.case_id), "routed")

        await eventually(routed, timeout=120, every=0.5, what="the case to be routed")
        await ok(await http.post(f"/api/cases/{case.case_id}/progress", headers=DEPARTMENT_A,
                                 json={"note": f"已电话联系{TEXT_PHONE}，车主{TEXT_PLATE}已挪车",
                                       "public": True}))
        await ok(await http.post(f"/api/cases/{case.case_id}/resolve", headers=DEPARTMENT_A,
                                 json={"resolution": f"已修复；回执已发{TEXT_EMAIL}"}))

        async def resolved() -> bool:
            answer = await http.get(f"/api/cases/{case.case_id}")
            return answer.json()["facts"]["status"] == "resolved"

        await eventually(resolved, what="the resolution on the public page")
        # when the public reads it everywhere, and searches for the details
        answers = await public_answers(http, [case.case_id], settings)
        searches = {}
        for asked in (TEXT_PHONE, "2468", TEXT_ID, TEXT_EMAIL, "58631", "66661234"):
            url = f"/api/cases?q={asked}"
            searches[url] = await ok(await http.get("/api/cases", params={"q": asked}))
            answers[url] = json.dumps(searches[url], ensure_ascii=False)
        own = await http.get(f"/api/cases/{case.case_id}/private",
                             headers={"X-Tracking-Code": case.code})
        staff = await http.get(f"/api/staff/cases/{case.case_id}", headers=OFFICER)
        staff_found = await ok(await http.get("/api/staff/cases", headers=OFFICER,
                                              params={"q": "水管漏水"}))
        staff_by_phone = await ok(await http.get("/api/staff/cases", headers=OFFICER,
                                                 params={"q": TEXT_PHONE}))
        masked = await ok(await http.get(f"/api/cases/{case.case_id}"))

    # then no public answer carries them; the page shows them masked
    leaked = {url: found for url, text in answers.items() if (found := leaks(text, IN_TEXT))}
    assert not leaked, f"details from the free texts in public answers: {leaked}"
    assert all(found["total"] == 0 for found in searches.values()), searches
    assert "手机137****1357" in masked["description"] and "豫A·***31的车" in masked["description"]
    assert "车主豫A·***31已挪车" in json.dumps(masked["timeline"], ensure_ascii=False)
    assert f"/api/cases/{case.case_id}/live" in answers
    assert "137****1357" in answers[f"/api/cases/{case.case_id}/live"]
    assert "zh***@example.org" in answers[f"/open311/v2/requests/{case.case_id}.json"]
    assert "137****1357" in answers[FEED] and "豫A·***31" in answers[FEED]
    assert "zh***@example.org" in answers["/open-data/events.sse"]
    # and the resident with the tracking code, and staff, read them as written
    for answer in (own, staff):
        assert answer.status_code == 200, answer.text
        assert answer.json()["description"] == description
        assert all(detail in answer.text for detail in IN_TEXT)
    assert f"已电话联系{TEXT_PHONE}" in own.text and f"回执已发{TEXT_EMAIL}" in staff.text
    assert [row["case_id"] for row in staff_found["items"]] == [case.case_id]
    # what the log keeps in clear is the masked text: the details are sealed, and no search
    # (not even staff's) finds a case by them
    assert staff_by_phone["total"] == 0 and TEXT_PHONE not in json.dumps(staff_found)
