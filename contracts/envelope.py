"""The envelope every case event travels in.

The envelope is what the log stores: who said what happened to which case,
when, in which order and because of what. The event itself sits in `data` and
is read through `contracts.registry`, which upcasts old versions on the way.

Ordering and idempotency rest on two fields:
- `case_id` is the Kafka key, so every event of one case lands in one
  partition and is read in order;
- `seq` numbers the events of one case from 1 without gaps. A consumer that
  has applied `seq` n ignores anything at or below n, which makes every
  projection idempotent without remembering event ids.

`facts` is the case as it stands *after* the event: the public dimensions
(category, district, channel, department, status, deadlines). Consumers that
count or list cases need no state of their own to interpret an event.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.facts import CaseFacts

# Event ids derived from a command or from another event are uuid5 in this
# namespace, so reprocessing the same input mints the same ids.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c1a52-8b4e-4f7e-9d7a-7a2a0c5b1e01")


HISTORY_PRODUCER_PREFIX = "history:"
"""Producers named `history:<tool>` write past histories (demo data, imports of
finished cases). Their events are facts to project, not news to react to:
routing does not route, escalate or close because of them."""


def derived_id(*parts: object) -> uuid.UUID:
    """A deterministic id for something that follows from `parts`."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, "/".join(str(p) for p in parts))


class Envelope(BaseModel):
    """One recorded fact about one case, as stored in the case event log."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID
    type: str = Field(description="Event type name, e.g. CaseSubmitted.")
    schema_version: int = Field(ge=1, description="Version of the `data` schema.")
    case_id: str = Field(description="The case number; also the partition key.")
    seq: int = Field(ge=1, description="Position of this event in its case's stream, from 1.")
    occurred_at: AwareDatetime = Field(description="When it happened in the world.")
    recorded_at: AwareDatetime = Field(description="When the producer recorded it.")
    producer: str = Field(description="The service (or tool) that recorded it.")
    correlation_id: str = Field(description="Shared by everything one request set off.")
    causation_id: str | None = Field(
        default=None, description="The command or event id that caused this one."
    )
    facts: CaseFacts = Field(description="The case's public dimensions after this event.")
    data: dict[str, Any] = Field(description="The event's own fields, at `schema_version`.")

    @property
    def is_history(self) -> bool:
        return self.producer.startswith(HISTORY_PRODUCER_PREFIX)

    def key(self) -> bytes:
        return self.case_id.encode()

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)

    @property
    def occurred(self) -> datetime:
        return self.occurred_at
