"""The resident's answer to a resolution: fixed, not fixed, or no answer at all.

Only the resident answers, proving the case is theirs with its tracking code
(`codes.py`), and only while the case is resolved (`give_feedback`). With the
answer they say whether they are satisfied — always: the command has no
default for it, so the satisfaction figures (滿意率) count only what residents
said — and rate the handling.

- Fixed and satisfied: the case closes (`CaseClosed`, reason "confirmed").
- Fixed but not satisfied: a dispute. The case goes to supervision
  (`CaseEscalated`, reason "disputed") and stays resolved, `disputed`, until
  a supervisor rules on it (`supervision.settle_dispute`: close it as it
  stands, or send it back to its department). It takes no other answer
  meanwhile, and never closes unanswered: it was answered.
- Not fixed: the fix did not hold, and the case reopens with the same
  department, one priority class more urgent (an emergency stays an
  emergency), with a new deadline from now (`CaseReopened`).
- No answer: after `Policy.feedback_reminder` (7 days by default) the
  resident is asked once more (`ask_again`: `ResidentAskedAgain`, which the
  notifications service sends), once per resolution; the case then closes by
  itself at the time that event names (`unanswered`: `CaseClosed`, reason
  "no_answer"): `Policy.feedback_window` after the resolution (10 days by
  default), and never sooner than the rest of that window after the asking,
  so a sweep that ran late still leaves the resident the time they were told.
  Calendar days, as every deadline here. Routing's sweep finds these cases
  (`services/routing/sweeps.py`) and decides on each inside a compare-and-set,
  like overdue cases (`supervision.py`); histories are left alone.
"""

from __future__ import annotations

from datetime import datetime

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.envelope import derived_id
from contracts.facts import SYSTEM, Actor, CaseStatus
from services.lifecycle.access import admit, require
from services.lifecycle.case import Case
from services.lifecycle.codes import tracking_code_matches
from services.lifecycle.errors import NotAllowed, NotNow
from services.lifecycle.policy import Policy


def give_feedback(
    case: Case,
    command: cmd.GiveFeedback,
    actor: Actor,
    now: datetime,
    policy: Policy,
    *,
    tracking_code: str | None,
) -> list[ev.CaseEvent]:
    """The resident answers a resolution: fixed and satisfied closes the case, fixed but not
    satisfied takes it to supervision as a dispute, not fixed reopens it."""
    facts = admit(case, command, actor, "give feedback on")
    if not tracking_code_matches(tracking_code, case.tracking_code_hash):
        raise NotAllowed(f"the tracking code does not match case {case.case_id}")
    require(case, facts, {CaseStatus.RESOLVED}, "give feedback on")
    if case.disputed:
        raise NotNow(f"case {case.case_id}: your answer is with a supervisor, who will rule "
                     "on it")
    feedback = ev.FeedbackGiven(
        fixed=command.fixed, satisfied=command.satisfied, rating=command.rating,
        comment=command.comment,
    )
    if not command.fixed:
        priority = facts.priority.raised()
        deadlines = policy.reaching(facts.category, priority, now)
        reopened = ev.CaseReopened(
            department=facts.department,
            priority=priority,
            due_at=deadlines.due_at,
            comment=command.comment,
            was_on_time=facts.resolved_on_time,
            response_due_at=deadlines.response_due_at,
        )
        return [feedback, reopened]
    if command.satisfied:
        return [feedback, ev.CaseClosed(reason="confirmed")]
    return [feedback, ev.CaseEscalated(reason="disputed", by=SYSTEM)]


def _awaiting_answer(case: Case) -> datetime | None:
    """When the resolution the resident has not answered came, if the case waits for them."""
    facts = case.facts
    if (facts is None or case.from_history or facts.status is not CaseStatus.RESOLVED
            or case.disputed):
        return None
    return facts.resolved_at


def ask_again(case: Case, now: datetime, policy: Policy) -> list[ev.CaseEvent]:
    """Resolved, unanswered for `policy.feedback_reminder`: the resident is asked once more."""
    resolved_at = _awaiting_answer(case)
    if (resolved_at is None or case.closes_unanswered_at is not None
            or now < resolved_at + policy.feedback_reminder):
        return []
    rest = policy.feedback_window - policy.feedback_reminder
    closes_at = max(resolved_at + policy.feedback_window, now + rest)
    return [ev.ResidentAskedAgain(resolved_at=resolved_at, closes_at=closes_at)]


def unanswered(case: Case, now: datetime) -> list[ev.CaseEvent]:
    """Asked again, and still no answer when the asking said the case would close: it closes."""
    if (_awaiting_answer(case) is None or case.closes_unanswered_at is None
            or now < case.closes_unanswered_at):
        return []
    return [ev.CaseClosed(reason="no_answer")]


def ask_again_cause(case: Case) -> str:
    """Asking about one resolution is one cause, however many instances notice it is due."""
    return str(derived_id("ask-again", case.case_id, _resolved(case)))


def unanswered_cause(case: Case) -> str:
    """The same resolution going unanswered is one cause, however many instances notice it."""
    return str(derived_id("no-answer", case.case_id, _resolved(case)))


def _resolved(case: Case) -> str:
    return case.facts.resolved_at.isoformat() if case.facts and case.facts.resolved_at else "-"
