"""What a department's systems receive about its cases: `DepartmentCase`, on its cases topic
(`zaiban.routing.department.<code>.cases`) and, for a department by webhook, POSTed to its URL
as the same JSON. Routing builds them (`services/routing/departments.py`); notify forwards
them to webhooks (`services/notify/webhooks.py`)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts import case_events as ev
from contracts.facts import Location, Priority


class DepartmentCase(BaseModel):
    """A case for a department to act on (or, `withdrawn`, to stop acting on)."""

    model_config = ConfigDict(frozen=True)

    message_id: uuid.UUID = Field(description="The routing event's id; repeats carry the same.")
    action: Literal["assigned", "withdrawn", "erased"]
    role: Literal["lead", "assisting"] = Field(
        description="Lead departments act and answer; assisting ones help."
    )
    reason: Literal["accepted", "returned", "reopened", "manual", "reassigned", "request",
                    "retention"]
    case_id: str
    department: str
    lead_department: str | None = None
    assisting: tuple[str, ...] = ()
    category: str | None = None
    priority: Priority | None = None
    due_at: AwareDatetime | None = None
    occurred_at: AwareDatetime
    description: str | None = None
    location: Location | None = Field(
        default=None, description="Without address and point where the category's are private.")
    personal_data: bool = Field(
        default=False, description="The case has personal data: read it with the department's "
                                   "token at GET /api/staff/cases/{case_id} (each read audited).")
    media: tuple[ev.MediaRef, ...] = ()
    attributes: dict[str, str | tuple[str, ...]] = Field(default_factory=dict)
    reopened: int = 0
    response_due_at: AwareDatetime | None = Field(
        default=None, description="When the lead department's first response (签收: acknowledge, "
                                  "a progress note or the resolution) is due; `due_at` is the "
                                  "resolution's.")
