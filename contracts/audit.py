"""The audit trail of personal data: who among staff read a resident's details, and when.

A member of staff who is shown a resident's personal data (in the staff view of a case:
their contact details, a private address and its point, the description as written)
leaves a `PersonalDataRead` on the audit topic (`Topics.audit`, kept forever), keyed by
the case id, before the answer leaves the service: a read that cannot be recorded is not
answered. Admins list the trail per
case and per member of staff (issue 13, least privilege and an audit trail).

The record names people by their staff id and holds none of the data read: the trail
may be kept forever because it is about the reading, not the resident.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.facts import Role
from contracts.text import ShortLine

PersonalField = Literal["contact", "address", "coordinates", "description"]
"""What of a resident's personal data a reader was shown: their contact details (name,
phone, email), the private address, its exact coordinates, the original description."""


class PersonalDataRead(BaseModel):
    """A member of staff was shown a resident's personal data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    read_id: uuid.UUID = Field(description="This read; a record delivered twice is one read.")
    case_id: str = Field(min_length=1, max_length=64, description="The case read; the key.")
    at: AwareDatetime = Field(description="When it was shown (the service's clock).")
    # Who, as their token says (signed by us, so taken as it is: a read is never refused for
    # the shape of a name).
    staff_id: str = Field(description="Who: the subject of their token.")
    role: Role
    department: str | None = Field(default=None, description="A department's staff: which.")
    fields: tuple[PersonalField, ...] = Field(min_length=1, description="What was shown.")
    route: ShortLine = Field(min_length=1, description="Where it was read (method and route), "
                                                       "which says what for.")
    correlation_id: str = Field(min_length=1, max_length=200,
                                description="The request's `X-Correlation-Id` (or one made "
                                            "up): ties the read to what followed.")
