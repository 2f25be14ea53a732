"""Shared value types: who acted, where, and the public facts of a case."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.text import Code, ShortLine


class CaseStatus(StrEnum):
    """Where a case stands in its life.

    submitted -> accepted -> routed -> acknowledged -> resolved -> closed,
    with the side roads: rejected and merged end a case at triage; a returned
    case with no rule to re-route it is `awaiting_dispatch` until an officer
    routes it by hand; a reopened case is routed again.
    """

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    AWAITING_DISPATCH = "awaiting_dispatch"
    ROUTED = "routed"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"
    MERGED = "merged"

    @property
    def is_open(self) -> bool:
        return self not in {CaseStatus.CLOSED, CaseStatus.REJECTED, CaseStatus.MERGED}


class Role(StrEnum):
    RESIDENT = "resident"
    OFFICER = "officer"
    DEPARTMENT = "department"
    REPORTER = "reporter"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    SYSTEM = "system"


class Channel(StrEnum):
    """How a request reached us."""

    WEB = "web"
    APP = "app"
    HOTLINE = "hotline"
    WEIBO = "weibo"
    WECHAT = "wechat"
    OPEN311 = "open311"
    BUS = "bus"


class Priority(StrEnum):
    """Priority class; each has its own deadline (see routing settings)."""

    EMERGENCY = "emergency"
    UTILITIES = "utilities"
    GENERAL = "general"
    COMPLEX = "complex"

    def raised(self) -> Priority:
        """One class more urgent: used when a resident says a fix did not hold."""
        order = [Priority.COMPLEX, Priority.GENERAL, Priority.UTILITIES, Priority.EMERGENCY]
        return order[min(order.index(self) + 1, len(order) - 1)]


Clock = Literal["triage", "response", "resolution"]
"""The three deadlines of a case: triage (from submission), its department's first response
(签收) and resolution (both from when the case reaches its department)."""
CLOCKS: tuple[Clock, ...] = ("triage", "response", "resolution")


class Actor(BaseModel):
    """Who did something, as the record keeps it: a role, a department, an opaque id.

    Timelines show the role and department only; `staff_id` is for audit.
    """

    model_config = ConfigDict(frozen=True)

    role: Role
    department: str | None = None
    staff_id: str | None = None


SYSTEM = Actor(role=Role.SYSTEM)


class Location(BaseModel):
    """Where the problem is. The exact address may be private (see the catalogue)."""

    model_config = ConfigDict(frozen=True)

    district: Code = Field(description="District code from the city's district list.")
    address: ShortLine = Field(default="", description="Exact address; public only if the category allows.")
    street: ShortLine = Field(default="", description="Street or landmark, shown publicly.")
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)


class CaseFacts(BaseModel):
    """The public dimensions of a case after an event. No personal data lives here."""

    model_config = ConfigDict(frozen=True)

    status: CaseStatus
    category: str
    district: str
    channel: Channel
    priority: Priority
    department: str | None = None
    submitted_at: AwareDatetime
    accepted_at: AwareDatetime | None = None
    routed_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    first_response_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    overdue: bool = False
    escalated: bool = False
    reopened: int = 0
    resolved_on_time: bool | None = None
    merged_into: str | None = None
    triage_due_at: AwareDatetime | None = None
    """When triage is due (recorded at submission); None for cases submitted before."""
    response_due_at: AwareDatetime | None = None
    """When the department's first response (签收) is due (recorded when the case reached
    it); None for cases routed before, or with no department."""
    responded_at: AwareDatetime | None = None
    """The first response of the department the case is with now (`first_response_at` is
    the first of any department's, for the figures)."""
    triage_overdue: bool = False
    """Triage is overdue: cleared when the case is accepted, rejected or merged."""
    response_overdue: bool = False
    """The first response is overdue: cleared when the department responds (`overdue` is
    the resolution's, cleared when the case is resolved)."""


class Handling(BaseModel):
    """Who in the lead department handles a case (承办人): a staff id, the subject of their
    department token, given by the department's coordinator (`HandlerAssigned`) for the
    routing in force. Staff personal data: shown to staff, never to the public."""

    model_config = ConfigDict(frozen=True)

    handler: str
    department: str | None
    routed_at: AwareDatetime | None

    def in_force(self, facts: CaseFacts) -> str | None:
        """The handler while the case stays where it was when they were given it: routed
        again (returned, reassigned, reopened), it waits for its department to assign it."""
        if facts.department == self.department and facts.routed_at == self.routed_at:
            return self.handler
        return None
