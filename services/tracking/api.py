"""The tracking service's HTTP routes: read a case, follow it live, search cases; for admins,
the audit trail of staff reads and taking staff access back.

Residents prove a case is theirs with its tracking code (`X-Tracking-Code`,
or `?code=` on the live stream, since a browser's EventSource cannot send
headers). A wrong code and an unknown case get the same 403, so the private
routes tell nothing the public ones do not. Staff send `Authorization: Bearer`.

Live streams resume after `Last-Event-ID` (what a browser sends when it
reconnects), else `?after=`; the header wins, being the newer of the two.
A code in a URL (`?code=`, `/api/tracking/{code}`) can end up in access logs:
deployments should keep query strings out of them, and clients that can send
headers should use `X-Tracking-Code`.

Merged duplicates: the duplicate keeps its own page, which says
`merged_into`; its resident's private view embeds the original's public view
(`original`), following a chain of merges, and its live stream says
`event: merged` so the client can switch to the original's stream. The
original's private details stay its own resident's.
"""

# No `from __future__ import annotations` here: FastAPI reads the route signatures at
# definition time, and the staff dependency is a local of `install_routes`.

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse

from contracts.facts import CaseStatus, Channel, Role
from contracts.revocations import RevokeTokens, TokenRevoked
from contracts.text import clean_line
from services.common.auth import Principal, TokenCheck, staff_guard
from services.common.bus import RevocationLog
from services.common.catalogue import Language
from services.common.cityconfig import LiveCity
from services.common.clock import Clock, SystemClock
from services.common.commands import Correlation
from services.common.i18n import UnknownLanguage, pick_language
from services.common.keys import KeyStore, open_sealed
from services.common.revocations import revoke
from services.common.rowindex import BadCursor
from services.lifecycle.codes import (
    hash_tracking_code,
    normalise_tracking_code,
    tracking_code_matches,
)
from services.tracking import inbox
from services.tracking.audit import AuditReads, ReadsQuery, StaffReads
from services.tracking.live import Signals, follow
from services.tracking.readers import may_read, sees_contact
from services.tracking.render import (
    present_entry,
    public_view,
    resident_view,
    staff_view,
    summary,
)
from services.tracking.settings import TrackingSettings
from services.tracking.store import CaseQuery, Listed, TimelineStore
from services.tracking.timeline import CaseView, Entry

MAX_PAGE = 100
MAX_OFFSET = 100_000
MAX_MERGE_HOPS = 5
# Compared against when the case does not exist, so a wrong code costs the same either way.
NO_CASE_HASH = "0" * 64

CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
CaseId = Annotated[str, Path(pattern=CASE_ID_PATTERN, description="The case number.")]
Code = Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"At most {MAX_PAGE}.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Statuses = Annotated[list[CaseStatus] | None,
                     Query(description="Repeat to ask for several statuses.")]
After = Annotated[str | None, Query(min_length=1, max_length=400,
                                    description="The `next` of the page before: the page "
                                                "after it, stable while cases change.")]
Day = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$",
                                  description="A city date, YYYY-MM-DD.")]
Text = Annotated[str | None, Query(min_length=1, max_length=100,
                                   description="Words in the description (as the reader "
                                               "sees it), or a case number.")]
LangParam = Annotated[str | None, Query(description="zh-Hans, zh-Hant or en.")]

_CODE_SHAPE = re.compile(r"^[0-9A-Z]{8,32}$")


async def reader_language(lang: LangParam = None,
                          accept_language: Annotated[str | None, Header()] = None) -> Language:
    try:
        return pick_language(lang, accept_language)
    except UnknownLanguage as error:
        raise HTTPException(422, f"lang: {error}") from error


ReaderLanguage = Annotated[Language, Depends(reader_language)]


def checked_text(q: str | None) -> str | None:
    if q is None:
        return None
    try:
        return clean_line(q) or None
    except ValueError as error:
        raise HTTPException(422, f"q: {error}") from error


def page(total: int | None, limit: int, offset: int, items: list[dict[str, Any]], *,
         following: str | None = None, after: str | None = None) -> dict[str, Any]:
    """A page of a list: `next` is the cursor of the page after it (stable while cases
    change: pass it as `after`), `next_offset` the same by position (null when paging by
    cursor)."""
    more = after is None and total is not None and offset + len(items) < total
    return {"total": total, "limit": limit, "offset": offset,
            "next_offset": offset + len(items) if more else None, "next": following,
            "items": items}


def listed_page(listed: Listed, limit: int, offset: int, items: list[dict[str, Any]],
                after: str | None) -> dict[str, Any]:
    return page(listed.total, limit, offset, items, following=listed.next, after=after)


FIRST_DAY, LAST_DAY = date(1970, 1, 2), date(9998, 12, 31)
"""The dates a period may name (beyond them, times no longer convert)."""


def city_day(name: str, text: str | None, tz: ZoneInfo, *, end: bool = False
             ) -> datetime | None:
    """The start of city day `text` (YYYY-MM-DD), or of the day after it (`end`)."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError as error:
        raise HTTPException(422, f"{name}: a city date, YYYY-MM-DD (got {text!r})") from error
    if not FIRST_DAY <= day <= LAST_DAY:
        raise HTTPException(422, f"{name}: a date from {FIRST_DAY} to {LAST_DAY} (got {text})")
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=tz)


@contextmanager
def cursor_checked() -> Iterator[None]:
    """A bad `after` cursor is the client's mistake: 422, naming it."""
    try:
        yield
    except BadCursor as error:
        raise HTTPException(422, f"after: {error}") from error


def install_routes(router: APIRouter, *, store: TimelineStore, city: LiveCity,
                   settings: TrackingSettings, signals: Signals, keys: KeyStore,
                   audit: StaffReads, tokens: TokenCheck, clock: Clock) -> None:
    require = staff_guard(tokens)
    any_staff = require(Role.OFFICER, Role.SUPERVISOR, Role.REPORTER, Role.DEPARTMENT)

    async def known_case(case_id: str) -> CaseView:
        view = await store.get(case_id)
        if view is None:
            raise HTTPException(404, f"case {case_id} not found")
        return view

    async def residents_case(case_id: str, code: str | None) -> CaseView:
        if not code:
            raise HTTPException(401, "send the case's tracking code in the X-Tracking-Code header")
        view = await store.get(case_id)
        matches = tracking_code_matches(code, view.tracking_code_hash if view else NO_CASE_HASH)
        if view is None or not matches:
            raise HTTPException(403, "this tracking code does not open this case")
        return view

    async def original_of(view: CaseView) -> CaseView | None:
        """The case a duplicate was merged into, following merges of merges."""
        seen = {view.case_id}
        current = view
        for _hop in range(MAX_MERGE_HOPS):
            into = current.merged_into
            if not into or into in seen:
                break
            found = await store.get(into)
            if found is None:
                break
            seen.add(into)
            current = found
        return current if current is not view else None

    # -- the public ---------------------------------------------------------------

    @router.get("/api/cases", tags=["tracking"], summary="Search cases (public fields only)")
    async def list_cases(
        language: ReaderLanguage,
        status: Statuses = None,
        category: Code = None,
        district: Code = None,
        department: Code = None,
        q: Text = None,
        since: Annotated[Day, Query(description="Submitted on or after this city date.")
                         ] = None,
        until: Annotated[Day, Query(description="Submitted on or before this city date.")
                         ] = None,
        limit: Limit = 20,
        offset: Offset = 0,
        after: After = None,
    ) -> dict[str, Any]:
        tz = ZoneInfo(city.current.city.timezone)
        query = CaseQuery(statuses=tuple(status or ()), category=category, district=district,
                          department=department, text=checked_text(q), limit=limit,
                          offset=offset, after=after,
                          submitted_from=city_day("since", since, tz),
                          submitted_before=city_day("until", until, tz, end=True))
        with cursor_checked():
            listed = await store.search(query)
        return listed_page(listed, limit, offset,
                    [summary(v, language, city.current) for v in listed.views], after)

    @router.get("/api/cases/{case_id}", tags=["tracking"],
                summary="A case's public timeline (no personal data)")
    async def read_case(case_id: CaseId, language: ReaderLanguage) -> dict[str, Any]:
        return public_view(await known_case(case_id), language, city.current)

    # -- the resident -------------------------------------------------------------

    @router.get("/api/cases/{case_id}/private", tags=["tracking"],
                summary="The resident's view of their case (needs its tracking code)")
    async def read_own_case(
        case_id: CaseId,
        language: ReaderLanguage,
        x_tracking_code: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        view = await residents_case(case_id, x_tracking_code)
        shown = resident_view(view, language, city.current, await open_sealed(keys, view.personal))
        original = await original_of(view)
        shown["original"] = public_view(original, language, city.current) if original else None
        return shown

    @router.get("/api/tracking/{tracking_code}", tags=["tracking"],
                summary="Which case a tracking code opens")
    async def case_of_code(tracking_code: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        normalised = normalise_tracking_code(tracking_code)
        if not _CODE_SHAPE.match(normalised):
            raise HTTPException(422, "tracking_code: letters and digits, as printed on the receipt")
        case_id = await store.case_for_code_hash(hash_tracking_code(normalised))
        if case_id is None:
            raise HTTPException(404, "no case has this tracking code")
        view = await store.get(case_id)
        return {
            "case_id": case_id,
            "merged_into": view.merged_into if view else None,
            "private": f"/api/cases/{case_id}/private",
            "live": f"/api/cases/{case_id}/live",
        }

    @router.get(
        "/api/cases/{case_id}/live", tags=["tracking"],
        summary="Follow a case live (server-sent events)",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}},
                         "description": "`id: <seq>`, `event: entry`, `data: <entry JSON>`"}},
    )
    async def follow_case(
        request: Request,
        case_id: CaseId,
        language: ReaderLanguage,
        after: Annotated[int | None, Query(ge=0, description="Resume after this seq.")] = None,
        code: Annotated[str | None, Query(max_length=64,
                                          description="The tracking code (EventSource).")] = None,
        last_event_id: Annotated[str | None, Header()] = None,
        x_tracking_code: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        resume = after or 0
        if last_event_id is not None and last_event_id.strip():
            if not last_event_id.strip().isdigit():
                raise HTTPException(422, "Last-Event-ID: the seq of the last entry seen, a number")
            resume = int(last_event_id.strip())
        secret_code = x_tracking_code or code
        if secret_code:
            view = await residents_case(case_id, secret_code)
        else:
            view = await known_case(case_id)
        private = bool(secret_code)

        def present(entry: Entry) -> dict[str, Any]:
            return present_entry(entry, language, city.current, private=private)

        stream = follow(
            case_id, resume, initial=view, newer_than=store.newer_than, signals=signals,
            present=present, poll=settings.tracking_live_poll_s,
            heartbeat=settings.tracking_live_heartbeat_s,
            max_age=settings.tracking_live_max_age_s, disconnected=request.is_disconnected,
        )
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    # -- staff --------------------------------------------------------------------

    @router.get("/api/staff/cases", tags=["staff"],
                summary="Staff queries (a department sees only the cases it leads or assists)")
    async def staff_cases(
        language: ReaderLanguage,
        principal: Annotated[Principal, Depends(any_staff)],
        status: Statuses = None,
        department: Code = None,
        district: Code = None,
        category: Code = None,
        channel: Annotated[Channel | None, Query()] = None,
        overdue: Annotated[bool | None, Query(description="Marked overdue (CaseOverdue).")] = None,
        escalated: Annotated[bool | None, Query(description="Under supervision.")] = None,
        disputed: Annotated[bool | None, Query(description="The resident disputes the "
                                                           "resolution; no ruling yet.")
                            ] = None,
        open: Annotated[bool | None, Query(description="Not closed, rejected or merged.")] = None,
        q: Text = None,
        limit: Limit = 20,
        offset: Offset = 0,
        after: After = None,
        mine: Annotated[bool | None, Query(description="My cases: a reporter's (handed to "
                                                       "them), a department handler's.")] = None,
    ) -> dict[str, Any]:
        department, involving = scope_department(principal, department)
        query = CaseQuery(
            statuses=tuple(status or ()), department=department, involving=involving,
            district=district, category=category, channel=channel.value if channel else None,
            overdue=overdue, escalated=escalated, disputed=disputed, open=open,
            text=checked_text(q), staff=True, limit=limit, offset=offset, after=after,
            mine=my_cases(principal) if mine else None,
        )
        with cursor_checked():
            listed = await store.search(query)
        return listed_page(listed, limit, offset,
                    [summary(v, language, city.current, staff=True) for v in listed.views],
                    after)

    @router.get("/api/staff/cases/{case_id}", tags=["staff"],
                summary="A case as staff see it: every entry, internal notes included; "
                        "the resident's contact only for staff who handle it")
    async def staff_case(
        case_id: CaseId,
        language: ReaderLanguage,
        principal: Annotated[Principal, Depends(any_staff)],
        correlation: Correlation = None,
    ) -> dict[str, Any]:
        view = await known_case(case_id)
        reader = principal.actor()
        if not may_read(view, reader):
            raise HTTPException(403, "this case is neither led nor assisted by your department")
        if not sees_contact(view, reader):
            return staff_view(view, language, city.current, withheld=True)
        personal = await open_sealed(keys, view.personal)
        await audit.record(view, reader, personal, route="GET /api/staff/cases/{case_id}",
                           correlation_id=correlation)
        return staff_view(view, language, city.current, personal=personal)

    @router.get("/api/staff/inbox", tags=["staff"],
                summary="A department's inbox: the cases it leads and holds, late first, then "
                        "by the soonest deadline, each with its handler; `mine`: a handler's own")
    async def department_inbox(
        language: ReaderLanguage,
        principal: Annotated[Principal, Depends(require(Role.DEPARTMENT, Role.SUPERVISOR,
                                                        Role.OFFICER))],
        department: Code = None,
        mine: Annotated[bool, Query(description="Only the cases given to me (a handler).")
                        ] = False,
        limit: Limit = 50,
        offset: Offset = 0,
        after: After = None,
    ) -> dict[str, Any]:
        inbox_of, _ = scope_department(principal, department)
        inbox_of = inbox_of or principal.department
        if inbox_of is None:
            raise HTTPException(422, "department: name the department whose inbox to show")
        if mine and principal.role is not Role.DEPARTMENT:
            raise HTTPException(422, "mine: only a department's handlers have cases of their own")
        with cursor_checked():
            listed = await store.inbox(inbox.InboxQuery(
                department=inbox_of, handler=principal.subject if mine else None,
                limit=limit, offset=offset, after=after))
        now = clock.now()
        return listed_page(listed, limit, offset, [
            {**summary(v, language, city.current, staff=True), **inbox.row_fields(v, now)}
            for v in listed.views], after)


def my_cases(principal: Principal) -> dict[str, Any]:
    """The filter of the reader's own cases (`?mine=true`), or 422 for a reader with none."""
    try:
        return inbox.mine(principal.role, principal.subject, principal.department)
    except inbox.NotMine as error:
        raise HTTPException(422, str(error)) from error


def scope_department(principal: Principal, asked: str | None) -> tuple[str | None, str | None]:
    """`(department, involving)` of a staff query: a department's staff see the cases their
    department leads or assists, and ask for no other department's; others see what
    they ask for."""
    if principal.role is not Role.DEPARTMENT:
        return asked, None
    if asked is not None and asked != principal.department:
        raise HTTPException(403, f"department: your token is for {principal.department}; "
                                 f"you can list only its cases")
    return None, principal.department



AUDIT_PARAMETERS = frozenset({"case_id", "staff_id", "limit", "offset"})


def install_audit_routes(router: APIRouter, *, reads: AuditReads, tokens: TokenCheck) -> None:
    """The audit trail, for admins: who among staff read which resident's personal data."""
    admin = staff_guard(tokens)()  # admins alone

    @router.get("/api/admin/audit/reads", tags=["admin"], dependencies=[Depends(admin)],
                summary="Staff reads of residents' personal data, newest first: of a case, "
                        "of a member of staff, or both (admins)")
    async def audit_reads(
        request: Request,
        case_id: Annotated[str | None, Query(pattern=CASE_ID_PATTERN,
                                             description="The reads of this case.")] = None,
        staff_id: Annotated[str | None, Query(min_length=1, max_length=200,
                                              description="The reads by this member of "
                                                          "staff (their token's subject).")
                            ] = None,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        unknown = sorted(set(request.query_params) - AUDIT_PARAMETERS)
        if unknown:
            raise HTTPException(422, f"{unknown[0]}: not a filter of the audit trail; "
                                     "filter by case_id or staff_id")
        try:
            query = ReadsQuery(case_id=case_id, staff_id=staff_id, limit=limit, offset=offset)
        except ValueError as error:
            raise HTTPException(422, str(error)) from error
        total, found = await reads.find(query)
        return page(total, limit, offset, [read.model_dump(mode="json") for read in found])


def install_revocation_routes(router: APIRouter, *, tokens: TokenCheck,
                              log: RevocationLog) -> None:
    """Taking staff access back, for admins: what `zaiban token revoke` does, over HTTP."""
    admin = staff_guard(tokens)()  # admins alone

    @router.post("/api/admin/tokens/revoke", tags=["admin"],
                 summary="Take staff access back: one token by its id, or every token of a "
                         "member of staff (or an Open311 client) issued until now (admins)")
    async def revoke_tokens(asked: RevokeTokens,
                            principal: Annotated[Principal, Depends(admin)]) -> TokenRevoked:
        """Recorded on the revocations topic before the answer; every instance of every
        service refuses the tokens within seconds (401, "this token was revoked")."""
        # the wall clock, as tokens' own times (auth.py), whatever clock the service runs on
        revoked = revoke(asked, by=principal.subject, now=SystemClock().now())
        await log.record(revoked)
        return revoked
