"""What people and systems ask of a case, named in the imperative.

A command may be refused; an event is a fact. The same models are the HTTP
bodies of the staff and resident APIs and the messages on the bus
(`SubmitCase` on the submissions topic, `DepartmentReply` on a department's
replies topic), so a frontend publishing on the bus is checked exactly like a browser.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field

from contracts.case_events import MediaRef, ResidentContact
from contracts.facts import Actor, Channel, Location, Priority
from contracts.personal import SealedMessage
from contracts.receipts import ReceiptKey
from contracts.text import AttributeValue, Code, Description, Note, Reason, ShortLine, Title


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SubmitCase(Command):
    """A resident's request, from any channel."""

    category: Code = Field(description="A category code from the service catalogue.")
    description: Description
    location: Location
    channel: Channel = Channel.WEB
    contact: ResidentContact | None = Field(default=None, description="Omit to stay anonymous.")
    media: tuple[MediaRef, ...] = Field(default=(), max_length=6)
    attributes: dict[Code, AttributeValue | tuple[AttributeValue, ...]] = Field(
        default_factory=dict, max_length=30
    )
    language: Literal["zh-Hans", "zh-Hant", "en"] = "zh-Hans"
    external_ref: ShortLine = ""
    submission_id: ShortLine = Field(
        default="",
        description="Client-chosen id; a retried submission with the same id makes no second case.",
    )
    receipt_key: ReceiptKey = ""


class SealedSubmission(Command):
    """A `SubmitCase` on the bus, sealed for intake (`contracts/personal.py`): how a frontend
    submits a resident's request with personal data, which no topic carries in clear."""

    sealed: SealedMessage = Field(description="The SubmitCase's JSON, sealed for intake's key.")


BusSubmission = SubmitCase | SealedSubmission
"""What the submissions topic carries."""


# --- triage ----------------------------------------------------------------


class AcceptCase(Command):
    category: Code | None = None
    district: Code | None = None
    priority: Priority | None = None
    reporter_id: ShortLine | None = Field(
        default=None, description="Hand the case to a reporter first instead of dispatching it."
    )
    note: Note | None = None


class RejectCase(Command):
    reason: Reason


class MergeCase(Command):
    into_case_id: ShortLine


# --- routing and handling ---------------------------------------------------


class RouteCase(Command):
    """Route by hand (officer, reporter, supervisor); without a department, by the rules."""

    department: Code | None = None


class AcknowledgeCase(Command):
    note: Note | None = None


class NoteProgress(Command):
    note: Note
    public: bool = True


class ReturnCase(Command):
    reason: Reason


class ResolveCase(Command):
    resolution: Note


class ReassignCase(Command):
    department: Code
    reason: Reason


class AssignReporter(Command):
    reporter_id: ShortLine = Field(min_length=1)


class RecordSiteVisit(Command):
    note: Note
    public: bool = True


class LinkStory(Command):
    title: Title
    url: AnyHttpUrl
    column: Literal["inquiry", "supervision", "news"] = "news"


class EscalateCase(Command):
    note: Note | None = None


class GiveFeedback(Command):
    """The resident's answer after a resolution.

    `satisfied` has no default: an answer that does not say it is refused (422), so the
    satisfaction rate (滿意率) counts only what residents said. Fixed but not satisfied
    goes to supervision as a dispute (`services/lifecycle/feedback.py`).
    """

    fixed: bool
    satisfied: bool = Field(description="Whether the resident is satisfied with the handling. "
                                        "Required: never assumed.")
    rating: int = Field(ge=1, le=5)
    comment: Note | None = None


class SettleDispute(Command):
    """A supervisor's ruling on a resident's dispute (fixed, but not satisfied): close the
    case as it stands, or send it back to its department."""

    outcome: Literal["closed", "reopened"]
    note: Note


def _named(handler: str) -> str:
    if not handler:
        raise ValueError("name the handler: their staff id, the subject of their token")
    return handler


HandlerId = Annotated[ShortLine, AfterValidator(_named), Field(
    min_length=1, description="The handler's staff id: the subject of their department token.")]


class AssignHandler(Command):
    """The lead department's coordinator (or a supervisor) gives the case to a handler of
    the department, or hands it on to another."""

    handler: HandlerId


# --- department replies on the bus -------------------------------------------


class ErasePersonalData(Command):
    """Erase a case's personal data for good: its key, its photos; the erasure recorded.

    The message on the erasures topic (`Topics.erasures`): intake destroys the key
    and deletes the photos, and the service that holds the case at that stage records
    `PersonalDataErased` (intake while it awaits triage, routing after).
    """

    request_id: str = Field(description="Names this request; a repeat carries the same.")
    case_id: str
    by: Actor = Field(description="The resident, an admin, or the system (retention).")
    reason: Literal["request", "retention"] = "request"
    requested_at: AwareDatetime


class _Reply(Command):
    reply_id: ShortLine = Field(
        min_length=1, description="Unique per reply among the department's own; repeats are "
                                  "ignored.")
    case_id: ShortLine = Field(min_length=1)
    department: Code = Field(
        description="The department replying: the one whose replies topic "
                    "(`zaiban.routing.department.<code>.replies`) carries it. A reply naming "
                    "another department is refused.")


class AcknowledgeReply(_Reply):
    action: Literal["acknowledge"]
    note: Note | None = None


class ProgressReply(_Reply):
    action: Literal["progress"]
    note: Note
    public: bool = True


class ReturnReply(_Reply):
    action: Literal["return"]
    reason: Reason


class ResolveReply(_Reply):
    action: Literal["resolve"]
    resolution: Note


class AssignReply(_Reply):
    """The department's own system gives the case to one of its handlers (`AssignHandler`)."""

    action: Literal["assign"]
    handler: HandlerId


Reply = AcknowledgeReply | ProgressReply | ReturnReply | ResolveReply | AssignReply
"""Any one of a department's replies."""
DepartmentReply = Annotated[Reply, Field(discriminator="action")]
