"""Routing's HTTP routes: staff commands on a case, and the resident's feedback.

Every route runs one decider of the lifecycle (`services/lifecycle/`) against
routing's write model and answers 200 with the events recorded (type, seq,
event id) and the case's facts after them; a refused command answers
403/404/409/422 with `{"error": reason}` and records nothing (the domain
errors are mapped to these in `services/common/http.py`). Staff send `Authorization: Bearer
<token>` (the roles of each command are `access.ROLES`); a department's
token names its department. The resident sends the case's tracking code in
`X-Tracking-Code`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Header, HTTPException, Path, Request
from pydantic import BaseModel, SecretStr

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import Actor, CaseFacts, Role
from services.common.auth import Principal, staff_guard
from services.lifecycle import (
    access,
    dispatching,
    feedback,
    handling,
    reporting,
    returning,
    supervision,
)
from services.lifecycle.case import Case, new_command_id
from services.lifecycle.policy import Policy

if TYPE_CHECKING:
    from services.routing.service import RoutingService

CASE_ID = Path(
    pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$", description="The case number."
)
CORRELATION_ID = Header(
    default=None, alias="X-Correlation-Id", max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$",
    description="Ties this request to what it sets off; one is made up when absent.",
)
TRACKING_CODE = Header(
    default=None, alias="X-Tracking-Code", max_length=40,
    description="The case's private tracking code, given to the resident at submission.",
)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid staff token (or no tracking code)."},
    403: {"description": "This role or department may not do this to this case."},
    404: {"description": "No such case."},
    409: {"description": "The case is not in a state that allows this."},
    422: {"description": "The body is invalid, or names an unknown department."},
}


class RecordedEvent(BaseModel):
    type: str
    seq: int
    event_id: uuid.UUID


class CommandAnswer(BaseModel):
    """What a command recorded, and where the case stands now."""

    case_id: str
    events: list[RecordedEvent]
    facts: CaseFacts | None


Decide = Callable[[Case, datetime, Policy], list[ev.CaseEvent]]


def install_routes(service: RoutingService) -> None:
    router = service.router
    guard = staff_guard(lambda request: _secret(service, request))

    needs = {command: Depends(guard(*roles)) for command, roles in access.ROLES.items()
             if Role.RESIDENT not in roles}
    """The staff roles each command needs, as FastAPI dependencies giving the `Principal`."""

    async def run(case_id: str, decide: Decide, correlation_id: str | None) -> CommandAnswer:
        command_id = new_command_id()
        envelopes = await service.command(
            case_id, decide, cause=command_id, correlation_id=correlation_id or command_id
        )
        if envelopes:
            facts: CaseFacts | None = envelopes[-1].facts
        else:
            case = await service.streams.get(case_id)
            facts = case.facts if case else None
        return CommandAnswer(
            case_id=case_id,
            events=[RecordedEvent(type=e.type, seq=e.seq, event_id=e.event_id) for e in envelopes],
            facts=facts,
        )

    tags: list[str | Enum] = ["routing"]

    @router.post("/api/cases/{case_id}/route", tags=tags, responses=ERRORS,
                 summary="Route a case to a department: the one named, or by the dispatch rules")
    async def route_case(
        body: cmd.RouteCase, case_id: str = CASE_ID, who: Principal = needs[cmd.RouteCase],
        correlation_id: str | None = CORRELATION_ID,
    ) -> CommandAnswer:
        actor = who.actor()
        return await run(
            case_id, lambda c, now, p: dispatching.route(c, body, actor, now, p), correlation_id
        )

    @router.post("/api/cases/{case_id}/acknowledge", tags=tags, responses=ERRORS,
                 summary="The department confirms it has the case")
    async def acknowledge_case(
        body: cmd.AcknowledgeCase | None = None, case_id: str = CASE_ID,
        who: Principal = needs[cmd.AcknowledgeCase], correlation_id: str | None = CORRELATION_ID,
    ) -> CommandAnswer:
        actor, command = who.actor(), body or cmd.AcknowledgeCase()
        return await run(
            case_id, lambda c, now, p: handling.acknowledge(c, command, actor, now, p),
            correlation_id,
        )

    @router.post("/api/cases/{case_id}/progress", tags=tags, responses=ERRORS,
                 summary="Note progress (public notes reach the resident)")
    async def note_progress(
        body: cmd.NoteProgress, case_id: str = CASE_ID, who: Principal = needs[cmd.NoteProgress],
        correlation_id: str | None = CORRELATION_ID,
    ) -> CommandAnswer:
        actor = who.actor()
        return await run(
            case_id, lambda c, now, p: handling.note_progress(c, body, actor, now, p),
            correlation_id,
        )

    @router.post("/api/cases/{case_id}/return", tags=tags, responses=ERRORS,
                 summary="The department returns a case that is not theirs; it is re-routed")
    async def return_case(
        body: cmd.ReturnCase, case_id: str = CASE_ID, who: Principal = needs[cmd.ReturnCase],
        correlation_id: str | None = CORRELATION_ID,
    ) -> CommandAnswer:
        actor = who.actor()
        return await run(
            case_id, lambda c, now, p: returning.return_case(c, body, actor, now, p),
            correlation_id,
        )

    @router.post("/api/cases/{case_id}/resolve", tags=tags, responses=ERRORS,
                 summary="Report the problem fixed, with a resolution note")
    async def resolve_case(
        body: cmd.ResolveCase, case_id: str = CASE_ID, who: Principal = needs[cmd.ResolveCase],
        correlation_id: str | None = CORRELATION_ID,
    ) -> CommandAnswer:
        actor = who.actor()
        return await run(
            case_id, lambda c, now, p: handling.resolve(c, body, actor, now, p), correlation_id
        )

    @router.post("/api/cases/{case_id}/reassign", tags=tags, responses=ERRORS,
                 summary="A supervisor moves the case to another department")
    async def reassign_case(
        body: cmd.ReassignCase, case_id: str = CASE_ID, who: Principal = needs[cmd.ReassignCase],
        correlation_id: str | None = CORRELATION_ID,
    ) -> CommandAnswer:
        actor = who.actor()
        return await run(
            case_id, lambda c, now, p: dispatching.reassign(c, body, actor, now, p), correlation_id
        )

    @router.post("/api/cases/{case_id}/reporter", tags=tags, responses=ERRORS,
                 summary="Assign a reporter to follow the case in the field")
    async def assign_reporter(
        body: cmd.AssignReporter, case_id: str = CASE_ID,
        who: Principal = needs[cmd.AssignReporter], correlation_id: str | None = CORRELATION_ID,
    ) -> CommandAnswer:
        actor = who.actor()
        return await run(
            case_id, lambda c, now, p: reporting.assign_reporter(c, body, actor, now, p),
            correlation_id,
        )

    @router.post("/api/cases/{case_id}/site-visits", tags=tags, responses=ERRORS,
                 summary="A reporter records a visit to the place")
    async def record_site_visit(
        body: cmd.RecordSiteVisit, case_id: str = CASE_ID,
        who: Principal = needs[cmd.RecordSiteVisit], correlation_id: str | None = CORRELATION_ID,
    ) -> CommandAnswer:
        actor = who.actor()
        return await run(
            case_id, lambda c, now, p: reporting.record_site_visit(c, body, actor, now, p),
            correlation_id,
        )

    @router.post("/api/cases/{case_id}/stories", tags=tags, responses=ERRORS,
                 summary="Link a published story (title, URL) to the case")
    async def link_story(
        body: cmd.LinkStory, case_id: str = CASE_ID, who: Principal = needs[cmd.LinkStory],
        correlation_id: str | None = CORRELATION_ID,
    ) -> CommandAnswer:
        actor = who.actor()
        return await run(
            case_id, lambda c, now, p: reporting.link_story(c, body, actor, now, p),
            correlation_id,
        )

    @router.post("/api/cases/{case_id}/escalate", tags=tags, responses=ERRORS,
                 summary="Take the case under supervision (督辦)")
    async def escalate_case(
        body: cmd.EscalateCase | None = None, case_id: str = CASE_ID,
        who: Principal = needs[cmd.EscalateCase], correlation_id: str | None = CORRELATION_ID,
    ) -> CommandAnswer:
        actor, command = who.actor(), body or cmd.EscalateCase()
        return await run(
            case_id, lambda c, now, p: supervision.escalate(c, command, actor, now, p),
            correlation_id,
        )

    @router.post("/api/cases/{case_id}/feedback", tags=tags, responses=ERRORS,
                 summary="The resident confirms the fix, or says it is not fixed (reopens it)")
    async def give_feedback(
        body: cmd.GiveFeedback, case_id: str = CASE_ID,
        tracking_code: str | None = TRACKING_CODE, correlation_id: str | None = CORRELATION_ID,
    ) -> CommandAnswer:
        if not tracking_code:
            raise HTTPException(401, "send the case's tracking code in the X-Tracking-Code header")
        resident = Actor(role=Role.RESIDENT)
        return await run(
            case_id,
            lambda c, now, p: feedback.give_feedback(
                c, body, resident, now, p, tracking_code=tracking_code
            ),
            correlation_id,
        )


def _secret(service: RoutingService, request: Request) -> SecretStr:
    return service.settings.secret()
