"""The case timeline: what a resident, the public and staff see of one case.

`apply(view, envelope) -> view` is the whole projection, pure: the live
consumer and a replay from offset 0 run the same function, so they cannot
disagree. It is idempotent by `seq`: an envelope at or below the view's `seq`
returns the view unchanged.

A view keeps everything any reader may see; who sees what is decided when it
is read (`render.py`):

- public: the case's facts, description, media, the street or district (the
  exact address only where the category allows it), and the public timeline
  entries (`Entry.public`) without their `private` fields;
- the resident (with the tracking code): also their contact details, the exact
  address, and the entries' `private` fields (their own feedback comment, the
  officers' notes on their case);
- staff: everything, including internal notes (progress and site-visit notes
  recorded with `public=False`; the event contract says only public notes
  reach the resident).

Each entry's who, public `what` and `private` come from the lifecycle's
`publicstep.step_of`, which the open-data feed shares (services/opendata/lines.py).
Each timeline entry says who acted by role and department only: staff ids
and reporter ids in the events never reach a view — but for the handler the
lead department gave the case (`handling`), whom staff lists show (`render.py`
to staff only; `inbox.py`). To decide which staff read
what (`readers.py`) the view keeps the case's assisting departments, as the
lifecycle does, and its reporter as a hash of their staff id (`reporter_hash`),
as it keeps the tracking code: it names no member of staff, and is never shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.facts import CaseFacts, CaseStatus, Handling, Location
from contracts.personal import Sealed
from contracts.registry import read_event
from services.lifecycle.publicstep import JsonValue, Who, step_of


class Entry(BaseModel):
    """One step of the case's life; `seq` is also its server-sent-event id."""

    model_config = ConfigDict(frozen=True)

    seq: int
    at: AwareDatetime
    type: str
    status: CaseStatus
    who: Who
    what: dict[str, JsonValue] = {}
    private: dict[str, JsonValue] = {}
    public: bool = True


class Story(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    url: str
    column: str
    at: AwareDatetime


class Feedback(BaseModel):
    """The resident's latest answer; `comment` is theirs alone."""

    model_config = ConfigDict(frozen=True)

    fixed: bool
    satisfied: bool
    rating: int
    comment: str | None = None
    at: AwareDatetime


class CaseView(BaseModel):
    """The tracking read model of one case, after the events up to `seq`."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    seq: int = 0
    facts: CaseFacts
    location: Location | None = None
    description: str = ""
    media: tuple[ev.MediaRef, ...] = ()
    attributes: dict[str, str | tuple[str, ...]] = {}
    language: str = "zh-Hans"
    personal: Sealed | None = None
    """The resident's personal data, sealed with the case's key; opened only to be shown
    to the resident or to staff who may see it (`api.py`), never kept open."""
    erased: bool = False
    """The resident's personal data was erased (`PersonalDataErased`)."""
    tracking_code_hash: str = ""
    stories: tuple[Story, ...] = ()
    feedback: Feedback | None = None
    reporter_following: bool = False
    reporter_hash: str | None = None
    """The reporter the case is handed to: `staff_hash` of their staff id; never shown."""
    assisting: tuple[str, ...] = ()
    """The departments assisting the lead one, from the latest routing."""
    disputed: bool = False
    """The resident said the resolution in force fixed it but they are not satisfied, and no
    supervisor has ruled on it yet."""
    timeline: tuple[Entry, ...] = ()
    updated_at: AwareDatetime | None = None
    handling: Handling | None = None
    """The last handler the lead department gave the case (`HandlerAssigned`): staff
    personal data, shown to staff only (`render.py`); `handler` says if it still holds."""

    @property
    def handler(self) -> str | None:
        """The lead department's handler of the routing in force, if one was assigned."""
        return self.handling.in_force(self.facts) if self.handling else None

    @property
    def status(self) -> CaseStatus:
        return self.facts.status

    @property
    def merged_into(self) -> str | None:
        return self.facts.merged_into

    def entries_after(self, seq: int, *, staff: bool = False) -> list[Entry]:
        return [e for e in self.timeline if e.seq > seq and (staff or e.public)]


def staff_hash(staff_id: str) -> str:
    """A member of staff as the read model keeps them: sha256 of their staff id, hex."""
    return hashlib.sha256(f"zaiban-staff:{staff_id}".encode()).hexdigest()


def _changes(view: CaseView, event: ev.CaseEvent, at: datetime) -> dict[str, Any]:
    """What the event changes in the view beyond its facts and timeline."""
    match event:
        case ev.CaseSubmitted():
            return dict(location=event.location, description=event.description,
                        media=event.media, attributes=event.attributes,
                        language=event.language, personal=event.personal,
                        tracking_code_hash=event.tracking_code_hash)
        case ev.StoryPublished():
            story = Story(title=event.title, url=str(event.url), column=event.column, at=at)
            return dict(stories=(*view.stories, story))
        case ev.ReporterAssigned():
            return dict(reporter_following=True, reporter_hash=staff_hash(event.reporter_id))
        case ev.CaseAccepted() if event.reporter_id:
            return dict(reporter_following=True, reporter_hash=staff_hash(event.reporter_id))
        case ev.CaseRouted():
            return dict(assisting=event.assisting)
        case ev.PersonalDataErased():
            return dict(personal=None, erased=True, media=())
        case ev.FeedbackGiven():
            return dict(feedback=Feedback(fixed=event.fixed, satisfied=event.satisfied,
                                          rating=event.rating, comment=event.comment, at=at),
                        disputed=event.fixed and not event.satisfied)
        case ev.DisputeSettled() | ev.CaseReopened() | ev.CaseResolved():
            return dict(disputed=False)
        case ev.HandlerAssigned():  # facts before the event: the routing it is given for
            return dict(handling=Handling(handler=event.handler, department=view.facts.department,
                                          routed_at=view.facts.routed_at))
    return {}


def apply(view: CaseView | None, envelope: Envelope) -> CaseView:
    """The view after `envelope`. Envelopes at or below the view's seq change nothing.

    The first event of a case is its `CaseSubmitted`; should the log ever
    start a case elsewhere (a history import cut short), the view starts from
    the envelope's facts rather than refusing the case.
    """
    if view is not None and envelope.seq <= view.seq:
        return view
    event = read_event(envelope)
    if view is None:
        view = CaseView(case_id=envelope.case_id, facts=envelope.facts)
    who, what, private, public = step_of(event)
    if isinstance(event, ev.CaseReopened) and view.timeline \
            and view.timeline[-1].type == ev.DisputeSettled.TYPE:
        what = {**what, "after_dispute": True}  # sent back by supervision, not by the resident
    entry = Entry(seq=envelope.seq, at=envelope.occurred_at, type=envelope.type,
                  status=envelope.facts.status, who=who, what=what, private=private,
                  public=public)
    return view.model_copy(update=dict(
        seq=envelope.seq,
        facts=envelope.facts,
        timeline=(*view.timeline, entry),
        updated_at=envelope.occurred_at,
        **_changes(view, event, envelope.occurred_at),
    ))


def fold(view: CaseView | None, envelopes: Iterable[Envelope]) -> CaseView | None:
    """Apply envelopes in seq order (a batch may hold them out of order across cases)."""
    for envelope in sorted(envelopes, key=lambda e: e.seq):
        view = apply(view, envelope)
    return view
