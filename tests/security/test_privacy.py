"""A resident's name, phone, email and private address stay private: through a whole
lifecycle (submitted on the web and through Open311, triaged, routed, handled, reopened,
closed) no public answer, no Open311 answer and no log line at info level or above
carries them. On the public entry, on the real stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import structlog
from helpers import TEST_SECRET, eventually
from security.public_entry import (
    DEPARTMENT_A,
    OFFICER,
    PRIVATE_ADDRESS,
    RESIDENT_EMAIL,
    RESIDENT_NAME,
    RESIDENT_PHONE,
    cases_in,
    client,
    ok,
    public_entry,
    upload_photo,
)

from contracts.facts import Role
from services.common.auth import issue_token
from services.common.logging import configure_logging
from services.common.settings import CommonSettings

PRIVATE = (RESIDENT_NAME, RESIDENT_PHONE, RESIDENT_EMAIL, PRIVATE_ADDRESS)
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


async def public_answers(http: httpx.AsyncClient, case_ids: list[str]) -> dict[str, str]:
    """What anyone can read about these cases, keyed by the URL asked."""
    urls = ["/api/cases?limit=100", f"/api/cases?q={RESIDENT_NAME}", "/open311/v2/requests.json",
            "/open311/v2/requests.xml", "/open311/v2/services.json"]
    for case_id in case_ids:
        urls += [f"/api/cases/{case_id}?lang={lang}" for lang in ("zh-Hans", "zh-Hant", "en")]
        urls += [f"/api/cases/{case_id}/live", f"/open311/v2/requests/{case_id}.json",
                 f"/open311/v2/requests/{case_id}.xml", f"/cases/{case_id}"]
    answers = {}
    for url in urls:
        answer = await http.get(url)
        assert answer.status_code == 200, f"{url}: {answer.status_code} {answer.text[:200]}"
        answers[url] = answer.text
    return answers


async def test_no_public_answer_and_no_log_line_carries_a_residents_details(
        settings: CommonSettings) -> None:
    api_key = issue_token(TEST_SECRET, "city-app", Role.OFFICER, kind="api_key")
    with log_lines(settings) as lines:
        async with public_entry(settings) as app, client(app) as http:
            photo = await upload_photo(http)
            # the web: submitted with contact details and a home address; triaged; routed
            case, = await cases_in(http, ["routed"])
            web = case.case_id
            await ok(await http.post(f"/api/cases/{web}/acknowledge", headers=DEPARTMENT_A,
                                     json={"note": "已安排维修"}))
            await ok(await http.post(f"/api/cases/{web}/progress", headers=DEPARTMENT_A,
                                     json={"note": "正在更换水管", "public": True}))
            await ok(await http.post(f"/api/cases/{web}/resolve", headers=DEPARTMENT_A,
                                     json={"resolution": "已恢复供水"}))
            resident = {"X-Tracking-Code": case.code}
            await ok(await http.post(f"/api/cases/{web}/feedback", headers=resident,
                                     json={"fixed": False, "rating": 2, "comment": "还是没水"}))
            await ok(await http.post(f"/api/cases/{web}/resolve", headers=DEPARTMENT_A,
                                     json={"resolution": "更换了总阀门"}))
            await ok(await http.post(f"/api/cases/{web}/feedback", headers=resident,
                                     json={"fixed": True, "rating": 5}))
            # the resident (and staff) do see the details: they are kept, only not shown
            own = await ok(await http.get(f"/api/cases/{web}/private", headers=resident))
            assert own["contact"]["phone"] == RESIDENT_PHONE

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
            answers = await public_answers(http, [web, open311])
            answers[f"POST {open311}"] = created.text

    private = (*PRIVATE, OPEN311_PHONE, OPEN311_EMAIL, case.code)
    leaked = {url: found for url, text in answers.items() if (found := leaks(text, private))}
    assert not leaked, f"personal data in public answers: {leaked}"
    assert json.loads(answers[f"/api/cases?q={RESIDENT_NAME}"])["total"] == 0

    assert any(line.get("event") == "recorded" for line in lines), "the log capture saw nothing"
    logged = [line for line in lines if leaks(json.dumps(line, ensure_ascii=False, default=str),
                                              private)]
    assert not logged, f"personal data in the log: {logged[:3]}"
    print(f"\nchecked {len(answers)} public answers and {len(lines)} log lines")
