"""Given a case, when someone gives a command, then these events — or this refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import TypeAdapter
from unit.routing.casebook import (
    ADMIN,
    CITY_WITHOUT_SIGNAL_RULE,
    HEATING_CO,
    HOUSING,
    OFFICER,
    POLICY,
    REPORTER,
    RESIDENT,
    SIGNAL_CO,
    SUPERVISOR,
    T0,
    TRACKING_CODE,
    WATER_CO,
    Story,
    accepted_case,
    resolved_case,
    routed_case,
)
from unit.routing.casebook import submitted as submitted_event

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import SYSTEM, Actor, CaseStatus, Priority, Role
from services.common.case import Case, Refused
from services.routing import handling
from services.routing.dispatch import Policy

T1 = T0 + timedelta(days=1)


def refusal(decide: object, status: int) -> str:
    """Run `decide()`, which must be refused with `status`; the reason, for the reader."""
    with pytest.raises(Refused) as refused:
        decide()  # type: ignore[operator]
    assert refused.value.status == status, refused.value.reason
    return refused.value.reason


# --- routing by hand ------------------------------------------------------------


def test_an_officer_routes_an_accepted_case_by_the_rules() -> None:
    case = accepted_case().case
    events = handling.route(case, cmd.RouteCase(), OFFICER, T1, POLICY)
    assert events == [ev.CaseRouted(
        department="signal-co", assisting=(), due_at=T1 + timedelta(days=7),
        priority=Priority.GENERAL, rule="traffic-signals@*", reason="manual", by=OFFICER)]


def test_a_reporter_routes_to_the_department_named_as_in_the_reference_case() -> None:
    case = accepted_case(reporter_id="reporter-1").case
    events = handling.route(case, cmd.RouteCase(department="signal-co"), REPORTER, T1, POLICY)
    assert isinstance(events[0], ev.CaseRouted)
    assert (events[0].department, events[0].rule, events[0].by) == (
        "signal-co", "traffic-signals@*", REPORTER)


def test_routing_by_hand_against_the_rules_is_recorded_as_manual() -> None:
    case = accepted_case().case
    [event] = handling.route(case, cmd.RouteCase(department="roads-office"), OFFICER, T1, POLICY)
    assert isinstance(event, ev.CaseRouted)
    assert (event.department, event.rule, event.assisting) == ("roads-office", "manual", ())


def test_routing_refusals() -> None:
    accepted = accepted_case().case
    routed = routed_case().case
    reason = refusal(lambda: handling.route(routed, cmd.RouteCase(), OFFICER, T1, POLICY), 409)
    assert "already with signal-co" in reason and "reassign" in reason
    refusal(lambda: handling.route(accepted, cmd.RouteCase(), SIGNAL_CO, T1, POLICY), 403)
    reason = refusal(lambda: handling.route(
        accepted, cmd.RouteCase(department="no-such-office"), OFFICER, T1, POLICY), 422)
    assert "no-such-office" in reason
    no_rule = Policy(city=CITY_WITHOUT_SIGNAL_RULE)
    reason = refusal(lambda: handling.route(accepted, cmd.RouteCase(), OFFICER, T1, no_rule), 409)
    assert "name the department" in reason
    refusal(lambda: handling.route(Case(case_id="ZB-NOPE"), cmd.RouteCase(), OFFICER, T1,
                                   POLICY), 404)


def test_a_case_not_yet_accepted_or_finished_takes_no_command() -> None:
    submitted = Story().given(submitted_event(), producer="intake")
    assert "not been accepted" in refusal(
        lambda: handling.route(submitted.case, cmd.RouteCase(), OFFICER, T1, POLICY), 409)
    closed = resolved_case().given(ev.CaseClosed(reason="no_answer"), at=T1).case
    assert "closed" in refusal(lambda: handling.note_progress(
        closed, cmd.NoteProgress(note="还在修"), SIGNAL_CO, T1, POLICY), 409)
    rejected = Story().given(submitted_event(), producer="intake").given(
        ev.CaseRejected(officer=OFFICER, reason="不属于受理范围"), producer="intake").case
    assert "rejected" in refusal(
        lambda: handling.escalate(rejected, cmd.EscalateCase(), SUPERVISOR, T1, POLICY), 409)
    merged = Story().given(submitted_event(), producer="intake").given(
        ev.CaseMerged(officer=OFFICER, into_case_id="ZB251006-AAAA-BBBB"), producer="intake").case
    assert "ZB251006-AAAA-BBBB" in refusal(lambda: handling.record_site_visit(
        merged, cmd.RecordSiteVisit(note="到现场"), REPORTER, T1, POLICY), 409)


# --- the department's side ------------------------------------------------------


def test_the_department_acknowledges_its_case_once() -> None:
    story = routed_case()
    events = handling.acknowledge(story.case, cmd.AcknowledgeCase(note="已派员"), SIGNAL_CO, T1,
                                  POLICY)
    assert events == [ev.CaseAcknowledged(by=SIGNAL_CO, note="已派员")]
    acknowledged = story.then(events, T1)
    assert acknowledged.facts and acknowledged.facts.first_response_at == T1
    assert "already acknowledged" in refusal(lambda: handling.acknowledge(
        acknowledged, cmd.AcknowledgeCase(), SIGNAL_CO, T1, POLICY), 409)


def test_a_department_acts_only_on_its_own_cases() -> None:
    case = routed_case().case
    reason = refusal(lambda: handling.acknowledge(case, cmd.AcknowledgeCase(), WATER_CO, T1,
                                                  POLICY), 403)
    assert "with signal-co" in reason and "water-co" in reason
    refusal(lambda: handling.resolve(case, cmd.ResolveCase(resolution="修好了"), WATER_CO, T1,
                                     POLICY), 403)
    refusal(lambda: handling.return_case(case, cmd.ReturnCase(reason="不归我们"), WATER_CO, T1,
                                         POLICY), 403)
    refusal(lambda: handling.note_progress(case, cmd.NoteProgress(note="x"), WATER_CO, T1,
                                           POLICY), 403)


def test_an_assisting_department_notes_progress_but_does_not_resolve() -> None:
    case = routed_case("heating-co", category="heating", assisting=("housing",)).case
    events = handling.note_progress(case, cmd.NoteProgress(note="已协调物业", public=False),
                                    HOUSING, T1, POLICY)
    assert events == [ev.ProgressNoted(by=HOUSING, note="已协调物业", public=False)]
    refusal(lambda: handling.resolve(case, cmd.ResolveCase(resolution="好了"), HOUSING, T1,
                                     POLICY), 403)


def test_progress_notes_come_from_everyone_handling_the_case() -> None:
    case = routed_case().case
    for actor in (SIGNAL_CO, OFFICER, REPORTER, SUPERVISOR, ADMIN):
        [event] = handling.note_progress(case, cmd.NoteProgress(note="进展"), actor, T1, POLICY)
        assert isinstance(event, ev.ProgressNoted) and event.by == actor
    refusal(lambda: handling.note_progress(case, cmd.NoteProgress(note="进展"), RESIDENT, T1,
                                           POLICY), 403)


# --- returning a case: the one place to read what happens -------------------------


def test_a_returned_case_goes_to_the_assisting_department() -> None:
    story = routed_case("heating-co", category="heating", assisting=("housing",),
                        priority=Priority.UTILITIES)
    events = handling.return_case(story.case, cmd.ReturnCase(reason="是物业的管道"), HEATING_CO,
                                  T1, POLICY)
    assert events == [
        ev.CaseReturned(by=HEATING_CO, reason="是物业的管道"),
        ev.CaseRouted(department="housing", assisting=(), due_at=T1 + timedelta(hours=24),
                      priority=Priority.UTILITIES, rule="heating@*", reason="returned",
                      by=SYSTEM),
    ]
    rerouted = story.then(events, T1)
    assert rerouted.facts and rerouted.facts.department == "housing"
    assert rerouted.returned_by == ("heating-co",)
    # housing returns it too: no department is left that has not, so the officers route it
    back_again = handling.return_case(rerouted, cmd.ReturnCase(reason="也不是我们"), HOUSING,
                                      T1, POLICY)
    assert back_again == [ev.CaseReturned(by=HOUSING, reason="也不是我们")]
    waiting = story.then(back_again, T1)
    assert waiting.facts and waiting.facts.status is CaseStatus.AWAITING_DISPATCH
    assert waiting.facts.department is None and waiting.facts.due_at is None
    assert "name the department" in refusal(
        lambda: handling.route(waiting, cmd.RouteCase(), OFFICER, T1, POLICY), 409)
    [by_hand] = handling.route(waiting, cmd.RouteCase(department="heating-co"), OFFICER, T1,
                               POLICY)
    assert isinstance(by_hand, ev.CaseRouted) and by_hand.department == "heating-co"


def test_a_district_rule_falls_back_to_the_city_wide_one_when_its_departments_return() -> None:
    story = accepted_case("roads", "jinshui").given(ev.CaseRouted(
        department="jinshui-roads", assisting=("roads-office",), due_at=T0 + timedelta(days=7),
        priority=Priority.GENERAL, rule="roads@jinshui", by=SYSTEM))
    jinshui = Actor(role=Role.DEPARTMENT, department="jinshui-roads")
    events = handling.return_case(story.case, cmd.ReturnCase(reason="市管道路"), jinshui, T1,
                                  POLICY)
    assert [type(e) for e in events] == [ev.CaseReturned, ev.CaseRouted]
    assert isinstance(events[1], ev.CaseRouted) and events[1].department == "roads-office"


def test_a_case_with_no_other_department_waits_for_the_officers() -> None:
    events = handling.return_case(routed_case().case, cmd.ReturnCase(reason="不是信号灯问题"),
                                  SIGNAL_CO, T1, POLICY)
    assert events == [ev.CaseReturned(by=SIGNAL_CO, reason="不是信号灯问题")]


def test_only_a_case_in_hand_can_be_returned() -> None:
    case = resolved_case().case
    assert "resolved" in refusal(lambda: handling.return_case(
        case, cmd.ReturnCase(reason="不归我们"), SIGNAL_CO, T1, POLICY), 409)


# --- resolution -----------------------------------------------------------------


def test_a_resolution_is_on_time_until_the_deadline_and_late_after_it() -> None:
    story = routed_case(due_in=timedelta(days=7))
    due = T0 + timedelta(days=7)
    [on_time] = handling.resolve(story.case, cmd.ResolveCase(resolution="四个灯都亮了"),
                                 SIGNAL_CO, due, POLICY)
    [late] = handling.resolve(story.case, cmd.ResolveCase(resolution="四个灯都亮了"),
                              SIGNAL_CO, due + timedelta(seconds=1), POLICY)
    assert isinstance(on_time, ev.CaseResolved) and on_time.on_time is True
    assert isinstance(late, ev.CaseResolved) and late.on_time is False


def test_a_reporter_confirming_on_site_may_resolve() -> None:
    [event] = handling.resolve(routed_case().case, cmd.ResolveCase(resolution="复访：灯都亮了"),
                               REPORTER, T1, POLICY)
    assert isinstance(event, ev.CaseResolved) and event.by == REPORTER


def test_a_case_cannot_be_resolved_before_it_is_routed_nor_twice() -> None:
    assert "before it is routed" in refusal(lambda: handling.resolve(
        accepted_case().case, cmd.ResolveCase(resolution="好了"), SUPERVISOR, T1, POLICY), 409)
    assert "already resolved" in refusal(lambda: handling.resolve(
        resolved_case().case, cmd.ResolveCase(resolution="好了"), SIGNAL_CO, T1, POLICY), 409)
    refusal(lambda: handling.resolve(routed_case().case, cmd.ResolveCase(resolution="好了"),
                                     OFFICER, T1, POLICY), 403)


# --- supervision and the newsroom -------------------------------------------------


def test_a_supervisor_reassigns_with_a_new_deadline() -> None:
    case = routed_case().case
    events = handling.reassign(case, cmd.ReassignCase(department="roads-office", reason="路面问题"),
                               SUPERVISOR, T1, POLICY)
    assert events == [ev.CaseReassigned(by=SUPERVISOR, from_department="signal-co",
                                        to_department="roads-office",
                                        due_at=T1 + timedelta(days=7), reason="路面问题")]
    refusal(lambda: handling.reassign(case, cmd.ReassignCase(department="roads-office",
                                                             reason="路面问题"),
                                      OFFICER, T1, POLICY), 403)
    assert "already with" in refusal(lambda: handling.reassign(
        case, cmd.ReassignCase(department="signal-co", reason="再试"), SUPERVISOR, T1, POLICY),
        409)
    refusal(lambda: handling.reassign(case, cmd.ReassignCase(department="nowhere", reason="再试"),
                                      SUPERVISOR, T1, POLICY), 422)
    refusal(lambda: handling.reassign(accepted_case().case, cmd.ReassignCase(
        department="roads-office", reason="再试"), SUPERVISOR, T1, POLICY), 409)


def test_a_reporter_is_assigned_visits_and_links_a_story() -> None:
    story = routed_case()
    assigned = handling.assign_reporter(story.case, cmd.AssignReporter(reporter_id="reporter-1"),
                                        SUPERVISOR, T1, POLICY)
    assert assigned == [ev.ReporterAssigned(by=SUPERVISOR, reporter_id="reporter-1")]
    followed = story.then(assigned, T1)
    assert "already follows" in refusal(lambda: handling.assign_reporter(
        followed, cmd.AssignReporter(reporter_id="reporter-1"), OFFICER, T1, POLICY), 409)
    refusal(lambda: handling.assign_reporter(followed, cmd.AssignReporter(reporter_id="r2"),
                                             SIGNAL_CO, T1, POLICY), 403)
    visit = handling.record_site_visit(followed, cmd.RecordSiteVisit(note="现场四个灯全灭"),
                                       REPORTER, T1, POLICY)
    assert visit == [ev.SiteVisited(by=REPORTER, note="现场四个灯全灭", public=True)]
    refusal(lambda: handling.record_site_visit(followed, cmd.RecordSiteVisit(note="x"), OFFICER,
                                               T1, POLICY), 403)
    story_cmd = TypeAdapter(cmd.LinkStory).validate_python(
        {"title": "王府坟菜市场门口红绿灯何时能点亮?", "url": "https://news.example/a/1",
         "column": "inquiry"})
    [published] = handling.link_story(followed, story_cmd, REPORTER, T1, POLICY)
    assert isinstance(published, ev.StoryPublished) and published.column == "inquiry"


def test_a_supervisor_escalates_once() -> None:
    story = routed_case()
    events = handling.escalate(story.case, cmd.EscalateCase(note="督办"), SUPERVISOR, T1, POLICY)
    assert events == [ev.CaseEscalated(reason="manual", by=SUPERVISOR, note="督办")]
    escalated = story.then(events, T1)
    assert "already under supervision" in refusal(lambda: handling.escalate(
        escalated, cmd.EscalateCase(), SUPERVISOR, T1, POLICY), 409)
    refusal(lambda: handling.escalate(routed_case().case, cmd.EscalateCase(), REPORTER, T1,
                                      POLICY), 403)


# --- the resident's answer --------------------------------------------------------


def test_fixed_closes_the_case() -> None:
    case = resolved_case().case
    command = cmd.GiveFeedback(fixed=True, satisfied=True, rating=5, comment="谢谢")
    events = handling.give_feedback(case, command, RESIDENT, T1, POLICY,
                                    tracking_code=TRACKING_CODE.lower())
    assert events == [ev.FeedbackGiven(fixed=True, satisfied=True, rating=5, comment="谢谢"),
                      ev.CaseClosed(reason="confirmed")]


def test_not_fixed_reopens_to_the_same_department_more_urgent() -> None:
    story = resolved_case()
    later = T0 + timedelta(days=3)
    command = cmd.GiveFeedback(fixed=False, satisfied=False, rating=1, comment="又灭了")
    events = handling.give_feedback(story.case, command, RESIDENT, later, POLICY,
                                    tracking_code=TRACKING_CODE)
    assert events == [
        ev.FeedbackGiven(fixed=False, satisfied=False, rating=1, comment="又灭了"),
        ev.CaseReopened(department="signal-co", priority=Priority.UTILITIES,
                        due_at=later + timedelta(hours=24), comment="又灭了", was_on_time=True),
    ]
    reopened = story.then(events, later)
    assert reopened.facts is not None
    assert (reopened.facts.status, reopened.facts.department, reopened.facts.reopened) == (
        CaseStatus.ROUTED, "signal-co", 1)
    assert reopened.disputed


def test_an_emergency_stays_an_emergency_when_reopened() -> None:
    assert Priority.EMERGENCY.raised() is Priority.EMERGENCY
    story = routed_case("gas-co", category="gas", priority=Priority.EMERGENCY,
                        due_in=timedelta(hours=2)).given(
        ev.CaseResolved(by=SIGNAL_CO, resolution="已关阀", on_time=True), at=T0)
    [_, reopened] = handling.give_feedback(
        story.case, cmd.GiveFeedback(fixed=False, rating=1), RESIDENT, T1, POLICY,
        tracking_code=TRACKING_CODE)
    assert isinstance(reopened, ev.CaseReopened)
    assert (reopened.priority, reopened.due_at) == (Priority.EMERGENCY, T1 + timedelta(hours=2))


def test_feedback_needs_the_tracking_code_and_a_resolution() -> None:
    command = cmd.GiveFeedback(fixed=True, rating=4)
    assert "tracking code" in refusal(lambda: handling.give_feedback(
        resolved_case().case, command, RESIDENT, T1, POLICY, tracking_code="0000-0000-0000-0000"),
        403)
    refusal(lambda: handling.give_feedback(resolved_case().case, command, RESIDENT, T1, POLICY,
                                           tracking_code=None), 403)
    assert "routed" in refusal(lambda: handling.give_feedback(
        routed_case().case, command, RESIDENT, T1, POLICY, tracking_code=TRACKING_CODE), 409)
    refusal(lambda: handling.give_feedback(resolved_case().case, command, OFFICER, T1, POLICY,
                                           tracking_code=TRACKING_CODE), 403)


# --- replies from a department's own system -----------------------------------------


def test_a_department_reply_runs_as_its_command_given_by_that_department() -> None:
    replies: TypeAdapter[object] = TypeAdapter(cmd.DepartmentReply)
    reply = replies.validate_python({"action": "acknowledge", "reply_id": "r-1",
                                     "case_id": "ZB251006-TEST-0001", "department": "signal-co"})
    decide = handling.reply_decision(reply)  # type: ignore[arg-type]
    [event] = decide(routed_case().case, T1, POLICY)
    assert isinstance(event, ev.CaseAcknowledged)
    assert event.by == Actor(role=Role.DEPARTMENT, department="signal-co")
    wrong = replies.validate_python({"action": "resolve", "reply_id": "r-2",
                                     "case_id": "ZB251006-TEST-0001", "department": "water-co",
                                     "resolution": "好了"})
    refusal(lambda: handling.reply_decision(wrong)(routed_case().case, T1, POLICY), 403)  # type: ignore[arg-type]


def test_every_command_has_its_roles() -> None:
    commands = {c for c in vars(cmd).values()
                if isinstance(c, type) and issubclass(c, cmd.Command)
                and c.__name__.endswith(("Case", "Progress", "Reporter", "Visit", "Story",
                                         "Feedback"))
                and c.__name__ not in {"SubmitCase", "AcceptCase", "RejectCase", "MergeCase"}}
    assert commands == set(handling.ROLES)


# --- every command, the same two refusals ---------------------------------------------

STORY = cmd.LinkStory.model_validate({"title": "红绿灯何时能点亮?", "url": "https://news.example/1"})
EVERY_COMMAND = [
    # (decide, command, someone allowed, someone not allowed)
    (handling.route, cmd.RouteCase(), OFFICER, SIGNAL_CO),
    (handling.acknowledge, cmd.AcknowledgeCase(), SIGNAL_CO, REPORTER),
    (handling.note_progress, cmd.NoteProgress(note="进展"), SIGNAL_CO, RESIDENT),
    (handling.return_case, cmd.ReturnCase(reason="不归我们"), SIGNAL_CO, SUPERVISOR),
    (handling.resolve, cmd.ResolveCase(resolution="好了"), SIGNAL_CO, OFFICER),
    (handling.reassign, cmd.ReassignCase(department="water-co", reason="移交"), SUPERVISOR,
     OFFICER),
    (handling.assign_reporter, cmd.AssignReporter(reporter_id="reporter-9"), SUPERVISOR,
     REPORTER),
    (handling.record_site_visit, cmd.RecordSiteVisit(note="到现场"), REPORTER, SUPERVISOR),
    (handling.link_story, STORY, REPORTER, OFFICER),
    (handling.escalate, cmd.EscalateCase(), SUPERVISOR, SIGNAL_CO),
]


@pytest.mark.parametrize(("decide", "command", "allowed", "other"), EVERY_COMMAND,
                         ids=[type(c[1]).__name__ for c in EVERY_COMMAND])
def test_a_closed_case_takes_nothing_and_roles_are_checked(
    decide: object, command: cmd.Command, allowed: Actor, other: Actor,
) -> None:
    closed = resolved_case().given(ev.CaseClosed(reason="confirmed"), at=T1).case
    assert "closed" in refusal(lambda: decide(closed, command, allowed, T1, POLICY), 409)  # type: ignore[operator]
    routed = routed_case().case
    assert "may not" in refusal(lambda: decide(routed, command, other, T1, POLICY), 403)  # type: ignore[operator]
    assert handling.ROLES[type(command)] >= {allowed.role, Role.ADMIN}
