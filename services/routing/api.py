"""Routing's HTTP routes: staff commands on a case, and the resident's feedback.

One route per row of the command table (`commands.py`), made by the kit
(`services/common/commands.py`). Each runs its decider against routing's write
model and answers 200 with the events recorded (type, seq, event id) and the
case's facts after them; a refused command answers 403/404/409/422 with
`{"error": reason}` and records nothing (the domain errors are mapped to these
in `services/common/http.py`). Staff send `Authorization: Bearer <token>` (the
roles of each command are `access.ROLES`); a department's token names its
department. The resident sends the case's tracking code in `X-Tracking-Code`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from pydantic import BaseModel

from contracts.envelope import Envelope
from contracts.facts import CaseFacts
from services.common.auth import TokenCheck
from services.common.commands import Desk, Door, routes
from services.routing.commands import COMMANDS

CASE_ID = Path(
    pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$", description="The case number."
)
CORRELATION_ID = Annotated[str | None, Header(
    alias="X-Correlation-Id", max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$",
    description="Ties this request to what it sets off; one is made up when absent.",
)]

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


def command_routes(desk: Desk, tokens: TokenCheck) -> APIRouter:
    async def answer(case_id: str, envelopes: list[Envelope]) -> CommandAnswer:
        if envelopes:
            facts: CaseFacts | None = envelopes[-1].facts
        else:
            case = await desk.cases.get(case_id)
            facts = case.facts if case else None
        return CommandAnswer(
            case_id=case_id,
            events=[RecordedEvent(type=e.type, seq=e.seq, event_id=e.event_id) for e in envelopes],
            facts=facts,
        )

    door = Door(tags=["routing"], answer=answer, case_id=CASE_ID, correlation=CORRELATION_ID,
                responses=ERRORS)
    return routes(COMMANDS, desk, door, tokens)
