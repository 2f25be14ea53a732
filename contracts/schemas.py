"""JSON Schemas of the envelope, every event and command, the receipt of a bus submission, the
audit record, the revocation of staff access and the open-data feed's line, for integrators
and anyone reading the public history.

`zaiban contracts export` writes them to `contracts/schemas/`; a test keeps
the committed files equal to what the code says. `CaseEventEnvelope` is the
envelope with its `data` typed, as the AsyncAPI documents show the case event log.
"""

from __future__ import annotations

import json
import operator
from functools import reduce
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter, create_model

from contracts import case_commands
from contracts.audit import PersonalDataRead
from contracts.case_events import ALL_EVENTS
from contracts.cityconfig import ChangeCity, CityChanged
from contracts.envelope import Envelope
from contracts.opendata import FeedLine
from contracts.receipts import SubmissionReceipt
from contracts.revocations import RevokeTokens, TokenRevoked

SCHEMA_DIR = Path(__file__).parent / "schemas"

COMMANDS: tuple[type[BaseModel], ...] = (
    case_commands.SubmitCase, case_commands.AcceptCase, case_commands.RejectCase,
    case_commands.MergeCase, case_commands.RouteCase, case_commands.AcknowledgeCase,
    case_commands.NoteProgress, case_commands.ReturnCase, case_commands.ResolveCase,
    case_commands.ReassignCase, case_commands.AssignReporter, case_commands.RecordSiteVisit,
    case_commands.LinkStory, case_commands.EscalateCase, case_commands.GiveFeedback,
    case_commands.SettleDispute,
    case_commands.SealedSubmission, case_commands.ErasePersonalData,
    case_commands.AssignHandler,
)

AnyEvent: Any = reduce(operator.or_, ALL_EVENTS)
"""CaseSubmitted | CaseAccepted | ... : every event type at its current version."""

CaseEventEnvelope: type[Envelope] = create_model(
    "CaseEventEnvelope",
    __base__=Envelope,
    __doc__="One record of the case event log: the envelope, and in `data` the event that "
            "`type` names, at `schema_version` (older versions are upcast on reading).",
    data=(AnyEvent, Field(description="The event's own fields: the event type named by `type`.")),
)
"""For the documents only: a consumer reads `data` with `contracts.registry.read_event`,
which knows the type from `type` (the events carry no tag of their own to tell them apart)."""


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema."""
    schemas: dict[str, dict[str, Any]] = {"Envelope.json": Envelope.model_json_schema()}
    for event in ALL_EVENTS:
        schema = event.model_json_schema()
        schema["x-event-type"] = event.TYPE
        schema["x-schema-version"] = event.VERSION
        schemas[f"events/{event.TYPE}.v{event.VERSION}.json"] = schema
    for command in COMMANDS:
        schemas[f"commands/{command.__name__}.json"] = command.model_json_schema()
    schemas["commands/DepartmentReply.json"] = TypeAdapter(
        case_commands.DepartmentReply).json_schema()
    schemas["receipts/SubmissionReceipt.json"] = SubmissionReceipt.model_json_schema()
    schemas["audit/PersonalDataRead.json"] = PersonalDataRead.model_json_schema()
    schemas["staff/RevokeTokens.json"] = RevokeTokens.model_json_schema()
    schemas["staff/TokenRevoked.json"] = TokenRevoked.model_json_schema()
    schemas["config/ChangeCity.json"] = ChangeCity.model_json_schema()
    schemas["config/CityChanged.json"] = CityChanged.model_json_schema()
    schemas["opendata/FeedLine.json"] = FeedLine.model_json_schema()
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def export(target: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for name, schema in all_schemas().items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written
