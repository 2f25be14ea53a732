"""The commands intake takes on a case: triage by information officers, one row each.

Each row runs one decider of `services/lifecycle/triage.py` against intake's
write model, from its HTTP route (`api.py`: officers and supervisors, the roles
of `access.ROLES`, with an `Idempotency-Key` to make a retry the same command).
Adding a command is a decider and a row here (see `services/common/commands.py`).
"""

from __future__ import annotations

from typing import Any

from contracts import case_commands as cmd
from services.common.casestreams import CaseStreams
from services.common.commands import Row
from services.lifecycle import triage


async def into_case(cases: CaseStreams, command: cmd.MergeCase) -> dict[str, Any]:
    """The case a duplicate is merged into, as intake's write model has it."""
    return {"into": await cases.get(command.into_case_id)}


TRIAGE = (
    Row(cmd.AcceptCase, triage.accept, "accept", "Accept a case (officers)"),
    Row(cmd.RejectCase, triage.reject, "reject", "Reject a case with a reason (officers)"),
    Row(cmd.MergeCase, triage.merge, "merge", "Merge a duplicate into another case",
        load=into_case),
)
