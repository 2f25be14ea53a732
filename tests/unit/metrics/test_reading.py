"""What the figures read of a record of the case log (`reading.read_counted`): the facts they
count and the answers they tally, validated; nothing else of the record, and nothing it cannot
read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import case_events as ev
from contracts.envelope import Envelope, derived_id
from contracts.facts import Actor, CaseFacts, CaseStatus, Channel, Priority, Role
from contracts.registry import record
from services.common.bus import Poison
from services.metrics.reading import CountedFacts, read_counted

AT = datetime(2026, 10, 6, 9, 30, tzinfo=UTC)
FACTS = CaseFacts(status=CaseStatus.RESOLVED, category="traffic-signals", district="zhongyuan",
                  channel=Channel.HOTLINE, priority=Priority.GENERAL, department="traffic-police",
                  submitted_at=AT, accepted_at=AT + timedelta(minutes=5),
                  first_response_at=AT + timedelta(hours=1),
                  resolved_at=AT + timedelta(hours=20), resolved_on_time=True, reopened=1)


def wrap(event: ev.CaseEvent, seq: int = 7) -> Envelope:
    return record(event, event_id=derived_id("test", seq), case_id="ZB261006-AAAA-BBBB", seq=seq,
                  occurred_at=AT, recorded_at=AT, producer="test", correlation_id="corr",
                  causation_id=None, facts=FACTS)


def altered(envelope: Envelope, facts: dict[str, Any] | None = None, **fields: Any) -> bytes:
    """The envelope's JSON with `fields` (and some of its `facts`) as a broken producer, or a
    hand, could have written them."""
    wire = json.loads(envelope.to_bytes())
    wire.update(fields)
    wire["facts"].update(facts or {})
    return json.dumps(wire).encode()


def test_a_record_reads_as_its_case_seq_and_the_facts_the_figures_count() -> None:
    envelope = wrap(ev.CaseResolved(by=Actor(role=Role.DEPARTMENT, department="traffic-police"),
                                    resolution="换了信号灯控制器", on_time=True))
    counted = read_counted(envelope.to_bytes())
    assert (counted.case_id, counted.seq, counted.type) == (envelope.case_id, 7, "CaseResolved")
    assert counted.event_id == str(envelope.event_id)
    facts = counted.facts
    assert (facts.status, facts.category, facts.district, facts.channel, facts.department) == (
        CaseStatus.RESOLVED, "traffic-signals", "zhongyuan", Channel.HOTLINE, "traffic-police")
    assert (facts.submitted_at, facts.accepted_at, facts.first_response_at, facts.resolved_at) \
        == (FACTS.submitted_at, FACTS.accepted_at, FACTS.first_response_at, FACTS.resolved_at)
    assert (facts.resolved_on_time, facts.reopened) == (True, 1)
    assert counted.answer == ()


@pytest.mark.parametrize(("event", "answer"), [
    (ev.FeedbackGiven(fixed=True, satisfied=True, rating=5), ("feedback", "satisfied")),
    (ev.FeedbackGiven(fixed=False, satisfied=False, rating=1), ("feedback",)),
    (ev.CaseClosed(reason="no_answer"), ("unanswered",)),
    (ev.CaseClosed(reason="confirmed"), ()),
])
def test_an_answer_is_read_from_its_event(event: ev.CaseEvent, answer: tuple[str, ...]) -> None:
    assert read_counted(wrap(event).to_bytes()).answer == answer


def test_an_events_data_the_figures_do_not_read_is_not_their_concern() -> None:
    # an acceptance is counted from its facts: what its data says is every other consumer's
    broken_accept = altered(wrap(ev.CaseClosed(reason="confirmed")), type="CaseAccepted",
                            data={"officer": "not an actor"})
    assert read_counted(broken_accept).type == "CaseAccepted"


@pytest.mark.parametrize(("raw", "reason"), [
    (altered(wrap(ev.FeedbackGiven(fixed=True, satisfied=True, rating=5)),
             data={"fixed": True, "satisfied": True, "rating": 11}), "rating"),
    (altered(wrap(ev.CaseClosed(reason="confirmed")), data={"reason": "bored"}), "reason"),
    (altered(wrap(ev.CaseClosed(reason="confirmed")), type="CaseTeleported"),
     "unknown event type"),
    (altered(wrap(ev.CaseClosed(reason="confirmed")), schema_version=9), "newer than this code"),
    (altered(wrap(ev.CaseClosed(reason="confirmed")), facts={"status": "lost"}), "facts.status"),
    (altered(wrap(ev.CaseClosed(reason="confirmed")), facts={"submitted_at": "yesterday"}),
     "facts.submitted_at"),
    (altered(wrap(ev.CaseClosed(reason="confirmed")), facts={"district": None}),
     "facts.district"),
    (altered(wrap(ev.CaseClosed(reason="confirmed")), seq=0), "seq"),
    (b'{"type": "CaseClosed"', "invalid"),
])
def test_a_record_the_figures_cannot_read_is_poison_saying_what_is_wrong(
        raw: bytes, reason: str) -> None:
    with pytest.raises(Poison, match=reason):
        read_counted(raw)


def test_a_record_cannot_bring_an_answer_of_its_own() -> None:
    for event in (ev.CaseClosed(reason="confirmed"), ev.FeedbackGiven(fixed=True,
                                                                     satisfied=False, rating=2)):
        with pytest.raises(Poison, match="answer"):
            read_counted(altered(wrap(event), answer=["feedback", "satisfied"]))


def test_the_facts_counted_are_the_contracts_facts_under_the_same_names_and_types() -> None:
    # a subset of `CaseFacts`, kept by hand: a field the contract changes must change here too
    for name, counted_field in CountedFacts.model_fields.items():
        contract = CaseFacts.model_fields[name]
        assert (counted_field.annotation, counted_field.default) == (
            contract.annotation, contract.default), name
