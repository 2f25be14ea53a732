"""The first story end to end, on the real broker and store, through the public entry:
a resident submits over HTTP, the event lands in Kafka, tracking projects it into the
document store, and the case reads back from tracking's API — publicly without personal
data, privately with the tracking code."""

from __future__ import annotations

from helpers import client_for, eventually, read_events, running

from services.common.http import build_app
from services.common.settings import CommonSettings
from services.composition import build

REQUEST = {
    "category": "traffic-signals",
    "description": "沙口路王府坟菜市场门口的红绿灯不亮了，过马路很危险。",
    "location": {"district": "zhongyuan", "street": "沙口路王府坟菜市场门口",
                 "address": "沙口路王府坟菜市场正门东侧"},
    "attributes": {"signal_state": "dark"},
    "contact": {"name": "李女士", "phone": "13800000000", "email": "li@example.org"},
}


async def test_a_submission_becomes_an_event_and_a_readable_case(settings: CommonSettings) -> None:
    intake, tracking = build("intake", settings), build("tracking", settings)
    app = build_app([intake, tracking], title="public entry")
    async with running(intake, tracking), client_for(app) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text

        answer = await http.post("/api/cases", json=REQUEST)
        assert answer.status_code == 201, answer.text
        case_id, code = answer.json()["case_id"], answer.json()["tracking_code"]

        # in the log, keyed by the case, with its envelope
        [submitted] = await read_events(settings, case_id=case_id)
        assert submitted.type == "CaseSubmitted" and submitted.seq == 1

        # tracking consumed it into the store: the public view, without personal data
        async def public_view() -> dict | None:  # type: ignore[type-arg]
            found = await http.get(f"/api/cases/{case_id}")
            return found.json() if found.status_code == 200 else None

        view = await eventually(public_view, what="the case on tracking's API")
        assert view["facts"]["status"] == "submitted"
        assert [entry["type"] for entry in view["timeline"]] == ["CaseSubmitted"]
        public_text = str(view)
        for private in ("李女士", "13800000000", "li@example.org"):
            assert private not in public_text

        # the resident's own view, with the tracking code
        mine = await http.get(f"/api/cases/{case_id}/private", headers={"X-Tracking-Code": code})
        assert mine.status_code == 200 and mine.json()["contact"]["phone"] == "13800000000"
        wrong = await http.get(f"/api/cases/{case_id}/private",
                               headers={"X-Tracking-Code": "0000-0000-0000-0000"})
        assert wrong.status_code == 403
