"""Are you satisfied? End to end through the HTTP API on the real stack.

Three residents whose traffic lights were fixed answer (or not): one says fixed and
satisfied, one says fixed but not satisfied, one says nothing. An answer that does not say
whether they are satisfied is refused. The dispute goes to supervision and is on the
public timeline; the silent resident is asked once more, a week after the resolution, and
the case closes three days later. The satisfaction rate counts the two answers given: one
satisfied of two, never the silence.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from helpers import client_for, eventually, running
from servicefixtures import token

from contracts.facts import Role
from services.common.clock import ManualClock
from services.common.http import build_app
from services.common.settings import CommonSettings
from services.composition import SERVICES, build
from services.routing.service import RoutingService, Swept

CST = timezone(timedelta(hours=8))
OFFICER = token(Role.OFFICER, subject="officer-li")
SUPERVISOR = token(Role.SUPERVISOR, subject="supervisor-zhao")
SIGNAL_CO = token(Role.DEPARTMENT, "signal-co", subject="signal-desk")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=CST)


async def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()  # type: ignore[no-any-return]


async def entries(http: httpx.AsyncClient, case_id: str, lang: str = "zh-Hans"
                  ) -> list[dict[str, Any]]:
    answer = await http.get(f"/api/cases/{case_id}", params={"lang": lang})
    return answer.json()["timeline"] if answer.status_code == 200 else []


async def until_entry(http: httpx.AsyncClient, case_id: str, kind: str) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        found = await entries(http, case_id)
        return found if any(e["type"] == kind for e in found) else None
    return await eventually(probe, timeout=30, what=f"{case_id}: {kind} on the timeline")


async def a_resolved_case(http: httpx.AsyncClient, clock: ManualClock, street: str
                          ) -> tuple[str, str]:
    """A resident's dark traffic lights, accepted, routed by the rules, resolved on 10-08."""
    clock.set(at(6, 9))
    receipt = await ok(await http.post("/api/cases", json={
        "category": "traffic-signals", "description": f"{street}的红绿灯不亮了。",
        "location": {"district": "zhongyuan", "street": street},
        "attributes": {"signal_state": "dark"}}))
    case_id, code = receipt["case_id"], receipt["tracking_code"]
    await until_entry(http, case_id, "CaseSubmitted")
    clock.set(at(6, 10))
    await ok(await http.post(f"/api/cases/{case_id}/accept", headers=OFFICER, json={}))
    await until_entry(http, case_id, "CaseRouted")
    clock.set(at(8, 11))
    await ok(await http.post(f"/api/cases/{case_id}/resolve", headers=SIGNAL_CO,
                             json={"resolution": "更换了信号控制机"}))
    await until_entry(http, case_id, "CaseResolved")
    return case_id, code


async def figures(http: httpx.AsyncClient, feedback: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        answer = await http.get("/api/stats/summary")
        body = answer.json() if answer.status_code == 200 else None
        return body if body and body.get("feedback") == feedback else None
    return await eventually(probe, timeout=30, what=f"the figures to count {feedback} answers")


async def test_satisfied_is_asked_a_dispute_goes_to_supervision_and_silence_is_not_satisfied(
    settings: CommonSettings,
) -> None:
    clock = ManualClock(at(6, 9))
    services = [build(name, settings, clock) for name in SERVICES]
    routing = next(s for s in services if isinstance(s, RoutingService))
    async with running(*services), client_for(build_app(services, title="zaiban")) as http:
        pleased, pleased_code = await a_resolved_case(http, clock, "沙口路")
        disputed, disputed_code = await a_resolved_case(http, clock, "农业路")
        silent, _ = await a_resolved_case(http, clock, "文化路")

        # an answer must say whether the resident is satisfied: nothing is assumed
        clock.set(at(9, 20))
        refused = await http.post(f"/api/cases/{pleased}/feedback",
                                  headers={"X-Tracking-Code": pleased_code},
                                  json={"fixed": True, "rating": 5})
        assert refused.status_code == 422, refused.text
        assert "satisfied" in refused.json()["error"]
        assert [p["where"] for p in refused.json()["problems"]] == ["body.satisfied"]
        closed = await ok(await http.post(f"/api/cases/{pleased}/feedback",
                                          headers={"X-Tracking-Code": pleased_code},
                                          json={"fixed": True, "satisfied": True, "rating": 5}))
        assert [e["type"] for e in closed["events"]] == ["FeedbackGiven", "CaseClosed"]
        summary = await figures(http, feedback=1)
        assert (summary["satisfied"], summary["satisfaction_rate_pct"]) == (1, 100.0)

        # fixed, but not satisfied: a dispute, with supervision, on the public timeline
        answer = await ok(await http.post(f"/api/cases/{disputed}/feedback",
                                          headers={"X-Tracking-Code": disputed_code},
                                          json={"fixed": True, "satisfied": False, "rating": 2,
                                                "comment": "拖了两天，电话也没人接"}))
        assert [e["type"] for e in answer["events"]] == ["FeedbackGiven", "CaseEscalated"]
        assert answer["facts"]["status"] == "resolved" and answer["facts"]["escalated"]
        public = await until_entry(http, disputed, "CaseEscalated")
        assert [e["text"] for e in public[-2:]] == [
            "市民确认问题已解决，但不满意（2 星）", "转入督办：市民对处理结果有异议"]
        english = [e["text"] for e in (await entries(http, disputed, "en"))[-2:]]
        assert english == ["The resident confirmed the fix but is not satisfied (2/5)",
                           "Escalated to supervision: the resident disputes the result"]
        page = (await http.get(f"/api/cases/{disputed}")).text
        assert "电话也没人接" not in page  # the resident's comment is theirs (and staff's)
        board = await ok(await http.get("/api/staff/cases", headers=SUPERVISOR,
                                        params={"escalated": "true", "open": "true"}))
        [row] = [r for r in board["items"] if r["case_id"] == disputed]
        assert row["disputed"] and row["status"] == "resolved"
        # the dispute counts as not satisfied: one satisfied answer of two
        summary = await figures(http, feedback=2)
        assert (summary["satisfied"], summary["satisfaction_rate_pct"]) == (1, 50.0)
        # the disputed resident cannot answer again; a supervisor rules
        again = await http.post(f"/api/cases/{disputed}/feedback",
                                headers={"X-Tracking-Code": disputed_code},
                                json={"fixed": True, "satisfied": True, "rating": 5})
        assert again.status_code == 409, again.text
        refused = await http.post(f"/api/cases/{disputed}/settle", headers=SIGNAL_CO,
                                  json={"outcome": "closed", "note": "维持"})
        assert refused.status_code == 403
        clock.set(at(10, 9))
        settled = await ok(await http.post(
            f"/api/cases/{disputed}/settle", headers=SUPERVISOR,
            json={"outcome": "closed", "note": "已电话回访，说明了延误原因"}))
        assert [e["type"] for e in settled["events"]] == ["DisputeSettled", "CaseClosed"]
        public = await until_entry(http, disputed, "CaseClosed")
        assert public[-2]["text"] == "督办员复核市民异议，维持办理结果：已电话回访，说明了延误原因"

        # the silent resident: asked once more a week after the resolution, then closed
        clock.set(at(15, 11) - timedelta(seconds=1))
        assert await routing.sweep() == Swept()
        clock.set(at(15, 11))
        await routing.sweep()  # (routing's own sweep, every few seconds, may get there first)
        public = await until_entry(http, silent, "ResidentAskedAgain")
        assert public[-1]["text"] == "已再次请市民评价办理结果（2026-10-18 前未回复将自动结案）"
        clock.set(at(17, 11))
        assert await routing.sweep() == Swept()  # asked once only, and not closed yet
        clock.set(at(18, 11))
        await routing.sweep()
        public = await until_entry(http, silent, "CaseClosed")
        assert [e["type"] for e in public[-3:]] == ["CaseResolved", "ResidentAskedAgain",
                                                    "CaseClosed"]
        assert public[-1]["what"]["reason"] == "no_answer"
        assert await routing.sweep() == Swept()

        # silence is no answer: said beside the rate (closed unanswered), in neither of its
        # counts: still one satisfied of two answers, and every case resolved
        async def closing_counted() -> dict[str, Any] | None:
            body = (await http.get("/api/stats/summary")).json()
            return body if body.get("unanswered") == 1 else None
        summary = await eventually(closing_counted, timeout=30,
                                   what="the figures to count the case closed unanswered")
        assert (summary["feedback"], summary["satisfied"], summary["satisfaction_rate_pct"]) == (
            2, 1, 50.0)
        assert (summary["open"], summary["resolved"]) == (0, 3)
