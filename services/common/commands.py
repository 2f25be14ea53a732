"""Commands on a case as rows of a table: one table drives a service's routes and bus replies.

A `Row` is one command a case takes: its contract type (`contracts/case_commands.py`),
the lifecycle decider that decides it, and where it is given — its path under
`/api/cases/{case_id}/` (with the summary the API documentation shows) and, where a
department's own system may give it on the bus, the reply that stands for it. Who may
give it is `access.ROLES` (`Row.roles` reads it; no table repeats it).

Every decider has one shape, `(case, command, actor, now, policy, **given) -> events`.
`given` is what a few commands need besides: the resident's tracking code (a `resident`
row, from `X-Tracking-Code`) and what a row's `load` reads first (merge: the case the
duplicate goes into).

- `routes` turns rows into typed FastAPI routes: each takes the command's own model as
  its body (so the OpenAPI document shows its schema) and is guarded by the row's roles
  (a staff token) or the tracking code (the resident); the service's `Door` says how its
  routes look from outside (tags, headers, the answer).
- `Desk.give` decides one command on the case as it stands and records what follows;
  the routes and the department replies on the bus (`Desk.reply`) both come through it.

Adding a command: its contract, its roles in `access.ROLES`, its decider in the
lifecycle, and one row in the table of the service that keeps the case
(`services/routing/commands.py`, `services/intake/commands.py`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Header, HTTPException, Path

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.facts import Actor, Role
from services.common.auth import Principal, TokenCheck, staff_guard
from services.common.casestreams import CaseStreams
from services.common.clock import Clock
from services.common.logging import bound
from services.lifecycle import access
from services.lifecycle.case import Case, new_command_id, reply_cause
from services.lifecycle.errors import NotAllowed
from services.lifecycle.policy import Policy

C = TypeVar("C", bound=cmd.Command)
A = TypeVar("A")

Decider = Callable[..., Sequence[ev.CaseEvent]]
"""A decider of the lifecycle: `(case, command, actor, now, policy, **given) -> events`."""
Loader = Callable[[CaseStreams, Any], Awaitable[dict[str, Any]]]
"""What a decider needs besides the case, read from the write model before deciding."""
Reply = cmd.Reply
"""A department's reply on the bus (`contracts.case_commands.DepartmentReply`)."""

RESIDENT = Actor(role=Role.RESIDENT)

# --- the headers a command takes over HTTP -------------------------------------------

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
"""A retried request with the same key is the same command, recorded once."""
Correlation = Annotated[str | None, Header(alias="X-Correlation-Id", max_length=200)]
"""Ties a request to what it sets off; one is made up when absent."""
TRACKING_CODE = Header(
    default=None, alias="X-Tracking-Code", max_length=40,
    description="The case's private tracking code, given to the resident at submission.",
)


def command_ids(key: str | None, correlation: str | None) -> tuple[str, str]:
    """A command's cause (stable across retries when the caller sends an Idempotency-Key)
    and its correlation id."""
    command_id = new_command_id()
    return (f"cmd/{key}" if key else command_id), correlation or command_id


# --- the table -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row(Generic[C]):
    """One command a case takes: who decides it, and where it is given."""

    command: type[C]
    decide: Decider
    path: str
    """Its route: `POST /api/cases/{case_id}/<path>`."""
    summary: str
    body_optional: bool = False
    """The body may be left out: the command with its defaults."""
    resident: bool = False
    """Given by the resident, who proves the case is theirs with its tracking code."""
    reply: type[Reply] | None = None
    """The reply a department's own system sends on the bus for it."""
    load: Loader | None = None
    coordinating: bool = False
    """The decider is told whether the staff member coordinates their department
    (`coordinator=`, from their token; a department's own system replying on the bus
    speaks for the whole department, as its coordinator)."""

    @property
    def roles(self) -> frozenset[Role]:
        return access.ROLES[self.command]

    @property
    def name(self) -> str:
        """The command in snake case (`ReturnCase`: `return_case`): the route's name."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.command.__name__).lower()

    def from_reply(self, reply: Reply, sender: str) -> tuple[C, Actor]:
        """A department's reply as this command, given by `sender`: the department whose
        replies topic it came on, which only that department may write. The topic says who
        sent it, not the body: a reply naming another department is refused."""
        if reply.department != sender:
            raise NotAllowed(f"a reply on {sender}'s replies topic names {reply.department!r}: "
                             "a department replies only in its own name, on its own topic")
        fields = reply.model_dump(include=set(self.command.model_fields))
        return (self.command.model_validate(fields),
                Actor(role=Role.DEPARTMENT, department=sender))


def by_reply(rows: Iterable[Row[Any]]) -> dict[type[Reply], Row[Any]]:
    """The row each department reply stands for."""
    return {row.reply: row for row in rows if row.reply is not None}


@dataclass(frozen=True)
class Desk:
    """Where a service decides commands on its cases: its write model, clock and policy."""

    cases: CaseStreams
    clock: Clock
    policy: Callable[[], Policy]
    """The policy now: the city's configuration changes while the service runs."""

    async def give(self, row: Row[C], case_id: str, command: C, actor: Actor, *, cause: str,
                   correlation_id: str, **given: Any) -> list[Envelope]:
        """Decide `command` on the case as it stands now and record what follows: once for
        `cause`, however often it is given or raced. A department's reply (its cause a
        `reply_cause`) the case has taken already records nothing."""
        if row.load is not None:
            given = {**given, **await row.load(self.cases, command)}

        # one moment for the decision and the events' date: a deadline counted from it is
        # exactly the limit after the event that starts it
        now = self.clock.now()

        def decide(case: Case) -> Sequence[ev.CaseEvent]:
            if cause in case.replies:
                return []
            return row.decide(case, command, actor, now, self.policy(), **given)

        with bound(case_id=case_id, correlation_id=correlation_id):
            return await self.cases.execute(case_id, decide, cause=cause,
                                            correlation_id=correlation_id, at=now)

    async def reply(self, row: Row[Any], reply: Reply, *, sender: str) -> list[Envelope]:
        """A department's reply from `sender`, run as the command its row stands for, once:
        a copy of a reply the case has taken records nothing (none, when it is a repeat)."""
        command, department = row.from_reply(reply, sender)
        given = {"coordinator": True} if row.coordinating else {}
        cause = reply_cause(sender, reply.reply_id)
        return await self.give(row, reply.case_id, command, department, cause=cause,
                               correlation_id=cause, **given)


# --- the routes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Door(Generic[A]):
    """How a service's command routes look from outside."""

    tags: Sequence[str]
    answer: Callable[[str, list[Envelope]], Awaitable[A]]
    """What a route answers, from the case number and the envelopes recorded."""
    case_id: Any = Path()
    """The case number's path parameter."""
    correlation: Any = Correlation
    """The X-Correlation-Id header's annotation."""
    idempotency: bool = False
    """The routes take an Idempotency-Key header."""
    responses: Mapping[int | str, dict[str, Any]] | None = None


def routes(rows: Iterable[Row[Any]], desk: Desk, door: Door[Any],
           tokens: TokenCheck) -> APIRouter:
    """A route for each row: `POST /api/cases/{case_id}/<path>`."""
    router = APIRouter(tags=list(door.tags))
    guard = staff_guard(tokens)
    for row in rows:
        router.add_api_route(
            f"/api/cases/{{case_id}}/{row.path}", endpoint(row, desk, door, guard),
            methods=["POST"], name=row.name, summary=row.summary,
            responses=dict(door.responses) if door.responses else None)
    return router


def endpoint(row: Row[Any], desk: Desk, door: Door[Any],
             guard: Callable[..., Callable[..., Awaitable[Principal]]]
             ) -> Callable[..., Awaitable[Any]]:
    """The route of `row`, with a signature FastAPI reads: the case number, the body (the
    command's model), the caller (staff token or tracking code), the headers."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    body = row.command | None if row.body_optional else row.command
    parameters = [
        inspect.Parameter("case_id", keyword, annotation=str, default=door.case_id),
        inspect.Parameter("body", keyword, annotation=body,
                          default=None if row.body_optional else inspect.Parameter.empty),
        inspect.Parameter("tracking_code", keyword, annotation=str | None, default=TRACKING_CODE)
        if row.resident else
        inspect.Parameter("who", keyword, annotation=Principal, default=Depends(guard(*row.roles))),
    ]
    if door.idempotency:
        parameters.append(inspect.Parameter("key", keyword, annotation=IdempotencyKey,
                                            default=None))
    parameters.append(inspect.Parameter("correlation_id", keyword, annotation=door.correlation,
                                        default=None))

    async def give(**asked: Any) -> Any:
        case_id: str = asked["case_id"]
        command = row.command() if asked["body"] is None else asked["body"]
        if row.resident:
            code = asked["tracking_code"]
            if not code:
                raise HTTPException(401, "send the case's tracking code in the X-Tracking-Code "
                                         "header")
            actor, given = RESIDENT, {"tracking_code": code}
        else:
            actor, given = asked["who"].actor(), {}
            if row.coordinating:
                given = {"coordinator": asked["who"].coordinator}
        cause, correlation_id = command_ids(asked.get("key"), asked["correlation_id"])
        envelopes = await desk.give(row, case_id, command, actor, cause=cause,
                                    correlation_id=correlation_id, **given)
        return await door.answer(case_id, envelopes)

    answer = inspect.signature(door.answer, eval_str=True).return_annotation
    give.__signature__ = inspect.Signature(parameters, return_annotation=answer)  # type: ignore[attr-defined]
    return give
