"""A resident submits a request: checked against the city, it becomes a case.

When the city cannot take it, each problem is named with its field.
"""

from __future__ import annotations

import pytest
from unit.lifecycle.casebook import CITY, a_submission, submitted_case

from contracts.facts import CaseStatus, Channel, Location, Priority
from services.common.keys import KeyRing
from services.lifecycle.errors import Invalid
from services.lifecycle.submitting import check_submission, personal_part, submitted


def test_a_valid_submission_becomes_a_case_with_the_category_priority() -> None:
    case = submitted_case()
    assert case.status is CaseStatus.SUBMITTED
    assert case.facts is not None and case.facts.priority is Priority.GENERAL
    assert case.facts.district == "zhongyuan" and case.version == 1


def test_city_checks_name_each_field_that_is_wrong() -> None:
    command = a_submission(category="fireworks", location={"district": "atlantis", "lat": 1.0,
                                                           "lon": 2.0}, attributes={})
    wheres = {p.where for p in check_submission(command, CITY)}
    assert wheres == {"body.category", "body.location.district", "body.location"}
    with pytest.raises(Invalid) as refused:
        submitted(command, CITY, tracking_code_hash="h")
    assert {p["where"] for p in refused.value.problems} == wheres
    assert refused.value.reason.startswith("invalid request: body.category: unknown category")


def test_a_required_question_must_be_answered_with_an_allowed_value() -> None:
    assert [p.where for p in check_submission(a_submission(attributes={}), CITY)] == [
        "body.attributes.signal_state"]
    problems = check_submission(a_submission(attributes={"signal_state": "purple"}), CITY)
    assert problems and "one of" in problems[0].problem
    stray = check_submission(a_submission(attributes={"signal_state": "dark", "colour": "x"}), CITY)
    assert [p.where for p in stray] == ["body.attributes.colour"]


def test_a_point_outside_the_city_is_refused() -> None:
    problems = check_submission(a_submission(location={"district": "zhongyuan",
                                                       "lat": 39.9, "lon": 116.4}), CITY)
    assert problems[0].where == "body.location" and "outside Zhengzhou" in problems[0].problem


def test_residents_may_stay_anonymous() -> None:
    case = submitted_case(command=a_submission(contact=None))
    assert case.personal is None and case.facts is not None
    assert case.facts.channel is Channel.WEB and case.location == Location(
        district="zhongyuan", street="沙口路王府坟菜市场门口", address="沙口路王府坟菜市场正门",
        lat=34.77, lon=113.62)


def test_what_identifies_the_resident_leaves_the_event_only_sealed() -> None:
    """A heating outage in a flat: the contact, the flat's address and point are personal;
    the phone number written into the description too, which the event keeps masked."""
    command = a_submission(
        category="heating", attributes={},
        description="家里暖气不热，请联系我13812345678。",
        location={"district": "jinshui", "street": "文化路", "address": "文化路97号院3号楼501",
                  "lat": 34.78, "lon": 113.66})
    personal = personal_part(command, CITY)
    assert personal is not None and personal.contact is not None
    assert personal.contact.phone == "13800000000"
    assert (personal.address, personal.lat, personal.lon) == ("文化路97号院3号楼501", 34.78, 113.66)
    assert personal.description == "家里暖气不热，请联系我13812345678。"

    ring = KeyRing()
    event = submitted(command, CITY, tracking_code_hash="h" * 64,
                      personal=ring.seal("ZB261020-HEAT-0002", personal))
    clear = event.model_dump_json()
    for detail in ("李女士", "13800000000", "13812345678", "97号院", "34.78", "113.66"):
        assert detail not in clear
    assert event.description == "家里暖气不热，请联系我138****5678。"
    assert event.location == Location(district="jinshui", street="文化路")
    assert event.personal is not None and ring.open(event.personal) == personal


def test_a_public_place_and_a_plain_description_stay_in_clear() -> None:
    """A dark traffic light: where it is is public, and the description names nobody."""
    command = a_submission(contact=None)
    assert personal_part(command, CITY) is None
    event = submitted(command, CITY, tracking_code_hash="h" * 64)
    assert event.location == command.location and event.description == command.description
    assert event.personal is None
