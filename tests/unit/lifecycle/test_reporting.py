"""The newsroom's side: a reporter is assigned, visits the place, links a story."""

from __future__ import annotations

from pydantic import TypeAdapter
from unit.lifecycle.casebook import (
    OFFICER,
    POLICY,
    REPORTER,
    SIGNAL_CO,
    SUPERVISOR,
    T1,
    refusal,
    routed_case,
)

from contracts import case_commands as cmd
from contracts import case_events as ev
from services.lifecycle import reporting
from services.lifecycle.errors import NotAllowed, NotNow


def test_a_reporter_is_assigned_visits_and_links_a_story() -> None:
    story = routed_case()
    assigned = reporting.assign_reporter(story.case, cmd.AssignReporter(reporter_id="reporter-1"),
                                         SUPERVISOR, T1, POLICY)
    assert assigned == [ev.ReporterAssigned(by=SUPERVISOR, reporter_id="reporter-1")]
    followed = story.given(T1, *assigned).case
    assert "already follows" in refusal(lambda: reporting.assign_reporter(
        followed, cmd.AssignReporter(reporter_id="reporter-1"), OFFICER, T1, POLICY), NotNow)
    refusal(lambda: reporting.assign_reporter(followed, cmd.AssignReporter(reporter_id="r2"),
                                              SIGNAL_CO, T1, POLICY), NotAllowed)
    visit = reporting.record_site_visit(followed, cmd.RecordSiteVisit(note="现场四个灯全灭"),
                                        REPORTER, T1, POLICY)
    assert visit == [ev.SiteVisited(by=REPORTER, note="现场四个灯全灭", public=True)]
    refusal(lambda: reporting.record_site_visit(followed, cmd.RecordSiteVisit(note="x"), OFFICER,
                                                T1, POLICY), NotAllowed)
    story_cmd = TypeAdapter(cmd.LinkStory).validate_python(
        {"title": "王府坟菜市场门口红绿灯何时能点亮?", "url": "https://news.example/a/1",
         "column": "inquiry"})
    [published] = reporting.link_story(followed, story_cmd, REPORTER, T1, POLICY)
    assert isinstance(published, ev.StoryPublished) and published.column == "inquiry"
