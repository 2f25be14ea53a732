"""Case histories told as stories: given what happened, when a command is decided, then
what was recorded. Pure.

One kit for everyone who needs a case's past without the services running: the
unit tests, the demo city (`zaiban/demo.py`) and the benchmarks' big histories
(`zaiban/bench/workload.py`). Envelopes are made as the services make them
(`Case.record`: numbered after the case's version, each with the case's facts
after it), and commands go through the real deciders of this package — only at
times the teller chooses.

- `History`: one case. Given: `given(at, *events)` records events as they
  happened. When: `when(at, decider, command, by=actor)` runs a command through
  its decider (`(case, command, actor, now, policy) -> events`; a refusal is
  raised and nothing is recorded), `decided(at, decision)` records what any
  other decision returns (a reaction, a sweep), and `submit`, `accept` (with
  routing's reaction), `give_feedback` and `sweep` are the steps that take more
  than that. Then: `case`, `facts`, `envelopes` (all of them) and `latest` (the last step's).
- `Chronicle`: many cases told under one policy and producer, e.g. a city's past;
  its `envelopes` are in the order a log holds them.

Ids are deterministic: a step's cause (and correlation) is `cause_of(producer,
case, version before the step)`, and event ids derive from the cause, so telling
the same story again gives the same ids (a re-loaded demo is the same log).
A producer named `history:<tool>` marks the past (`contracts.envelope`):
routing keeps it and reacts to none of it.

    story = History("ZB261006-WFF0-0001", policy=policy, tracking_code=code)
    story.submit(T0, cmd.SubmitCase.model_validate(body))
    story.accept(T0 + hour, cmd.AcceptCase(), by=officer)   # and routing's reaction
    story.when(T0 + day, handling.acknowledge, cmd.AcknowledgeCase(), by=story.lead)
    assert story.facts.status is CaseStatus.ACKNOWLEDGED
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from pydantic import SecretStr

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.envelope import HISTORY_PRODUCER_PREFIX, Envelope, derived_id
from contracts.facts import Actor, CaseFacts, Role
from contracts.personal import PersonalData, Sealed
from services.lifecycle import dispatching, feedback, supervision, triage
from services.lifecycle.case import Case
from services.lifecycle.codes import hash_tracking_code, tracking_code_for
from services.lifecycle.policy import Policy
from services.lifecycle.submitting import personal_part, submitted

C = TypeVar("C", bound=cmd.Command)
Decider = Callable[[Case, C, Actor, datetime, Policy], Sequence[ev.CaseEvent]]
"""A command's decider: `(case, command, actor, now, policy) -> events`."""
Decision = Callable[[Case], Sequence[ev.CaseEvent]]
Seal = Callable[[str, PersonalData], Sealed]
"""Seals a case's personal data with that case's key (`services/common/keys.KeyRing.seal`)."""
"""Any decision on the case as it stands: the events to record (none, to record nothing)."""

RESIDENT = Actor(role=Role.RESIDENT)

MOMENTS = ("submitted_at", "accepted_at", "routed_at", "first_response_at", "resolved_at",
           "closed_at", "responded_at")
"""The facts that are moments of the story (`due_at`, `triage_due_at`, `response_due_at` are
deadlines: a moment plus a rule)."""


def cause_of(producer: str, case_id: str, version: int) -> str:
    """The cause and correlation of a step told by `producer` on a case at `version`:
    `demo/ZB261006-WFF1-0001/3` (a `history:` producer is named without its prefix)."""
    return f"{producer.removeprefix(HISTORY_PRODUCER_PREFIX)}/{case_id}/{version}"


def desk(department: str) -> Actor:
    """Who acts for a department in a story: its desk."""
    return Actor(role=Role.DEPARTMENT, department=department, staff_id=f"{department}-desk")


def in_log_order(envelopes: Iterable[Envelope]) -> list[Envelope]:
    """The envelopes as a log of many cases holds them: each case's in order, and across
    cases in the order they happened."""
    return sorted(envelopes, key=lambda e: (e.occurred_at, e.case_id, e.seq))


class History:
    """One case's history, told step by step (see the module's doc)."""

    def __init__(self, case_id: str, *, policy: Policy | None = None, producer: str = "story",
                 tracking_code: str | None = None, seal: Seal | None = None) -> None:
        self.case = Case(case_id=case_id)
        self.envelopes: list[Envelope] = []
        self.latest: list[Envelope] = []
        """What the last step recorded (after `accept`: the acceptance and routing's reaction)."""
        self.policy = policy
        self.producer = producer
        self.tracking_code = tracking_code
        """The resident's code (intake's): the submission records its hash, feedback gives it."""
        self.seal = seal
        """How the submission's personal part is sealed (as intake does, with a key of the
        case's own); without it, the history records no personal data."""

    @property
    def case_id(self) -> str:
        return self.case.case_id

    @property
    def facts(self) -> CaseFacts:
        return self.case.require_facts()

    @property
    def lead(self) -> Actor:
        """The desk of the department that leads the case now."""
        department = self.facts.department
        if department is None:
            raise ValueError(f"case {self.case_id} is with no department")
        return desk(department)

    # -- given ---------------------------------------------------------------------

    def given(self, at: datetime, *events: ev.CaseEvent, producer: str | None = None) -> History:
        """Record `events` as having happened at `at` (by `producer`, the history's own if none)."""
        producer = producer or self.producer
        cause = cause_of(producer, self.case_id, self.case.version)
        self.latest, self.case = self.case.record(
            events, at=at, recorded_at=at, producer=producer, correlation_id=cause, cause=cause)
        self.envelopes += self.latest
        return self

    # -- when ----------------------------------------------------------------------

    def decided(self, at: datetime, decision: Decision) -> History:
        """Record what `decision` makes of the case as it stands, at `at`."""
        return self.given(at, *decision(self.case))

    def when(self, at: datetime, decider: Decider[C], command: C, *, by: Actor) -> History:
        """`by` gives `command` at `at`; its decider decides and what it returns is recorded."""
        policy = self._policy()
        return self.decided(at, lambda case: decider(case, command, by, at, policy))

    def submit(self, at: datetime, command: cmd.SubmitCase) -> History:
        """A resident submits the case, checked against the city as intake checks it."""
        code_hash = hash_tracking_code(self._tracking_code())
        city = self._policy().city
        personal = personal_part(command, city)
        sealed = self.seal(self.case_id, personal) if personal and self.seal else None
        return self.given(at, submitted(command, city, tracking_code_hash=code_hash,
                                        personal=sealed, at=at))

    def accept(self, at: datetime, command: cmd.AcceptCase, *, by: Actor) -> History:
        """An officer accepts the case, and routing reacts at once (routes it by the rules,
        or assigns the officer's reporter)."""
        policy = self._policy()
        [acceptance] = self.when(at, triage.accept, command, by=by).latest
        self.decided(at, lambda case: dispatching.on_accepted(case, acceptance, at, policy))
        self.latest = [acceptance, *self.latest]
        return self

    def give_feedback(self, at: datetime, command: cmd.GiveFeedback) -> History:
        """The resident answers the resolution, with the case's tracking code."""
        policy, code = self._policy(), self._tracking_code()
        return self.decided(at, lambda case: feedback.give_feedback(
            case, command, RESIDENT, at, policy, tracking_code=code))

    def sweep(self, at: datetime) -> History:
        """What the deadline sweeps record by `at` (intake's for a case awaiting triage,
        routing's after: `ownership.py`): the deadline passed, or the resolution went
        unanswered (the resident asked again, or, asked already, the case closed; a
        history's own clocks, too, ran out as they did)."""
        policy = self._policy()

        def watch(case: Case) -> Sequence[ev.CaseEvent]:
            awake = case.model_copy(update={"from_history": False})
            return (supervision.overdue(awake, at) or feedback.unanswered(awake, at)
                    or feedback.ask_again(awake, at, policy))

        return self.decided(at, watch)

    # -- retelling -----------------------------------------------------------------

    def retold(self, case_id: str, times: Sequence[datetime]) -> list[Envelope]:
        """The envelopes this story would give another case told at other `times` (one per
        moment of this story, in order), made by copying: ~50 times faster than telling it.

        Only for stories with no deadlines (a deadline is not a moment to move) and no
        personal data (sealed with this case's key, it opens for no other case).
        """
        moments = dict.fromkeys(e.occurred_at for e in self.envelopes)
        moved = dict(zip(moments, times, strict=True))
        copies: list[Envelope] = []
        cause = ""
        for index, envelope in enumerate(self.envelopes):
            facts = envelope.facts
            if facts.due_at is not None or facts.triage_due_at is not None:
                raise ValueError(f"{self.case_id} has a deadline: tell it, do not retell it")
            if envelope.data.get("personal"):
                raise ValueError(f"{self.case_id} has personal data: tell it, do not retell it")
            if index == 0 or envelope.causation_id != self.envelopes[index - 1].causation_id:
                cause = cause_of(envelope.producer, case_id, envelope.seq - 1)
            when = moved[envelope.occurred_at]
            copies.append(envelope.model_copy(update=dict(
                case_id=case_id, occurred_at=when, recorded_at=when, causation_id=cause,
                correlation_id=cause,
                event_id=derived_id(cause, case_id, envelope.seq, envelope.type),
                facts=facts.model_copy(update={
                    name: moved[getattr(facts, name)] for name in MOMENTS
                    if getattr(facts, name) is not None}),
            )))
        return copies

    # -- what it needs -------------------------------------------------------------

    def _policy(self) -> Policy:
        if self.policy is None:
            raise ValueError("deciding needs the city's rules: History(..., policy=...)")
        return self.policy

    def _tracking_code(self) -> str:
        if self.tracking_code is None:
            raise ValueError("the resident's steps need a code: History(..., tracking_code=...)")
        return self.tracking_code


@dataclass
class Chronicle:
    """Many cases' histories told under one policy and producer: a city's past.

    With a `secret`, each case's resident holds the tracking code intake would
    give them (`codes.tracking_code_for`).
    """

    policy: Policy
    producer: str = "story"
    secret: SecretStr | None = None
    seal: Seal | None = None
    histories: dict[str, History] = field(default_factory=dict)

    def of(self, case_id: str) -> History:
        """The history of `case_id`, begun if it had none."""
        if case_id not in self.histories:
            code = tracking_code_for(self.secret, case_id) if self.secret else None
            self.histories[case_id] = History(case_id, policy=self.policy,
                                              producer=self.producer, tracking_code=code,
                                              seal=self.seal)
        return self.histories[case_id]

    @property
    def cases(self) -> dict[str, Case]:
        return {case_id: story.case for case_id, story in self.histories.items()}

    @property
    def envelopes(self) -> list[Envelope]:
        """Every case's envelopes, in log order (`in_log_order`)."""
        return in_log_order(e for story in self.histories.values() for e in story.envelopes)
