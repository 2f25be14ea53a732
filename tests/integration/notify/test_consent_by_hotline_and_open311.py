"""A resident who reports by the hotline or through an Open311 client can agree to be told, as
the web form's resident can: the officer enters the caller's consent with the call, and an
Open311 client sends it as the extension `zaiban_notify` / `zaiban_channels`. Once the cases
are accepted, notify mails those who agreed and no one else. Intake and notify run on the
real broker and store; the emails arrive at a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from helpers import TEST_SECRET
from notifyfixtures import MailBox, mailing_services, received
from servicefixtures import token

from contracts.facts import Role
from services.common.auth import issue_token
from services.common.settings import CommonSettings

pytestmark = pytest.mark.stack

OFFICER = token(Role.OFFICER, subject="officer-li")
API_KEY = issue_token(TEST_SECRET, "city-app", Role.OFFICER, kind="api_key")
CALLER, SILENT_CALLER, OPEN311_RESIDENT = ("caller@example.org", "quiet@example.org",
                                           "app-user@example.org")
CALL: dict[str, Any] = {
    "category": "traffic-signals",
    "description": "来电反映：农业路与花园路交叉口的红绿灯全部不亮。",
    "location": {"district": "jinshui", "street": "农业路花园路口"},
    "attributes": {"signal_state": "dark"},
    "language": "en",
}
LIGHTS = {
    "api_key": API_KEY, "service_code": "traffic-signals", "lat": "34.7995",
    "long": "113.6390", "attribute[signal_state]": "dark", "lang": "en",
    "description": "沙口路王府坟菜市场门口的红绿灯不亮了。", "first_name": "Xiuying",
    "last_name": "Li", "email": OPEN311_RESIDENT,
}


async def test_a_caller_and_an_open311_resident_who_agreed_are_mailed_and_no_one_else(
        settings: CommonSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    with MailBox() as box:
        async with mailing_services(settings, monkeypatch, box, "intake", "notify") as http:
            # the officer ticked SMS, but the caller gave no phone: named, nothing recorded
            refused = await http.post("/api/hotline/cases", headers=OFFICER, json={
                **CALL, "contact": {"email": CALLER, "notify": True, "channels": ["sms"]}})
            assert refused.status_code == 422, refused.text
            assert "channel 'sms' needs the contact's phone" in refused.text

            # a bad channel through Open311: the spec's error body, in the format asked for
            bad = {**LIGHTS, "zaiban_notify": "true", "zaiban_channels": "email,fax"}
            as_json = await http.post("/open311/v2/requests.json", data=bad)
            assert as_json.status_code == 400
            assert as_json.json() == [{"code": 400, "description":
                                       "zaiban_channels: 'fax' is not a channel; "
                                       "one of: email, sms"}]
            as_xml = await http.post("/open311/v2/requests.xml", data=bad)
            assert as_xml.status_code == 400
            error = ET.fromstring(as_xml.text).find("error")
            assert error is not None and error.findtext("code") == "400"
            assert "zaiban_channels: 'fax'" in (error.findtext("description") or "")

            cases = []
            for contact in ({"name": "Mr Zhang", "email": CALLER, "notify": True,
                             "channels": ["email"]},
                            {"name": "Ms Wang", "email": SILENT_CALLER}):
                entered = await http.post("/api/hotline/cases", headers=OFFICER,
                                          json={**CALL, "contact": contact})
                assert entered.status_code == 201, entered.text
                cases.append(entered.json()["case_id"])
            posted = await http.post("/open311/v2/requests.json", data={
                **LIGHTS, "zaiban_notify": "true", "zaiban_channels": "email"})
            assert posted.status_code == 201, posted.text
            cases.append(posted.json()[0]["service_request_id"])

            for case_id in cases:
                accepted = await http.post(f"/api/cases/{case_id}/accept", headers=OFFICER,
                                           json={})
                assert accepted.status_code == 200, accepted.text

            await received(box, 2, "the caller's and the Open311 resident's")
            await asyncio.sleep(1.5)  # and then nothing more

    told = {m.rcpt_to[0]: str(m.message["Subject"]) for m in box.messages()}
    assert len(box.messages()) == 2
    assert told == {CALLER: f"Your request {cases[0]}: accepted",
                    OPEN311_RESIDENT: f"Your request {cases[2]}: accepted"}
