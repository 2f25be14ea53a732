"""The timeline projection, told as stories: given these events, then this view."""

from __future__ import annotations

import json

from unit.tracking.tracking_stories import (
    EMAIL,
    NAME,
    PHONE,
    REFERENCE_STEPS,
    SIGNAL_CO,
    STAFF_IDS,
    STORY_TITLE,
    STORY_URL,
    SYSTEM,
    a_disputed_case,
    a_handled_case,
    a_long_handling,
    accepted,
    code_of,
    day,
    opened,
    reference_case,
    submitted,
)

from contracts import case_events as ev
from contracts.case_events import ALL_EVENTS
from contracts.facts import CaseStatus, Role
from services.lifecycle.codes import hash_tracking_code
from services.lifecycle.history import History
from services.tracking.store import fold_safely
from services.tracking.timeline import CaseView, apply, fold


def project(history: History) -> CaseView:
    view = fold(None, history.envelopes)
    assert view is not None
    return view


def test_the_reference_case_reads_as_its_steps_in_order() -> None:
    view = project(reference_case())

    steps = [(e.type, e.at.date().isoformat(), e.status.value) for e in view.timeline]
    assert steps == REFERENCE_STEPS
    assert view.seq == 8 and view.status is CaseStatus.CLOSED
    assert view.facts.department == "signal-co"
    routed_entry = view.timeline[3]
    assert routed_entry.who.role is Role.REPORTER and routed_entry.who.department is None
    assert routed_entry.what["department"] == "signal-co"
    story = view.timeline[4]
    assert story.what == {"title": STORY_TITLE, "url": STORY_URL, "column": "inquiry"}
    assert [s.title for s in view.stories] == [STORY_TITLE]
    assert view.feedback is not None and view.feedback.rating == 5
    assert view.timeline[6].private == {"comment": "灯亮了，谢谢记者和信号公司！"}
    personal = opened(view)
    assert personal is not None and personal.contact is not None
    assert personal.contact.phone == PHONE


def test_every_event_type_becomes_an_entry_with_its_status_and_actor() -> None:
    long_view = project(a_long_handling())
    rejected = project(History("ZB261009-REJ0-0004")
                       .given(day("10-09"), submitted("ZB261009-REJ0-0004"))
                       .given(day("10-09", 10), ev.CaseRejected(officer=accepted().officer,
                                                                reason="不属于受理范围")))
    erased = project(History("ZB261009-ERA0-0006")
                     .given(day("10-09"), submitted("ZB261009-ERA0-0006"))
                     .given(day("10-09", 11), ev.PersonalDataErased(by=SYSTEM,
                                                                    reason="retention")))
    assert erased.personal is None and erased.erased and erased.media == ()
    assert erased.timeline[-1].what == {"reason": "retention"} and erased.timeline[-1].public
    merged = project(History("ZB261009-DUP0-0005")
                     .given(day("10-09"), submitted("ZB261009-DUP0-0005"))
                     .given(day("10-09", 10), ev.CaseMerged(officer=accepted().officer,
                                                            into_case_id="ZB261006-WFF0-0001")))
    seen = {e.type for v in (long_view, rejected, merged, erased, project(reference_case()),
                             project(a_disputed_case()), project(a_handled_case()))
            for e in v.timeline}
    assert seen == {cls.TYPE for cls in ALL_EVENTS}

    entries = {(e.seq): e for e in long_view.timeline}
    expected: list[tuple[int, str, str, tuple[str, str | None], dict[str, object], bool]] = [
        # seq, type, status after, who (role, department), what (subset), public
        (2, "CaseAccepted", "accepted", ("officer", None),
         {"category": "water", "corrected": ["category"], "reporter": True}, True),
        (3, "ReporterAssigned", "accepted", ("supervisor", None), {}, True),
        (4, "CaseRouted", "routed", ("system", None),
         {"department": "water-co", "reason": "accepted"}, True),
        (5, "CaseAcknowledged", "acknowledged", ("department", "water-co"),
         {"department": "water-co", "note": "已派抢修班组"}, True),
        (6, "ProgressNoted", "acknowledged", ("department", "water-co"),
         {"note": "已关闭阀门，正在开挖"}, True),
        (7, "ProgressNoted", "acknowledged", ("department", "water-co"),
         {"note": "班组人手不足，明早继续"}, False),
        (8, "SiteVisited", "acknowledged", ("reporter", None), {"note": "现场围挡不规范"}, False),
        (9, "CaseReturned", "awaiting_dispatch", ("department", "water-co"),
         {"reason": "属于道路积水，非管网问题"}, True),
        (10, "CaseRouted", "routed", ("system", None),
         {"department": "roads-office", "reason": "returned"}, True),
        (11, "CaseReassigned", "routed", ("supervisor", None),
         {"department": "water-co", "from_department": "roads-office"}, True),
        (12, "CaseOverdue", "routed", ("system", None), {"department": "water-co"}, True),
        (13, "CaseEscalated", "routed", ("supervisor", None), {"reason": "overdue"}, True),
        (14, "CaseResolved", "resolved", ("department", "water-co"),
         {"resolution": "管道已修复", "on_time": False}, True),
        (15, "FeedbackGiven", "resolved", ("resident", None),
         {"fixed": False, "satisfied": False, "rating": 2}, True),
        (16, "CaseReopened", "routed", ("system", None),
         {"department": "water-co", "priority": "emergency"}, True),
        (17, "CaseResolved", "resolved", ("department", "roads-office"), {}, True),
        (18, "CaseClosed", "closed", ("system", None), {"reason": "no_answer"}, True),
    ]
    for seq, kind, status, (role, department), what, public in expected:
        entry = entries[seq]
        assert (entry.type, entry.status.value) == (kind, status), seq
        assert (entry.who.role.value, entry.who.department) == (role, department), seq
        assert what.items() <= entry.what.items(), (seq, entry.what)
        assert entry.public is public, seq
    assert entries[2].private == {"note": "疑似水管爆裂，改为供水类"}
    assert entries[13].private == {"note": "请供水公司今日办结"}
    assert entries[16].private == {"comment": "还是在漏水"}
    assert long_view.reporter_following and long_view.facts.reopened == 1

    assert rejected.status is CaseStatus.REJECTED
    assert rejected.timeline[-1].what == {"reason": "不属于受理范围"}
    assert merged.status is CaseStatus.MERGED
    assert merged.merged_into == "ZB261006-WFF0-0001"
    assert merged.timeline[-1].what == {"into": "ZB261006-WFF0-0001"}


def test_no_staff_id_or_reporter_id_reaches_the_view() -> None:
    stored = json.dumps(project(a_long_handling()).model_dump(mode="json"), ensure_ascii=False)
    stored += json.dumps(project(reference_case()).model_dump(mode="json"), ensure_ascii=False)
    for staff_id in STAFF_IDS:
        assert staff_id not in stored


def test_the_view_keeps_the_residents_details_sealed_for_their_own_eyes() -> None:
    history = reference_case()
    view = project(history)
    stored = view.model_dump_json()
    assert PHONE not in stored and NAME not in stored and EMAIL not in stored
    personal = opened(view)
    assert personal is not None and personal.contact is not None
    contact = personal.contact
    assert (contact.name, contact.phone, contact.email) == (NAME, PHONE, EMAIL)
    assert view.tracking_code_hash == hash_tracking_code(code_of(history.case_id))


def test_applying_an_event_twice_is_applying_it_once() -> None:
    envelopes = reference_case().envelopes
    once = fold(None, envelopes)
    assert once is not None
    assert fold(once, envelopes) == once
    for envelope in envelopes:
        assert apply(once, envelope) is once
    twice_each = None
    for envelope in envelopes:
        twice_each = apply(apply(twice_each, envelope), envelope)
    assert twice_each == once


def test_a_batch_out_of_order_folds_in_seq_order() -> None:
    envelopes = reference_case().envelopes
    assert fold(None, list(reversed(envelopes))) == fold(None, envelopes)


def test_a_case_first_seen_after_its_submission_starts_from_the_envelopes_facts() -> None:
    envelopes = reference_case().envelopes
    view = fold(None, envelopes[3:])
    assert view is not None and view.seq == 8 and view.status is CaseStatus.CLOSED
    assert [e.seq for e in view.timeline] == [4, 5, 6, 7, 8]
    assert view.personal is None and view.tracking_code_hash == ""


def test_an_event_the_projection_cannot_apply_is_set_aside_and_the_rest_applied() -> None:
    envelopes = reference_case().envelopes
    broken = envelopes[2].model_copy(update={"type": "CaseTeleported"})
    view, failed = fold_safely(None, [envelopes[0], envelopes[1], broken, envelopes[3]])
    assert view is not None and [e.seq for e in view.timeline] == [1, 2, 4]
    assert [(e.seq, "CaseTeleported" in reason) for e, reason in failed] == [(3, True)]


def test_a_dispute_and_the_asking_again_are_on_the_public_timeline() -> None:
    view = project(a_disputed_case().given(day("10-18", 9), ev.CaseResolved(
        by=SIGNAL_CO, resolution="已回访并致歉，灯一直正常", on_time=True)))
    tail = [(e.type, e.status.value, e.public) for e in view.timeline[4:]]
    assert tail == [
        ("ResidentAskedAgain", "resolved", True), ("FeedbackGiven", "resolved", True),
        ("CaseEscalated", "resolved", True), ("DisputeSettled", "resolved", True),
        ("CaseReopened", "routed", True), ("CaseResolved", "resolved", True)]
    assert view.timeline[4].what["closes_at"] == day("10-18", 11).isoformat()
    assert view.timeline[6].what == {"reason": "disputed"}
    assert view.timeline[7].what == {"outcome": "reopened", "note": "请信号公司回访市民并说明原因"}
    assert view.timeline[8].what["after_dispute"] is True
    assert not view.disputed


def test_a_case_is_disputed_from_the_answer_until_supervision_rules() -> None:
    story = a_disputed_case()
    until_escalated = story.envelopes[:7]
    view = fold(None, until_escalated)
    assert view is not None and view.disputed and view.facts.escalated
    assert view.feedback is not None and not view.feedback.satisfied
    settled = fold(view, story.envelopes[7:])
    assert settled is not None and not settled.disputed
