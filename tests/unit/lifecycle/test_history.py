"""The story kit itself (`services/lifecycle/history.py`), told as stories.

Given a story told through the kit, then its envelopes are the ones recording by
hand gives, its case is the case they fold to, and telling it again gives the
same ids; when a command is refused, nothing is recorded.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr
from unit.lifecycle.casebook import (
    OFFICER,
    POLICY,
    SIGNAL_CO,
    T0,
    a_submission,
    accepted,
    routed_to,
    submitted,
)

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.facts import CaseStatus
from services.lifecycle import handling
from services.lifecycle.case import Case
from services.lifecycle.errors import NotAllowed
from services.lifecycle.history import Chronicle, History, cause_of

T1 = T0 + timedelta(hours=1)
WEEK = timedelta(days=7)
CASE_ID = "ZB251006-KIT0-0001"


def told(case_id: str = CASE_ID) -> History:
    """Submitted, accepted and routed (given), then acknowledged by the department (when)."""
    return (History(case_id, policy=POLICY, producer="history:test")
            .given(T0, submitted(), accepted(), routed_to("signal-co", due_at=T0 + WEEK))
            .when(T1, handling.acknowledge, cmd.AcknowledgeCase(note="已派员"), by=SIGNAL_CO))


def test_a_story_told_through_the_kit_is_what_recording_by_hand_gives() -> None:
    by_hand = Case(case_id=CASE_ID)
    given = by_hand.record([submitted(), accepted(), routed_to("signal-co", due_at=T0 + WEEK)],
                           at=T0, recorded_at=T0,
                           producer="history:test", correlation_id=f"test/{CASE_ID}/0",
                           cause=f"test/{CASE_ID}/0").envelopes
    by_hand = by_hand.fold(given)
    when = by_hand.record([ev.CaseAcknowledged(by=SIGNAL_CO, note="已派员")], at=T1,
                          recorded_at=T1, producer="history:test",
                          correlation_id=f"test/{CASE_ID}/3", cause=f"test/{CASE_ID}/3").envelopes
    story = told()
    assert story.envelopes == [*given, *when]
    assert story.latest == when
    assert story.case == by_hand.fold(when) == Case(case_id=CASE_ID).fold(story.envelopes)
    assert story.facts.status is CaseStatus.ACKNOWLEDGED and story.case.from_history


def test_deciding_twice_with_the_same_cause_gives_the_same_ids() -> None:
    assert [e.event_id for e in told().envelopes] == [e.event_id for e in told().envelopes]
    # a retry, a little later, finds the case where it stood: the same cause, the same ids
    once, twice = told(), told()
    once.when(T1, handling.note_progress, cmd.NoteProgress(note="在修"), by=SIGNAL_CO)
    twice.when(T1 + timedelta(minutes=5), handling.note_progress, cmd.NoteProgress(note="在修"),
               by=SIGNAL_CO)
    assert once.latest[0].causation_id == twice.latest[0].causation_id == cause_of(
        "history:test", CASE_ID, 4)
    assert once.latest[0].event_id == twice.latest[0].event_id
    assert told().envelopes[0].event_id != told("ZB251006-KIT0-0002").envelopes[0].event_id


def test_a_refused_command_records_nothing() -> None:
    story = told()
    before = list(story.envelopes)
    with pytest.raises(NotAllowed):
        story.when(T1, handling.resolve, cmd.ResolveCase(resolution="好了"), by=OFFICER)
    assert story.envelopes == before


def test_acceptance_brings_routings_reaction_and_the_resident_answers_with_their_code() -> None:
    city = Chronicle(POLICY, "history:test", SecretStr("kit"))
    story = city.of(CASE_ID)
    story.submit(T0, a_submission()).accept(T0, cmd.AcceptCase(), by=OFFICER)
    assert [e.type for e in story.latest] == ["CaseAccepted", "CaseRouted"]
    story.when(T1, handling.resolve, cmd.ResolveCase(resolution="灯亮了"), by=story.lead)
    story.give_feedback(T1, cmd.GiveFeedback(fixed=True, satisfied=True, rating=5))
    assert story.facts.status is CaseStatus.CLOSED
    other = city.of("ZB251006-KIT0-0000").submit(T1, a_submission())
    assert city.envelopes == sorted([*story.envelopes, *other.envelopes],
                                    key=lambda e: (e.occurred_at, e.case_id, e.seq))


def test_a_retold_story_is_the_story_told_of_another_case_at_other_times() -> None:
    template = History("ZB-KIND").given(T0, submitted(anonymous=True)).given(
        T1, ev.CaseRejected(officer=OFFICER, reason="不属于受理范围"))
    later = [T0 + timedelta(days=3), T1 + timedelta(days=4)]
    retold = template.retold(CASE_ID, later)
    assert retold == History(CASE_ID).given(later[0], submitted(anonymous=True)).given(
        later[1], ev.CaseRejected(officer=OFFICER, reason="不属于受理范围")).envelopes


def test_a_story_with_personal_data_is_not_retold() -> None:
    """Its personal data is sealed with its own case's key, which no other case shares."""
    template = History("ZB-KIND").given(T0, submitted())
    with pytest.raises(ValueError, match="personal data"):
        template.retold(CASE_ID, [T0])
