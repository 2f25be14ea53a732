"""The newsroom's side: a reporter (記者) follows a case in the field and writes about it.

An officer or supervisor assigns a reporter to an accepted case
(`assign_reporter`; an officer may do so at acceptance, and routing then
leaves the routing to the reporter, `dispatching.on_accepted`). The reporter
visits the place and records what they saw (`record_site_visit`; public by
default, so the resident sees it), and links the story they publish
(`link_story`: the 幫打聽 inquiry column or the 鄭在督辦 supervision column),
which joins the case's timeline. All of this is possible from acceptance
until the case closes; none of it moves the case's status.
"""

from __future__ import annotations

from datetime import datetime

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import Actor
from services.lifecycle.access import AFTER_ACCEPTANCE, admit, require
from services.lifecycle.case import Case
from services.lifecycle.errors import NotNow
from services.lifecycle.policy import Policy


def assign_reporter(
    case: Case, command: cmd.AssignReporter, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """A reporter (記者) follows the case in the field from now on."""
    facts = admit(case, command, actor, "assign a reporter to")
    require(case, facts, AFTER_ACCEPTANCE, "assign a reporter to")
    if case.reporter_id == command.reporter_id:
        raise NotNow(f"reporter {command.reporter_id} already follows case {case.case_id}")
    return [ev.ReporterAssigned(by=actor, reporter_id=command.reporter_id)]


def record_site_visit(
    case: Case, command: cmd.RecordSiteVisit, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    facts = admit(case, command, actor, "record a site visit on")
    require(case, facts, AFTER_ACCEPTANCE, "record a site visit on")
    return [ev.SiteVisited(by=actor, note=command.note, public=command.public)]


def link_story(
    case: Case, command: cmd.LinkStory, actor: Actor, now: datetime, policy: Policy
) -> list[ev.CaseEvent]:
    """A published story (幫打聽 inquiry, 鄭在督辦 supervision column) joins the timeline."""
    facts = admit(case, command, actor, "link a story to")
    require(case, facts, AFTER_ACCEPTANCE, "link a story to")
    story = ev.StoryPublished(by=actor, title=command.title, url=command.url, column=command.column)
    return [story]
