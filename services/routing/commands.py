"""The commands routing takes on a case, one row each: decider, route, and bus reply.

Each row runs one decider of the lifecycle (`services/lifecycle/`) against
routing's write model, from two doors: its HTTP route (`api.py`, staff with a
token holding one of the command's `access.ROLES`, or the resident with the
case's tracking code) and, for what a department's own system may do, its reply
on its own replies topic (`service.py`), given by the department whose topic it
is. Both are held to the same rules. Adding a command is a decider and a row here (see
`services/common/commands.py`).
"""

from __future__ import annotations

from contracts import case_commands as cmd
from services.common.commands import Row, by_reply
from services.lifecycle import (
    assigning,
    dispatching,
    feedback,
    handling,
    reporting,
    returning,
    supervision,
)

COMMANDS = (
    Row(cmd.RouteCase, dispatching.route, "route",
        "Route a case to a department: the one named, or by the dispatch rules"),
    Row(cmd.AcknowledgeCase, handling.acknowledge, "acknowledge",
        "The department confirms it has the case", body_optional=True,
        reply=cmd.AcknowledgeReply),
    Row(cmd.NoteProgress, handling.note_progress, "progress",
        "Note progress (public notes reach the resident)", reply=cmd.ProgressReply),
    Row(cmd.ReturnCase, returning.return_case, "return",
        "The department returns a case that is not theirs; it is re-routed",
        reply=cmd.ReturnReply),
    Row(cmd.ResolveCase, handling.resolve, "resolve",
        "Report the problem fixed, with a resolution note", reply=cmd.ResolveReply),
    Row(cmd.ReassignCase, dispatching.reassign, "reassign",
        "A supervisor moves the case to another department"),
    Row(cmd.AssignReporter, reporting.assign_reporter, "reporter",
        "Assign a reporter to follow the case in the field"),
    Row(cmd.RecordSiteVisit, reporting.record_site_visit, "site-visits",
        "A reporter records a visit to the place"),
    Row(cmd.LinkStory, reporting.link_story, "stories",
        "Link a published story (title, URL) to the case"),
    Row(cmd.EscalateCase, supervision.escalate, "escalate",
        "Take the case under supervision (督辦)", body_optional=True),
    Row(cmd.GiveFeedback, feedback.give_feedback, "feedback",
        "The resident answers a resolution: fixed or not, satisfied or not (both required); "
        "fixed and satisfied closes the case, fixed but not satisfied goes to supervision as "
        "a dispute, not fixed reopens it", resident=True),
    Row(cmd.SettleDispute, supervision.settle_dispute, "settle",
        "A supervisor rules on a resident's dispute: close the case, or reopen it"),
    Row(cmd.AssignHandler, assigning.assign_handler, "handler",
        "The lead department's coordinator (or a supervisor) gives the case to a handler of "
        "the department, or hands it on to another", coordinating=True,
        reply=cmd.AssignReply),
)

REPLIES = by_reply(COMMANDS)
"""The row each department reply on the bus stands for."""
