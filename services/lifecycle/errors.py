"""Why the lifecycle refuses a command, named for what it means. Nothing is recorded.

- `NotFound`: there is no such case (or the case a command points to).
- `NotAllowed`: this role, department or resident may not do this to this case.
- `NotNow`: the case is not in a state that allows this (closed, already done, ...).
- `Invalid`: the command names something the city does not have, or breaks its
  rules; each problem names its field.

They carry no HTTP status: the edge decides how to answer them
(`services/common/http.py` for the JSON API, `services/common/open311.py` for
Open311), and a refused department reply on the bus goes to the dead-letter
topic with its `kind` and reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a command: where (the field, e.g. `body.category`), and what."""

    where: str
    problem: str


class Refused(Exception):
    """A command the lifecycle will not record. Raise one of the kinds below, not this."""

    kind: ClassVar[str] = "refused"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotFound(Refused):
    kind = "not_found"


class NotAllowed(Refused):
    kind = "not_allowed"


class NotNow(Refused):
    kind = "not_now"


class Invalid(Refused):
    """`problems`: each one's field and what is wrong, in the shape of a validation error."""

    kind = "invalid"

    def __init__(self, reason: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(reason)
        self.problems: list[dict[str, str]] = [
            {"where": p.where, "problem": p.problem} for p in problems]

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> Invalid:
        """A refusal listing `problems`, summed up in its reason."""
        summary = "; ".join(f"{p.where}: {p.problem}" for p in problems)
        return cls(f"invalid request: {summary}", problems)
