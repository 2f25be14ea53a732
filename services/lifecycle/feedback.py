"""The resident's answer to a resolution: fixed, not fixed, or no answer at all.

Only the resident answers, proving the case is theirs with its tracking code
(`codes.py`), and only while the case is resolved (`give_feedback`). With the
answer they may say whether they are satisfied and rate the handling (the
satisfaction figures, 滿意率, read these).

- Fixed: the case closes (`CaseClosed`, reason "confirmed").
- Not fixed: the fix did not hold, and the case reopens with the same
  department, one priority class more urgent (an emergency stays an
  emergency), with a new deadline from now (`CaseReopened`).
- An answer of not fixed or not satisfied leaves the case `disputed` until
  it is next routed.
- No answer within the feedback window (`Policy.feedback_window`, 7 days by
  default): the case closes by itself (`unanswered`; `CaseClosed`, reason
  "no_answer"). Routing's sweep finds these cases (`services/routing/sweeps.py`)
  and decides on each with `unanswered` inside a compare-and-set, like
  overdue cases (`supervision.py`); histories are left alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.envelope import derived_id
from contracts.facts import Actor, CaseStatus
from services.lifecycle.access import admit, require
from services.lifecycle.case import Case
from services.lifecycle.codes import tracking_code_matches
from services.lifecycle.errors import NotAllowed
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
    """The resident answers a resolution: fixed closes the case, not fixed reopens it."""
    facts = admit(case, command, actor, "give feedback on")
    if not tracking_code_matches(tracking_code, case.tracking_code_hash):
        raise NotAllowed(f"the tracking code does not match case {case.case_id}")
    require(case, facts, {CaseStatus.RESOLVED}, "give feedback on")
    feedback = ev.FeedbackGiven(
        fixed=command.fixed, satisfied=command.satisfied, rating=command.rating,
        comment=command.comment,
    )
    if command.fixed:
        return [feedback, ev.CaseClosed(reason="confirmed")]
    priority = facts.priority.raised()
    reopened = ev.CaseReopened(
        department=facts.department,
        priority=priority,
        due_at=policy.deadlines.due(priority, now),
        comment=command.comment,
        was_on_time=facts.resolved_on_time,
    )
    return [feedback, reopened]


def unanswered(case: Case, now: datetime, window: timedelta) -> list[ev.CaseEvent]:
    """Resolved, and the resident has not answered in `window`: the case closes."""
    facts = case.facts
    if (
        facts is None
        or case.from_history
        or facts.status is not CaseStatus.RESOLVED
        or facts.resolved_at is None
        or now < facts.resolved_at + window
    ):
        return []
    return [ev.CaseClosed(reason="no_answer")]


def unanswered_cause(case: Case) -> str:
    """The same resolution going unanswered is one cause, however many instances notice it."""
    resolved = case.facts.resolved_at.isoformat() if case.facts and case.facts.resolved_at else "-"
    return str(derived_id("no-answer", case.case_id, resolved))
