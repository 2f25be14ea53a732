"""The case is the fold of its events: one evolve per event, for the facts recorded and the case.

Given these events, then this case — the same whether the events were just decided or read back
from the log.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from unit.lifecycle.casebook import (
    HEATING_CO,
    HOUSING,
    OFFICER,
    POLICY,
    RESIDENT,
    SIGNAL_CO,
    T1,
    TRACKING_CODE,
    accepted_case,
    history,
    routed_case,
)

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import CaseStatus
from contracts.registry import read_event
from services.lifecycle import feedback, returning
from services.lifecycle.case import CHANGES_NOTHING, EVOLVE, Case, evolve, reply_cause
from services.lifecycle.errors import NotFound


def test_every_event_type_evolves_or_is_listed_as_changing_nothing() -> None:
    assert set(EVOLVE).isdisjoint(CHANGES_NOTHING)
    unhandled = {kind.__name__ for kind in ev.ALL_EVENTS} - {
        kind.__name__ for kind in (*EVOLVE, *CHANGES_NOTHING)}
    assert not unhandled, f"give these events an @evolves function, or list them: {unhandled}"
    assert set(EVOLVE) | CHANGES_NOTHING <= set(ev.ALL_EVENTS)


def test_an_event_that_changes_nothing_leaves_the_case_as_it_was() -> None:
    case = routed_case().case
    visit = ev.SiteVisited(by=OFFICER, note="到现场")
    assert evolve(case, visit, T1) is case


def test_recording_and_rebuilding_evolve_the_case_the_same_way() -> None:
    story = routed_case("heating-co", category="heating", assisting=("housing",))
    story.given(T1, *returning.return_case(story.case, cmd.ReturnCase(reason="是物业的管道"),
                                           HEATING_CO, T1, POLICY))
    story.given(T1, ev.CaseResolved(by=HOUSING, resolution="修好了", on_time=True))
    story.given(T1, *feedback.give_feedback(story.case, cmd.GiveFeedback(fixed=False, satisfied=False,
                                                                 rating=1),
                                            RESIDENT, T1, POLICY, tracking_code=TRACKING_CODE))
    case = Case(case_id=story.case.case_id)
    for envelope in story.envelopes:
        evolved = evolve(case, read_event(envelope), envelope.occurred_at)
        case = case.apply(envelope)
        assert evolved.facts == envelope.facts == case.facts, envelope.type
        assert evolved == case.model_copy(update={"version": evolved.version,
                                                  "last_event_at": evolved.last_event_at,
                                                  "from_history": evolved.from_history})
    assert case == story.case
    # not fixed reopens the case: a dispute is fixed-but-not-satisfied only
    assert (case.returned_by, case.disputed, case.require_facts().reopened) == (
        ("heating-co",), False, 1)


def test_a_recorded_event_keeps_the_facts_it_was_recorded_with() -> None:
    story = accepted_case()
    [envelope], _ = story.case.record([ev.CaseAcknowledged(by=SIGNAL_CO)], at=T1,
                                      recorded_at=T1, producer="routing", correlation_id="c",
                                      cause="old")
    # an old event in the log, recorded under rules that gave other facts than today's
    old = envelope.model_copy(update={"facts": envelope.facts.model_copy(
        update={"status": CaseStatus.ROUTED, "department": "signal-co"})})
    applied = story.case.apply(old)
    assert applied.facts == old.facts and applied.version == envelope.seq


def test_a_case_whose_submission_was_not_seen_starts_from_the_recorded_facts() -> None:
    story = routed_case()
    known_late = Case(case_id=story.case.case_id).fold(story.envelopes[2:])
    assert known_late.facts == story.case.facts and known_late.assisting == story.case.assisting


def test_nothing_happens_to_a_case_before_it_is_submitted() -> None:
    with pytest.raises(NotFound):
        Case(case_id="ZB-NOPE").record([ev.CaseEscalated(reason="manual", by=OFFICER)], at=T1,
                                       recorded_at=T1, producer="routing", correlation_id="c",
                                       cause="x")
    assert history().case.facts is None


def test_an_event_is_never_dated_before_the_one_it_follows() -> None:
    # given a case routed on T1, when a department whose clock is five minutes behind
    # acknowledges it then: the acknowledgement is dated at the routing, not before
    story = routed_case()
    routed_at = story.case.last_event_at
    assert routed_at is not None
    [acknowledged], case = story.case.record(
        [ev.CaseAcknowledged(by=SIGNAL_CO)], at=routed_at - timedelta(minutes=5),
        recorded_at=routed_at - timedelta(minutes=5), producer="routing",
        correlation_id="c", cause="ack")
    assert acknowledged.occurred_at == routed_at == case.require_facts().first_response_at
    assert acknowledged.recorded_at == routed_at - timedelta(minutes=5)  # what its clock said
    # and an event later than the last keeps its own moment
    [resolved], _ = case.record([ev.CaseResolved(by=SIGNAL_CO, resolution="修好了", on_time=True)],
                                at=routed_at + timedelta(hours=1), recorded_at=routed_at,
                                producer="routing", correlation_id="c", cause="resolve")
    assert resolved.occurred_at == routed_at + timedelta(hours=1)


def test_a_case_knows_the_department_replies_it_took_as_recorded_and_as_read_back() -> None:
    # a copy of a reply is known by the case itself (routing records nothing for it): the
    # causes of the replies taken, whichever way the case was made, and nothing else's
    story = routed_case()
    acknowledged = reply_cause("signal-co", "sig-1")
    assert acknowledged != reply_cause("water-co", "sig-1")  # reply ids are each sender's own
    envelopes, after = story.case.record([ev.CaseAcknowledged(by=SIGNAL_CO)], at=T1,
                                         recorded_at=T1, producer="routing",
                                         correlation_id=acknowledged, cause=acknowledged)
    noted, later = after.record([ev.CaseEscalated(reason="manual", by=OFFICER)], at=T1,
                                recorded_at=T1, producer="routing", correlation_id="c",
                                cause="cmd/escalate-1")
    assert later.replies == after.replies == (acknowledged,)
    read_back = Case(case_id=story.case.case_id).fold([*story.envelopes, *envelopes, *noted])
    assert read_back == later
    # the same reply again (at least once delivery) adds nothing
    assert later.replies_after(acknowledged) == (acknowledged,)
