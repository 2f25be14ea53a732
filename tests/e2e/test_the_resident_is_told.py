"""A resident who asked to be told hears of every step, end to end: they submit over HTTP with
their email and consent, an officer accepts, routing routes by the rules, the department
acknowledges and resolves, the resident answers through the one link of the resolution
email, and the case closes. Intake, routing and notify run on the real broker and store;
the emails arrive at a real SMTP server on loopback."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import eventually, read_events
from notifyfixtures import MailBox, mailing_services, received
from servicefixtures import token

from contracts.facts import Role
from services.common.settings import CommonSettings

OFFICER = token(Role.OFFICER)
SIGNAL_CO = token(Role.DEPARTMENT, "signal-co", subject="signal-desk")
REQUEST: dict[str, Any] = {
    "category": "traffic-signals",
    "description": "沙口路王府坟菜市场门口的红绿灯不亮了，过马路很危险。",
    "location": {"district": "zhongyuan", "street": "沙口路王府坟菜市场门口"},
    "attributes": {"signal_state": "dark"},
    "language": "zh-Hant",
    "contact": {"name": "李女士", "email": "li@example.org", "notify": True,
                "channels": ["email"]},
}


async def test_the_resident_hears_of_each_step_and_answers_from_the_resolution_email(
        settings: CommonSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    with MailBox() as box:
        async with mailing_services(settings, monkeypatch, box,
                                    "intake", "routing", "notify") as http:
            refused = await http.post("/api/cases", json={**REQUEST, "contact": {
                **REQUEST["contact"], "channels": ["sms"]}})
            assert refused.status_code == 422 and "needs the contact's phone" in refused.text

            answer = await http.post("/api/cases", json=REQUEST)
            assert answer.status_code == 201, answer.text
            case_id = answer.json()["case_id"]
            at = f"/api/cases/{case_id}"

            async def routed() -> bool:
                return any(e.type == "CaseRouted"
                           for e in await read_events(settings, case_id=case_id))

            assert (await http.post(f"{at}/accept", headers=OFFICER, json={})).status_code == 200
            await eventually(routed, what="routing's routing")
            for action, body in (("acknowledge", {"note": "收到"}),
                                 ("resolve", {"resolution": "信號機已修復"})):
                done = await http.post(f"{at}/{action}", headers=SIGNAL_CO, json=body)
                assert done.status_code == 200, done.text

            await received(box, 3, "accepted, routed, resolved")
            [resolved] = [m for m in box.messages() if "已辦結" in str(m.message["Subject"])]
            [link] = [word for word in resolved.text.split() if "code=" in word]
            code = parse_qs(urlsplit(link).query)["code"][0]
            feedback = await http.post(f"{at}/feedback", headers={"X-Tracking-Code": code},
                                       json={"fixed": True, "satisfied": True, "rating": 5})
            assert feedback.status_code == 200, feedback.text
            await received(box, 4, "closed")

    subjects = [str(m.message["Subject"]) for m in box.messages()]
    assert sorted(subjects) == sorted(f"您的訴求 {case_id}：{what}" for what in (
        "已受理", "已轉交 交通號誌設施公司 辦理", "已辦結，請您評價", "已結案"))
    assert all(m.rcpt_to == ["li@example.org"] for m in box.messages())
