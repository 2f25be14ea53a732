"""What happens when a department returns a case: it says the case is not theirs.

Only the lead department returns a case, and only while it holds it (routed
or acknowledged; an assisting department cannot, and a resolved case is past
returning). The return is recorded (`CaseReturned`, with the department's
reason), the department joins the case's `returned_by`, and the case is
re-routed at once by the dispatch rules (`CaseRouted`, reason "returned",
by the system, with a new deadline) to a department that has not returned it
yet: the rule's assisting departments first, then later matching rules (a
district's rule falls back to the city-wide one; `policy.by_rules`).

When no such department is left, nothing more is recorded: the case waits
for an officer (`awaiting_dispatch`, no department, no deadline), who routes
it by hand (`dispatching.route`, naming the department; the rules would
only offer departments that returned it).

A department's own system returns a case with a `ReturnReply` on the
department replies topic; it runs as this same command, given by that
department (routing's command table, `services/routing/commands.py`), so the
same rules hold.
"""

from __future__ import annotations

from datetime import datetime

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import SYSTEM, Actor
from services.lifecycle.access import WITH_DEPARTMENT, admit, own_case, require
from services.lifecycle.case import Case
from services.lifecycle.dispatching import routed
from services.lifecycle.policy import Policy, by_rules


def return_case(
    case: Case, command: cmd.ReturnCase, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """The department says the case is not theirs: re-route it, or leave it to the officers."""
    facts = admit(case, command, actor, "return")
    own_case(case, facts, actor)
    require(case, facts, WITH_DEPARTMENT, "return")
    returned = ev.CaseReturned(by=actor, reason=command.reason)
    excluded = {*case.returned_by, *([facts.department] if facts.department else [])}
    assignment = by_rules(policy.city, facts.category, facts.district, exclude=excluded)
    if assignment is None:
        return [returned]
    rerouted = routed(facts, assignment, reason="returned", by=SYSTEM, now=now, policy=policy)
    return [returned, rerouted]
