"""Who may do what: every HTTP endpoint of the public entry × every kind of caller.

The endpoints are read from the app itself, so a new route without a line in
`EXPECTED` fails this test until someone decides who may call it. Each cell is
one real request on the real stack:

- a caller who may not act is refused (401 without credentials, 403 with the
  wrong ones or the wrong department) on a case in a state where the action
  would otherwise be taken, and the log shows the case unchanged afterwards;
- a caller who may act succeeds (2xx), each on a fresh case of its own in the
  state the action needs, so no cell depends on another.

Department B never reads or changes department A's case, and never finds it in
its staff list. A department that assists with a case reads it and notes progress
on it, and a reporter sees the resident's contact only on the cases handed to them
(the story at the end; the matrix's cases have no assisting department).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from helpers import TEST_SECRET, eventually, read_events
from security.public_entry import (
    ADMIN,
    DEPARTMENT_A,
    DEPARTMENT_B,
    DEPT_A,
    DEPT_B,
    OFFICER,
    PNG,
    REPORTER,
    RESIDENT_EMAIL,
    RESIDENT_NAME,
    RESIDENT_PHONE,
    SUBMISSION,
    SUPERVISOR,
    Made,
    case_in,
    cases_in,
    client,
    ok,
    public_entry,
    submit,
    upload_photo,
)
from servicefixtures import token

from contracts.facts import Role
from services.common.auth import issue_token
from services.common.settings import CommonSettings

# --- the callers ------------------------------------------------------------------------

RESIDENT, WRONG_CODE, ANONYMOUS, INTEGRATOR = "resident", "wrong_code", "anonymous", "integrator"
STAFF: dict[str, tuple[Role, dict[str, str]]] = {
    "officer": (Role.OFFICER, OFFICER),
    "dept_a": (Role.DEPARTMENT, DEPARTMENT_A),
    "dept_b": (Role.DEPARTMENT, DEPARTMENT_B),
    "reporter": (Role.REPORTER, REPORTER),
    "supervisor": (Role.SUPERVISOR, SUPERVISOR),
    "admin": (Role.ADMIN, ADMIN),
}
CALLERS = (ANONYMOUS, RESIDENT, WRONG_CODE, *STAFF, INTEGRATOR)
"""Anonymous; the resident with the case's tracking code, and with another case's code;
the staff roles (two departments); an Open311 client holding an API key."""
WITHOUT_TOKEN = frozenset({ANONYMOUS, RESIDENT, WRONG_CODE, INTEGRATOR})
API_KEY = issue_token(TEST_SECRET, "city-app", Role.OFFICER, kind="api_key")


@dataclass(frozen=True)
class Rule:
    """Who may call an endpoint, on a case in which state, and with what request."""

    allowed: frozenset[str]
    denied: Mapping[str, int]
    state: str | None = "routed"
    body: Callable[[Ctx, str], dict[str, Any]] | None = None
    changes: bool = False
    """A command: allowed callers act on fresh cases."""
    share: bool = False
    """The command can be repeated: allowed callers may share one fresh case."""

    def expected(self, caller: str) -> int | str:
        return "2xx" if caller in self.allowed else self.denied[caller]


def public(state: str | None = "routed", **denied: int) -> Rule:
    return Rule(frozenset(c for c in CALLERS if c not in denied), denied, state)


def nobody(status: int, state: str | None = None) -> Rule:
    return Rule(frozenset(), dict.fromkeys(CALLERS, status), state)


def staff(*roles: Role, state: str = "routed", own_department: bool = False,
          body: Callable[[Ctx, str], dict[str, Any]] | None = None, changes: bool = True,
          share: bool = False) -> Rule:
    """Staff holding one of `roles` (an admin may do what any staff may); with
    `own_department`, a department only on the cases it leads (or, where the rules
    allow, assists: see the assisting story at the end)."""
    allowed = {name for name, (role, _) in STAFF.items() if role in {*roles, Role.ADMIN}}
    if own_department:
        allowed.discard("dept_b")
    denied = {c: 401 if c in WITHOUT_TOKEN else 403 for c in CALLERS if c not in allowed}
    return Rule(frozenset(allowed), denied, state, body, changes, share)


def resident(state: str, body: Callable[[Ctx, str], dict[str, Any]] | None = None,
             changes: bool = False) -> Rule:
    denied = {c: 403 if c == WRONG_CODE else 401 for c in CALLERS if c != RESIDENT}
    return Rule(frozenset({RESIDENT}), denied, state, body, changes)


# --- the requests -----------------------------------------------------------------------


@dataclass
class Ctx:
    """The cases and things the cells' requests name."""

    targets: dict[str, Made]  # one shared case per state, for refusals and reads
    other: Made  # another resident's case: its code is the wrong one
    photo: str
    fresh: dict[tuple[str, str, str], Made] = field(default_factory=dict)


def json_body(payload: dict[str, Any]) -> Callable[[Ctx, str], dict[str, Any]]:
    return lambda ctx, caller: {"json": payload}


def open311_form(ctx: Ctx, caller: str) -> dict[str, Any]:
    return {"data": {"service_code": "water", "address_string": "花园路88号",
                     "attribute[district]": "jinshui",
                     "description": "花园路停水两天了，请尽快处理。"}}


def signed_link() -> Rule:
    """A route of a link notify signs and mails: refused (403) to a caller without its
    signature, whatever else they hold."""
    return Rule(frozenset(), dict.fromkeys(CALLERS, 403), None,
                lambda ctx, caller: {"params": {"s": "not-the-links-signature"}})


NOTE = {"note": "维修人员已到现场"}
EXPECTED: dict[tuple[str, str], Rule] = {
    # operations and documentation
    ("GET", "/healthz"): public(None),
    ("GET", "/readyz"): public(None),
    ("GET", "/metrics"): public(None),
    ("GET", "/openapi.json"): public(None),
    ("GET", "/docs"): public(None),
    ("GET", "/docs/oauth2-redirect"): public(None),
    ("GET", "/redoc"): public(None),
    ("GET", "/asyncapi.json"): public(None),
    ("GET", "/asyncapi"): public(None),
    # intake
    ("GET", "/api/catalogue"): public(None),
    ("POST", "/api/cases"): Rule(frozenset(CALLERS), {}, None, json_body(SUBMISSION), True, True),
    ("POST", "/api/media"): Rule(frozenset(CALLERS), {}, None, lambda ctx, caller: {
        "files": {"photo": ("p.png", PNG, "image/png")}}, True, True),
    ("GET", "/media/{media_id}"): public(None),
    ("POST", "/api/hotline/cases"): staff(Role.OFFICER, Role.SUPERVISOR, state="none",
                                          body=json_body(SUBMISSION), share=True),
    ("POST", "/api/cases/{case_id}/accept"): staff(Role.OFFICER, Role.SUPERVISOR,
                                                   state="submitted", body=json_body({})),
    ("POST", "/api/cases/{case_id}/reject"): staff(
        Role.OFFICER, Role.SUPERVISOR, state="submitted", body=json_body({"reason": "不属于受理范围"})),
    ("POST", "/api/cases/{case_id}/merge"): staff(
        Role.OFFICER, Role.SUPERVISOR, state="submitted",
        body=lambda ctx, caller: {"json": {"into_case_id": ctx.other.case_id}}),
    ("GET", "/api/cases/{case_id}/duplicates"): staff(Role.OFFICER, Role.SUPERVISOR,
                                                      changes=False),
    # routing (the roles of services/lifecycle/access.py ROLES)
    ("POST", "/api/cases/{case_id}/route"): staff(
        Role.OFFICER, Role.REPORTER, Role.SUPERVISOR, state="accepted",
        body=json_body({"department": DEPT_A})),
    ("POST", "/api/cases/{case_id}/acknowledge"): staff(
        Role.DEPARTMENT, own_department=True, body=json_body({"note": "已收到"})),
    ("POST", "/api/cases/{case_id}/progress"): staff(
        Role.DEPARTMENT, Role.OFFICER, Role.REPORTER, Role.SUPERVISOR, own_department=True,
        body=json_body(NOTE), share=True),
    ("POST", "/api/cases/{case_id}/return"): staff(
        Role.DEPARTMENT, own_department=True, body=json_body({"reason": "不属于本单位职责"})),
    ("POST", "/api/cases/{case_id}/resolve"): staff(
        Role.DEPARTMENT, Role.REPORTER, Role.SUPERVISOR, own_department=True,
        body=json_body({"resolution": "已恢复供水"})),
    ("POST", "/api/cases/{case_id}/reassign"): staff(
        Role.SUPERVISOR, share=True, body=lambda ctx, caller: {"json": {
            "department": {"supervisor": DEPT_B}.get(caller, "roads-office"),
            "reason": "应由其他单位处理"}}),
    ("POST", "/api/cases/{case_id}/reporter"): staff(
        Role.OFFICER, Role.SUPERVISOR, share=True,
        body=lambda ctx, caller: {"json": {"reporter_id": f"reporter-of-{caller}"}}),
    ("POST", "/api/cases/{case_id}/site-visits"): staff(Role.REPORTER, body=json_body(NOTE),
                                                        share=True),
    ("POST", "/api/cases/{case_id}/stories"): staff(Role.REPORTER, share=True, body=json_body(
        {"title": "花园路为何停水两天？", "url": "https://news.example.org/story"})),
    ("POST", "/api/cases/{case_id}/escalate"): staff(Role.SUPERVISOR, body=json_body(NOTE)),
    ("POST", "/api/cases/{case_id}/settle"): staff(Role.SUPERVISOR, state="disputed", body=json_body(
        {"outcome": "closed", "note": "已回访，维持办理结果"})),
    ("POST", "/api/cases/{case_id}/erase"): resident("routed", changes=True),
    ("POST", "/api/admin/erasures/{case_id}"): staff(),  # admins alone
    ("GET", "/api/admin/erasures/{case_id}"): staff(changes=False),
    ("GET", "/api/bus/submission-key"): public(None),
    ("POST", "/api/cases/{case_id}/feedback"): resident(
        "resolved", json_body({"fixed": True, "satisfied": True, "rating": 5}), changes=True),
    # tracking
    ("GET", "/api/cases"): public(None),
    ("GET", "/api/cases/{case_id}"): public(),
    ("GET", "/api/cases/{case_id}/private"): resident("routed"),
    ("GET", "/api/tracking/{tracking_code}"): public(),
    ("GET", "/api/cases/{case_id}/live"): public(wrong_code=403),  # a code, if sent, must fit
    ("GET", "/api/staff/cases"): staff(Role.OFFICER, Role.SUPERVISOR, Role.REPORTER,
                                       Role.DEPARTMENT, changes=False),
    ("GET", "/api/staff/cases/{case_id}"): staff(Role.OFFICER, Role.SUPERVISOR, Role.REPORTER,
                                                 Role.DEPARTMENT, own_department=True,
                                                 changes=False),
    ("GET", "/api/admin/audit/reads"): staff(changes=False, body=lambda ctx, caller: {
        "params": {"case_id": ctx.targets["routed"].case_id}}),  # admins alone
    ("POST", "/api/admin/tokens/revoke"): staff(state="none", share=True, body=json_body(
        {"subject": "officer-who-left", "reason": "left the team"})),  # admins alone
    # inside a department: its coordinator (none among the matrix's department tokens),
    # supervisors and admins give a case to a handler; the inbox is a department's own
    ("POST", "/api/cases/{case_id}/handler"): staff(
        Role.SUPERVISOR, share=True,
        body=lambda ctx, caller: {"json": {"handler": f"handler-of-{caller}"}}),
    ("GET", "/api/staff/inbox"): staff(
        Role.DEPARTMENT, Role.SUPERVISOR, Role.OFFICER, own_department=True, changes=False,
        body=lambda ctx, caller: {"params": {"department": DEPT_A}}),
    # the maps: the public one is public; staff see their open cases
    ("GET", "/api/cases/map"): public(None),
    ("GET", "/api/staff/cases/map"): staff(Role.OFFICER, Role.SUPERVISOR, Role.REPORTER,
                                           Role.DEPARTMENT, changes=False),
    ("GET", "/static/vendor/{package}/{path:path}"): public(None),
    # the city's configuration: admins alone read and change it; a change against a version
    # that is not the current one changes nothing (409), so the matrix leaves the city as it is
    ("GET", "/api/admin/city"): staff(changes=False),
    ("GET", "/api/admin/city/history"): staff(changes=False),
    ("PUT", "/api/admin/city/{section}/{item_code}"): Rule(
        frozenset(), {**staff().denied, "admin": 409}, None, json_body(
            {"expected_version": 999, "item": {"code": "jinshui", "names": {
                "zh-Hans": "金水区", "zh-Hant": "金水區", "en": "Jinshui"},
                "center": [34.8, 113.66]}})),
    ("DELETE", "/api/admin/city/{section}/{item_code}"): Rule(
        frozenset(), {**staff().denied, "admin": 409}, None,
        lambda ctx, caller: {"params": {"expected_version": 999}}),
    # Open311 GeoReport v2: reads are public; a POST needs an API key (403 without, per spec)
    ("GET", "/open311/v2/discovery.{fmt}"): public(None),
    ("GET", "/open311/v2/services.{fmt}"): public(None),
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): public(None),
    ("POST", "/open311/v2/requests.{fmt}"): Rule(
        frozenset({INTEGRATOR}), {c: 403 for c in CALLERS if c != INTEGRATOR}, None,
        open311_form, True, True),
    ("GET", "/open311/v2/requests.{fmt}"): public(None),
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): public(),
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): nobody(404),  # requests are answered at once
    # the Atom feeds: public, like the list they follow
    ("GET", "/feeds/{kind}.atom"): public(None),
    ("GET", "/feeds/{scope}/{code}/{kind}.atom"): public(None),
    # open data: the public case list as CSV (tracking)
    ("GET", "/open-data/cases.csv"): public(None),
    # notify: a signed link's page and click belong to whoever holds the link (no caller here
    # does: a wrong signature is refused); anyone may ask for area alerts (mailed to confirm)
    ("GET", "/notify/stop/{case_id}"): signed_link(),
    ("POST", "/notify/stop/{case_id}"): signed_link(),
    ("GET", "/notify/subscriptions/{subscription_id}/confirm"): signed_link(),
    ("POST", "/notify/subscriptions/{subscription_id}/confirm"): signed_link(),
    ("GET", "/notify/subscriptions/{subscription_id}/stop"): signed_link(),
    ("POST", "/notify/subscriptions/{subscription_id}/stop"): signed_link(),
    # notify: departments' webhooks that fail, for supervisors (and admins)
    ("GET", "/api/admin/webhooks"): staff(Role.SUPERVISOR, changes=False),
    ("POST", "/api/notify/subscriptions"): Rule(  # anyone; here no mail goes, so 503
        frozenset(), dict.fromkeys(CALLERS, 503), None,
        json_body({"email": "follower@example.net", "district": "jinshui"})),
    # web pages: the pages hold no data; they call the APIs above as whoever signs in
    ("GET", "/"): public(None),
    ("GET", "/cases"): public(None),
    ("GET", "/cases/{case_id}"): public(),
    ("GET", "/track"): public(None),
    ("GET", "/staff"): public(None),
    ("GET", "/dashboard"): public(None),
    ("GET", "/static/{name}"): public(None),
    ("GET", "/open-data"): public(None),
    # open data: the public history, line by line (its streams end after a while here)
    ("GET", "/open-data/events.ndjson"): public(None),
    ("GET", "/open-data/events.sse"): public(None),
    ("GET", "/open-data/days.json"): public(None),
    # the platform here has published no day yet: 404 for every caller alike, token or not
    # (a published day's file is public: tests/integration/opendata)
    ("GET", "/open-data/days/{day}.ndjson.gz"): nobody(404),
}
PUBLIC_PREFIXES = {("GET", "/api/stats"): public(None)}
"""The statistics are the public's (the dashboard): every GET under /api/stats."""


def expectation(method: str, path: str) -> Rule | None:
    if (method, path) in EXPECTED:
        return EXPECTED[(method, path)]
    for (prefix_method, prefix), rule in PUBLIC_PREFIXES.items():
        if method == prefix_method and path.startswith(prefix + "/"):
            return rule
    return None


def endpoints(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for route in iter_route_contexts(app.routes):
        for method in sorted(route.methods or ()):
            if method != "HEAD" and route.path is not None:
                found.append((method, route.path))
    return found


# --- one cell -------------------------------------------------------------------------


def headers_of(caller: str, case: Made | None, ctx: Ctx) -> dict[str, str]:
    if caller in STAFF:
        return dict(STAFF[caller][1])
    if caller == RESIDENT:
        return {"X-Tracking-Code": case.code if case else ctx.other.code}
    if caller == WRONG_CODE:
        return {"X-Tracking-Code": ctx.other.code}
    return {}


def url_of(path: str, case: Made | None, ctx: Ctx) -> str:
    named = case or ctx.targets["routed"]
    values = {"case_id": named.case_id, "service_request_id": named.case_id,
              "tracking_code": named.code, "media_id": ctx.photo, "fmt": "json",
              "service_code": "water", "token": "no-such-token", "name": "app.js",
              "dimension": "department", "kind": "new", "scope": "districts",
              "code": "jinshui", "subscription_id": "0" * 32, "section": "districts",
              "day": "2026-11-29",
              "item_code": "jinshui", "package": "leaflet", "path": "leaflet.js"}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"{path}: no value for the path parameter {name!r}"
        return values[name]

    return re.sub(r"\{(\w+)(?::\w+)?\}", fill, path)


async def call(http: httpx.AsyncClient, method: str, path: str, rule: Rule, caller: str,
               case: Made | None, ctx: Ctx) -> httpx.Response:
    kwargs = rule.body(ctx, caller) if rule.body else {}
    if caller == INTEGRATOR and "open311" in path:
        kwargs["params"] = {**kwargs.get("params", {}), "api_key": API_KEY}
    return await http.request(method, url_of(path, case, ctx), headers=headers_of(caller, case, ctx),
                              **kwargs)


def verdict(status: int, expected: int | str) -> bool:
    return 200 <= status < 300 if expected == "2xx" else status == expected


# --- the matrix --------------------------------------------------------------------------


async def test_every_endpoint_answers_every_kind_of_caller_as_expected(
        settings: CommonSettings) -> None:
    async with public_entry(settings) as app, client(app) as http:
        cells = endpoints(app)
        missing = [f"{m} {p}" for m, p in cells if expectation(m, p) is None]
        assert not missing, ("routes nobody has decided who may call; add them to EXPECTED: "
                             + ", ".join(missing))

        states = ["submitted", "accepted", "routed", "resolved", "disputed"]
        *shared, other = await cases_in(http, [*states, "routed"])
        ctx = Ctx(targets=dict(zip(states, shared, strict=True)), other=other,
                  photo=await upload_photo(http))
        rules = {(m, p): rule for m, p in cells if (rule := expectation(m, p)) is not None}

        # 1. refusals (and reads), all on the shared cases, which must stay as they were
        before = await read_events(settings, min_count=len(states))
        first: list[tuple[str, str, str, Rule]] = [
            (m, p, caller, rule) for (m, p), rule in rules.items()
            for caller in CALLERS if not (rule.changes and caller in rule.allowed)]
        answers = await asyncio.gather(*(
            call(http, m, p, rule, caller, ctx.targets.get(rule.state or ""), ctx)
            for m, p, caller, rule in first))
        wrong = [f"{m} {p} as {caller}: expected {rule.expected(caller)}, got "
                 f"{a.status_code} {a.text[:160]}"
                 for (m, p, caller, rule), a in zip(first, answers, strict=True)
                 if not verdict(a.status_code, rule.expected(caller))]
        assert not wrong, "\n".join(wrong)
        after = await read_events(settings, min_count=len(before))
        touched = {e.case_id for e in after} - {e.case_id for e in before}
        assert [e.event_id for e in after if e.case_id not in touched] == \
            [e.event_id for e in before], "a refused or read-only call changed a case"

        # department B never finds department A's case among its own (those it leads or assists)
        theirs = await http.get("/api/staff/cases", headers=DEPARTMENT_B, params={"limit": 100})
        assert theirs.status_code == 200
        assert all(item["department"]["code"] == DEPT_B
                   or DEPT_B in {a["code"] for a in item["assisting"]}
                   for item in theirs.json()["items"])
        assert ctx.targets["routed"].case_id not in {i["case_id"] for i in theirs.json()["items"]}
        assert (await http.get("/api/staff/cases", headers=DEPARTMENT_B,
                               params={"department": DEPT_A})).status_code == 403

        # 2. the allowed commands, each on a fresh case in the state it needs
        commands = [(m, p, caller, rule) for (m, p), rule in rules.items()
                    if rule.changes for caller in sorted(rule.allowed)]
        needed = [(m, p, "shared" if rule.share else caller) for m, p, caller, rule in commands
                  if rule.state in states]
        fresh_keys = list(dict.fromkeys(needed))
        made = await cases_in(http, [rules[(m, p)].state or "" for m, p, _ in fresh_keys])
        ctx.fresh = dict(zip(fresh_keys, made, strict=True))

        def case_for(m: str, p: str, caller: str, rule: Rule) -> Made | None:
            if rule.state not in states:
                return None
            return ctx.fresh[(m, p, "shared" if rule.share else caller)]

        # shared cases take their callers one after the other; the rest go at once
        async def run(group: list[tuple[str, str, str, Rule]]) -> list[httpx.Response]:
            return [await call(http, m, p, rule, caller, case_for(m, p, caller, rule), ctx)
                    for m, p, caller, rule in group]

        groups: dict[tuple[str, str, str], list[tuple[str, str, str, Rule]]] = {}
        for m, p, caller, rule in commands:
            groups.setdefault((m, p, "shared" if rule.share else caller), []).append(
                (m, p, caller, rule))
        results = await asyncio.gather(*(run(group) for group in groups.values()))
        wrong = [f"{m} {p} as {caller}: expected 2xx, got {a.status_code} {a.text[:160]}"
                 for group, answers in zip(groups.values(), results, strict=True)
                 for (m, p, caller, _rule), a in zip(group, answers, strict=True)
                 if not 200 <= a.status_code < 300]
        assert not wrong, "\n".join(wrong)

    size = len(cells) * len(CALLERS)
    outcomes = Counter(str(rules[cell].expected(c)) for cell in cells for c in CALLERS)
    print(f"\naccess matrix: {len(cells)} endpoints x {len(CALLERS)} callers = {size} cells "
          f"{dict(outcomes)}; fresh cases for allowed commands: {len(fresh_keys)}")


async def test_department_b_can_neither_read_nor_change_department_a_s_case(
        settings: CommonSettings) -> None:
    """The story the matrix checks cell by cell, told once from start to end."""
    async with public_entry(settings) as app, client(app) as http:
        theirs = await case_in(http, "routed")
        case = f"/api/cases/{theirs.case_id}"
        events = len(await read_events(settings, case_id=theirs.case_id, min_count=3))
        tries = [
            http.get(f"/api/staff/cases/{theirs.case_id}", headers=DEPARTMENT_B),
            http.post(f"{case}/acknowledge", headers=DEPARTMENT_B, json={}),
            http.post(f"{case}/progress", headers=DEPARTMENT_B, json=NOTE),
            http.post(f"{case}/return", headers=DEPARTMENT_B, json={"reason": "不是我们的"}),
            http.post(f"{case}/resolve", headers=DEPARTMENT_B, json={"resolution": "已处理"}),
            http.post(f"{case}/reassign", headers=DEPARTMENT_B,
                      json={"department": DEPT_B, "reason": "我们接了"}),
        ]
        assert [a.status_code for a in await asyncio.gather(*tries)] == [403] * 6
        listed = (await http.get("/api/staff/cases", headers=DEPARTMENT_B)).json()
        assert theirs.case_id not in {item["case_id"] for item in listed["items"]}
        assert len(await read_events(settings, case_id=theirs.case_id)) == events
        # while their own department may
        mine = await http.post(f"{case}/acknowledge", headers=DEPARTMENT_A, json={})
        assert mine.status_code == 200, mine.text


HEATING_CO, HOUSING = "heating-co", "housing"
LEAD = token(Role.DEPARTMENT, HEATING_CO, subject="heating-desk")
ASSISTING = token(Role.DEPARTMENT, HOUSING, subject="housing-desk")
OTHER_REPORTER = token(Role.REPORTER, subject="reporter-wang")
CONTACT = (RESIDENT_NAME, RESIDENT_PHONE, RESIDENT_EMAIL)


async def test_an_assisting_department_reads_and_helps_and_only_its_reporter_sees_the_contact(
        settings: CommonSettings) -> None:
    """Given a heating case handed to reporter Zhang and routed by the rules to the heating
    company (lead) with the housing bureau assisting: Zhang sees the resident's contact,
    reporter Wang reads the case without it; housing reads it, lists it and notes progress,
    but only the lead acknowledges, returns or resolves; the water company gets 403."""
    async with public_entry(settings) as app, client(app) as http:
        made = await submit(http, category="heating")
        case = f"/api/cases/{made.case_id}"
        staff_case = f"/api/staff/cases/{made.case_id}"
        await ok(await http.post(f"{case}/accept", headers=OFFICER,
                                 json={"reporter_id": "reporter-zhang"}))

        async def handed_over() -> bool:  # routing's reaction to the acceptance is recorded
            answer = await http.get(staff_case, headers=OFFICER)
            return answer.status_code == 200 and answer.json()["seq"] >= 3

        await eventually(handed_over, timeout=60, every=0.3, what="the reporter to take it")
        routed = await ok(await http.post(f"{case}/route", headers=REPORTER, json={}))
        assert routed["facts"]["department"] == HEATING_CO

        async def assisted() -> bool:  # tracking has projected the routing
            answer = await http.get(staff_case, headers=ASSISTING)
            return answer.status_code == 200 and answer.json()["status"] == "routed"

        await eventually(assisted, timeout=60, every=0.3, what="tracking to show the routing")

        # reading: who sees the case, who sees the resident's contact
        answers = dict(zip(
            ["zhang", "wang", "lead", "assisting", "water", "officer"],
            await asyncio.gather(*(http.get(staff_case, headers=headers) for headers in (
                REPORTER, OTHER_REPORTER, LEAD, ASSISTING, DEPARTMENT_A, OFFICER))),
            strict=True))
        assert {who: a.status_code for who, a in answers.items()} == {
            "zhang": 200, "wang": 200, "lead": 200, "assisting": 200, "water": 403,
            "officer": 200}
        for who in ("zhang", "lead", "assisting", "officer"):
            assert answers[who].json()["contact"]["phone"] == RESIDENT_PHONE, who
        wang = answers["wang"].json()
        assert wang["contact"] is None and wang["contact_withheld"] is True
        assert not [p for p in CONTACT if p in answers["wang"].text]
        assert [e["seq"] for e in wang["timeline"]] == \
            [e["seq"] for e in answers["zhang"].json()["timeline"]]
        assert [a["code"] for a in answers["assisting"].json()["assisting"]] == [HOUSING]

        # listing: the assisting department finds it among its own; the water company does not
        listed = {who: {i["case_id"] for i in (await ok(await http.get(
            "/api/staff/cases", headers=headers, params={"q": made.case_id})))["items"]}
            for who, headers in (("assisting", ASSISTING), ("water", DEPARTMENT_A))}
        assert listed == {"assisting": {made.case_id}, "water": set()}

        # acting: the assisting department notes progress; the lead's steps stay the lead's
        events = len(await read_events(settings, case_id=made.case_id, min_count=4))
        tries = [
            http.post(f"{case}/acknowledge", headers=ASSISTING, json={}),
            http.post(f"{case}/return", headers=ASSISTING, json={"reason": "不是我们的"}),
            http.post(f"{case}/resolve", headers=ASSISTING, json={"resolution": "已处理"}),
            http.post(f"{case}/progress", headers=DEPARTMENT_A, json=NOTE),
        ]
        assert [a.status_code for a in await asyncio.gather(*tries)] == [403] * 4
        assert len(await read_events(settings, case_id=made.case_id)) == events
        helped = await http.post(f"{case}/progress", headers=ASSISTING,
                                 json={"note": "已协调物业检查楼内管道", "public": False})
        assert helped.status_code == 200, helped.text
        assert [e["type"] for e in helped.json()["events"]] == ["ProgressNoted"]
        lead = await http.post(f"{case}/acknowledge", headers=LEAD, json={})
        assert lead.status_code == 200, lead.text
