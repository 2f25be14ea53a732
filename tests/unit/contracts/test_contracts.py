"""The shared language: events survive the log byte for byte, old versions still read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from contracts import case_events as ev
from contracts.envelope import Envelope, derived_id
from contracts.facts import Actor, CaseFacts, CaseStatus, Channel, Location, Priority, Role
from contracts.personal import PersonalData
from contracts.registry import EVENT_TYPES, UnreadableEvent, read_event, record
from contracts.schemas import SCHEMA_DIR, all_schemas, render
from services.common.keys import KeyRing

AT = datetime(2026, 10, 6, 9, 30, tzinfo=UTC)
FACTS = CaseFacts(status=CaseStatus.SUBMITTED, category="traffic-signals", district="zhongyuan",
                  channel=Channel.WEB, priority=Priority.GENERAL, submitted_at=AT)
REPORTER = Actor(role=Role.REPORTER, staff_id="reporter-1")


def wrap(event: ev.CaseEvent, seq: int = 1) -> Envelope:
    return record(event, event_id=derived_id("test", seq), case_id="ZB261006-AAAA-BBBB", seq=seq,
                  occurred_at=AT, recorded_at=AT, producer="test", correlation_id="corr",
                  causation_id=None, facts=FACTS)


def test_a_chinese_submission_round_trips_through_bytes_unchanged() -> None:
    event = ev.CaseSubmitted(
        category="traffic-signals",
        description="沙口路王府墳菜市場門口紅綠燈不亮，過馬路很危險。",
        location=Location(district="zhongyuan", street="沙口路王府坟菜市场门口", lat=34.77, lon=113.62),
        channel=Channel.WEB, priority=Priority.GENERAL,
        personal=KeyRing().seal("ZB1", PersonalData(contact=ev.ResidentContact(
            name="李女士", phone="138 0000 0000"))),
        tracking_code_hash="ab" * 32, attributes={"signal_state": "dark"}, language="zh-Hant")
    envelope = wrap(event)
    raw = envelope.to_bytes()
    assert "沙口路王府墳菜市場".encode() in raw  # stored as UTF-8, not escaped
    again = Envelope.from_bytes(raw)
    assert again == envelope and read_event(again) == event


@pytest.mark.parametrize("event", [
    ev.StoryPublished(by=REPORTER, title="王府墳菜市場門口紅綠燈何時能點亮?",
                      url="https://example.org/story/1", column="inquiry"),  # type: ignore[arg-type]
    ev.FeedbackGiven(fixed=True, satisfied=True, rating=5, comment="四個燈都亮了，謝謝！"),
    ev.CaseRouted(department="signal-co", due_at=AT + timedelta(days=7), priority=Priority.GENERAL,
                  rule="traffic-signals@*", by=REPORTER, assisting=("roads-office",)),
])
def test_every_kind_of_event_round_trips(event: ev.CaseEvent) -> None:
    assert read_event(Envelope.from_bytes(wrap(event).to_bytes())) == event


def test_a_v1_submission_in_the_log_reads_as_v2_without_its_clear_contact() -> None:
    """v1 carried the contact in clear; there is no key to seal it with on reading."""
    v1 = {"category": "traffic-signals", "description": "红绿灯不亮了，很危险。",
          "location": {"district": "zhongyuan", "street": "沙口路"}, "channel": "web",
          "priority": "general", "contact": {"name": "李女士", "phone": "13800000000"},
          "tracking_code_hash": "ab" * 32}
    current = ev.CaseSubmitted.model_validate({k: v for k, v in v1.items() if k != "contact"})
    old = wrap(current).model_copy(update={"schema_version": 1, "data": v1})
    assert read_event(old) == current and current.personal is None


def test_a_v1_routing_event_in_the_log_reads_as_v2() -> None:
    """CaseRouted v1 had one department; v2 adds assisting departments."""
    v1 = {"department": "signal-co", "due_at": (AT + timedelta(days=7)).isoformat(),
          "priority": "general", "rule": "traffic-signals@*", "reason": "accepted",
          "by": {"role": "officer"}}
    old = wrap(ev.CaseRouted.model_validate({**v1, "assisting": []})).model_copy(
        update={"schema_version": 1, "data": v1})
    routed = read_event(Envelope.from_bytes(old.to_bytes()))
    assert isinstance(routed, ev.CaseRouted)
    assert routed.assisting == () and routed.department == "signal-co"


def test_events_this_code_cannot_read_are_named_as_such() -> None:
    future = wrap(ev.CaseClosed(reason="confirmed")).model_copy(update={"schema_version": 9})
    with pytest.raises(UnreadableEvent, match="newer than this code reads"):
        read_event(future)
    unknown = future.model_copy(update={"type": "CaseTeleported", "schema_version": 1})
    with pytest.raises(UnreadableEvent, match="unknown event type"):
        read_event(unknown)


def test_a_consumer_reading_whole_envelopes_refuses_an_event_it_cannot_read() -> None:
    from services.common.bus import Poison, parse_envelope

    broken_accept = wrap(ev.CaseClosed(reason="confirmed")).model_copy(
        update={"type": "CaseAccepted", "data": {"officer": "not an actor"}}).to_bytes()
    with pytest.raises(Poison, match="officer"):
        parse_envelope(broken_accept)


def test_derived_ids_are_stable_and_distinct() -> None:
    assert derived_id("cmd/1", "ZB1", 2) == derived_id("cmd/1", "ZB1", 2)
    assert derived_id("cmd/1", "ZB1", 2) != derived_id("cmd/1", "ZB1", 3)


def test_the_lifecycle_has_every_event_the_platform_records() -> None:
    assert set(EVENT_TYPES) == {
        "CaseSubmitted", "CaseAccepted", "CaseRejected", "CaseMerged", "CaseRouted",
        "CaseAcknowledged", "CaseReturned", "CaseReassigned", "ProgressNoted", "SiteVisited",
        "StoryPublished", "CaseOverdue", "CaseEscalated", "ReporterAssigned", "CaseResolved",
        "FeedbackGiven", "ResidentAskedAgain", "DisputeSettled", "CaseReopened", "CaseClosed",
        "PersonalDataErased", "HandlerAssigned"}


def test_the_exported_json_schemas_match_the_code() -> None:
    """Integrators read contracts/schemas/; `zaiban contracts export` refreshes it."""
    for name, schema in all_schemas().items():
        path = SCHEMA_DIR / name
        assert path.exists(), f"{name} is not exported: run `zaiban contracts export`"
        assert path.read_text(encoding="utf-8") == render(schema), (
            f"{name} is stale: run `zaiban contracts export`")
    submitted = json.loads((SCHEMA_DIR / "events/CaseSubmitted.v2.json").read_text())
    assert submitted["x-event-type"] == "CaseSubmitted" and "personal" in submitted["properties"]
    assert "contact" not in submitted["properties"]
