"""Every event in the life of a case, named in the past tense.

Each class is one event type at its current schema version (`VERSION`). The
envelope (`contracts.envelope.Envelope`) carries the ids, times and order;
these classes carry only what the event itself says. Older versions stay
readable through the upcasters in `contracts.registry`.

Personal data of residents appears in exactly one place, sealed:
`CaseSubmitted.personal` (`contracts/personal.py`), encrypted with the case's
own key. Nothing else an event carries identifies a resident; free texts are
masked where the public reads them (`services/common/masking.py`).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field

from contracts.facts import Actor, Channel, Clock, Location, Priority
from contracts.personal import ResidentContact, Sealed
from contracts.text import Code, Description, Note, Reason, ShortLine, Title, Url

__all__ = ["ResidentContact"]  # read from here by commands and consumers since v1


class CaseEvent(BaseModel):
    """Base of all case events."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1


class MediaRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    url: Url
    content_type: ShortLine = Field(default="", max_length=100)
    size: int | None = Field(default=None, ge=0)


# --- triage (intake) -------------------------------------------------------


class CaseSubmitted(CaseEvent):
    """A resident's request was taken in and given a case number.

    v2 sealed the personal data (`personal`): the contact, a private address and
    point, the description as written when it names a detail. The clear
    `location` then has no address and no point, and the clear `description` is
    masked. v1 carried the contact in clear; a v1 event reads as v2 without it.
    v3 added `triage_due_at`; a v2 event reads as v3 without a triage deadline.
    """

    TYPE: ClassVar[str] = "CaseSubmitted"
    VERSION: ClassVar[int] = 3

    category: Code
    description: Description
    location: Location
    channel: Channel
    priority: Priority = Field(description="The category's priority class from the catalogue.")
    personal: Sealed | None = Field(
        default=None, description="The resident's personal data, encrypted with the case's key.")
    tracking_code_hash: str = Field(description="sha256 of the private tracking code, hex.")
    media: tuple[MediaRef, ...] = ()
    attributes: dict[str, str | tuple[str, ...]] = Field(default_factory=dict)
    language: Literal["zh-Hans", "zh-Hant", "en"] = "zh-Hans"
    entered_by: Actor | None = Field(
        default=None, description="The officer who entered it (hotline), if not the resident."
    )
    external_ref: ShortLine = Field(default="", description="Id in the source channel, if any.")
    triage_due_at: AwareDatetime | None = Field(
        default=None, description="When triage is due, by the time limits in force at submission.")


class CaseAccepted(CaseEvent):
    """An information officer (信息員) accepted the case, possibly correcting it."""

    TYPE: ClassVar[str] = "CaseAccepted"

    officer: Actor
    category: Code
    district: Code
    priority: Priority
    corrected: dict[str, str] = Field(
        default_factory=dict, description="Previous values of the fields the officer changed."
    )
    reporter_id: str | None = Field(
        default=None, description="A reporter takes it first (newsroom handling) instead of dispatch."
    )
    note: Note | None = None


class CaseRejected(CaseEvent):
    """The case was refused at triage; the resident sees the reason."""

    TYPE: ClassVar[str] = "CaseRejected"

    officer: Actor
    reason: Reason


class CaseMerged(CaseEvent):
    """The case duplicates another; its resident now follows the original."""

    TYPE: ClassVar[str] = "CaseMerged"

    officer: Actor
    into_case_id: str


# --- routing and handling (routing) ---------------------------------------


class CaseRouted(CaseEvent):
    """The case was sent to the department that must handle it, with a deadline.

    v2 added `assisting` (departments that help the lead one); v1 events read
    as v2 with none. v3 added `response_due_at` (the first response's deadline, 签收;
    `due_at` is the resolution's); a v2 event reads as v3 without one.
    """

    TYPE: ClassVar[str] = "CaseRouted"
    VERSION: ClassVar[int] = 3

    department: Code
    assisting: tuple[str, ...] = ()
    due_at: AwareDatetime
    priority: Priority
    rule: str = Field(description="The dispatch rule that matched, or 'manual'.")
    reason: Literal["accepted", "returned", "reopened", "manual"] = "accepted"
    by: Actor
    response_due_at: AwareDatetime | None = Field(
        default=None, description="When the department's first response (签收) is due.")
    config_version: int | None = Field(
        default=None, description="The version of the city's configuration the case was "
                                  "routed by (its rule and deadline); none before versions "
                                  "were recorded.")


class CaseAcknowledged(CaseEvent):
    """The department confirmed it has the case (first response)."""

    TYPE: ClassVar[str] = "CaseAcknowledged"

    by: Actor
    note: Note | None = None


class CaseReturned(CaseEvent):
    """The department says the case is not theirs."""

    TYPE: ClassVar[str] = "CaseReturned"

    by: Actor
    reason: Reason


class CaseReassigned(CaseEvent):
    """A supervisor moved the case to another department.

    v2 added `response_due_at`; a v1 event reads as v2 without one."""

    TYPE: ClassVar[str] = "CaseReassigned"
    VERSION: ClassVar[int] = 2

    by: Actor
    from_department: str | None
    to_department: Code
    due_at: AwareDatetime
    reason: Reason
    response_due_at: AwareDatetime | None = Field(
        default=None, description="When the department's first response (签收) is due.")


class ProgressNoted(CaseEvent):
    """Someone handling the case reported progress; public notes reach the resident."""

    TYPE: ClassVar[str] = "ProgressNoted"

    by: Actor
    note: Note
    public: bool = True


class SiteVisited(CaseEvent):
    """A reporter (記者) went to the place."""

    TYPE: ClassVar[str] = "SiteVisited"

    by: Actor
    note: Note
    public: bool = True


class StoryPublished(CaseEvent):
    """A story about the case was published (幫打聽 inquiry or 鄭在督辦 supervision column)."""

    TYPE: ClassVar[str] = "StoryPublished"

    by: Actor
    title: Title
    url: AnyHttpUrl
    column: Literal["inquiry", "supervision", "news"] = "news"


class ReporterAssigned(CaseEvent):
    """A reporter now follows the case in the field."""

    TYPE: ClassVar[str] = "ReporterAssigned"

    by: Actor
    reporter_id: str


class CaseOverdue(CaseEvent):
    """A deadline passed with the case still not past that step: triage, the department's
    first response (签收) or, as in v1 (which reads as v2 so), resolution."""

    TYPE: ClassVar[str] = "CaseOverdue"
    VERSION: ClassVar[int] = 2

    due_at: AwareDatetime
    department: str | None
    clock: Clock = Field(default="resolution", description="Which deadline passed.")


class CaseEscalated(CaseEvent):
    """The case went to supervision (督辦)."""

    TYPE: ClassVar[str] = "CaseEscalated"

    reason: Literal["overdue", "disputed", "manual"]
    by: Actor
    note: Note | None = None


class CaseResolved(CaseEvent):
    """The department (or a reporter confirming on site) reports the problem fixed."""

    TYPE: ClassVar[str] = "CaseResolved"

    by: Actor
    resolution: Note
    on_time: bool


class FeedbackGiven(CaseEvent):
    """The resident answered: fixed or not, how satisfied, a rating."""

    TYPE: ClassVar[str] = "FeedbackGiven"

    fixed: bool
    satisfied: bool
    rating: int = Field(ge=1, le=5)
    comment: Note | None = None


class ResidentAskedAgain(CaseEvent):
    """The resident has not answered a resolution for a while: they are asked once more
    (the notifications service sends the message) before the case closes unanswered."""

    TYPE: ClassVar[str] = "ResidentAskedAgain"

    resolved_at: AwareDatetime = Field(description="The resolution they are asked about.")
    closes_at: AwareDatetime = Field(
        description="When the case closes if they still do not answer (CaseClosed no_answer).")


class DisputeSettled(CaseEvent):
    """A supervisor ruled on the resident's dispute (fixed, but not satisfied): the case
    closes as it stands, or goes back to its department (CaseReopened follows)."""

    TYPE: ClassVar[str] = "DisputeSettled"

    by: Actor
    outcome: Literal["closed", "reopened"]
    note: Note


class CaseReopened(CaseEvent):
    """Back to the same department with a new deadline: the resident said it is not fixed
    (one priority class more urgent), or a supervisor upheld their dispute.

    v2 added `response_due_at`; a v1 event reads as v2 without one."""

    TYPE: ClassVar[str] = "CaseReopened"
    VERSION: ClassVar[int] = 2

    department: str | None
    priority: Priority
    due_at: AwareDatetime
    comment: Note | None = None
    was_on_time: bool | None = Field(description="Whether the resolution now undone was on time.")
    response_due_at: AwareDatetime | None = Field(
        default=None, description="When the department's first response (签收) is due.")


class CaseClosed(CaseEvent):
    """The case is finished: the resident confirmed, or did not answer in time."""

    TYPE: ClassVar[str] = "CaseClosed"

    reason: Literal["confirmed", "no_answer"]


class PersonalDataErased(CaseEvent):
    """The resident's personal data was erased: its key destroyed, its photos deleted.

    What the public saw of the case stays; who the resident was is gone from every
    copy of the log at once (the sealed data no longer opens) and from every read model.
    """

    TYPE: ClassVar[str] = "PersonalDataErased"

    by: Actor
    reason: Literal["request", "retention"] = Field(
        description="The resident or an admin asked, or the retention period passed.")
    media_deleted: int = Field(default=0, ge=0, description="Photos of the case deleted.")


# --- inside a department (routing) ------------------------------------------------


class HandlerAssigned(CaseEvent):
    """The lead department's coordinator (or a supervisor) gave the case to one of the
    department's handlers (承办人), or handed it on from `previous` to another.

    `handler` is a staff id, the subject of the handler's department token, as
    `Actor.staff_id` and `ReporterAssigned.reporter_id` are: no name in clear. It names
    a person of the department that led the case when it was assigned; the assignment
    holds until the case is routed again (`services/lifecycle/assigning.py`)."""

    TYPE: ClassVar[str] = "HandlerAssigned"

    by: Actor
    handler: str = Field(description="The handler's staff id.")
    previous: str | None = Field(default=None, description="The handler it was handed on from.")


ALL_EVENTS: tuple[type[CaseEvent], ...] = (
    CaseSubmitted,
    CaseAccepted,
    CaseRejected,
    CaseMerged,
    CaseRouted,
    CaseAcknowledged,
    CaseReturned,
    CaseReassigned,
    ProgressNoted,
    SiteVisited,
    StoryPublished,
    ReporterAssigned,
    CaseOverdue,
    CaseEscalated,
    CaseResolved,
    FeedbackGiven,
    ResidentAskedAgain,
    DisputeSettled,
    CaseReopened,
    CaseClosed,
    PersonalDataErased,
    HandlerAssigned,
)
