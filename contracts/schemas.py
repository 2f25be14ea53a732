"""JSON Schemas of the envelope, every event and every command, for integrators.

`zaiban contracts export` writes them to `contracts/schemas/`; a test keeps
the committed files equal to what the code says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from contracts import case_commands
from contracts.case_events import ALL_EVENTS
from contracts.envelope import Envelope

SCHEMA_DIR = Path(__file__).parent / "schemas"

COMMANDS: tuple[type[BaseModel], ...] = (
    case_commands.SubmitCase, case_commands.AcceptCase, case_commands.RejectCase,
    case_commands.MergeCase, case_commands.RouteCase, case_commands.AcknowledgeCase,
    case_commands.NoteProgress, case_commands.ReturnCase, case_commands.ResolveCase,
    case_commands.ReassignCase, case_commands.AssignReporter, case_commands.RecordSiteVisit,
    case_commands.LinkStory, case_commands.EscalateCase, case_commands.GiveFeedback,
)


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
