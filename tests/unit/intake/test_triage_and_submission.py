"""Intake's decisions, told as stories: given a case, when an officer acts, then these events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.case_commands import AcceptCase, MergeCase, RejectCase, SubmitCase
from contracts.case_events import CaseAccepted, CaseMerged, CaseRejected
from contracts.facts import Actor, CaseStatus, Channel, Location, Priority, Role
from services.common.case import Case, Refused
from services.common.catalogue import load_city
from services.common.settings import REPO_ROOT
from services.intake import triage
from services.intake.duplicates import similarity, suggest
from services.intake.numbers import looks_like_case_number, new_case_number
from services.intake.submission import Invalid, check_submission, submitted

CITY = load_city(REPO_ROOT / "deploy" / "config")
OFFICER = Actor(role=Role.OFFICER, staff_id="officer-7")
AT = datetime(2026, 10, 6, 9, 30, tzinfo=UTC)


def a_submission(**change: object) -> SubmitCase:
    body: dict[str, object] = {
        "category": "traffic-signals",
        "description": "沙口路王府坟菜市场门口的红绿灯不亮了，过马路很危险。",
        "location": {"district": "zhongyuan", "street": "沙口路王府坟菜市场门口",
                     "address": "沙口路王府坟菜市场正门", "lat": 34.77, "lon": 113.62},
        "attributes": {"signal_state": "dark"},
        "contact": {"name": "李女士", "phone": "13800000000"},
    }
    body.update(change)
    return SubmitCase.model_validate(body)


def submitted_case(case_id: str = "ZB261006-AAAA-BBBB", command: SubmitCase | None = None) -> Case:
    event = submitted(command or a_submission(), CITY, tracking_code_hash="h" * 64)
    envelopes = Case(case_id=case_id).record([event], at=AT, recorded_at=AT, producer="intake",
                                             correlation_id="c", cause="submit")
    return Case(case_id=case_id).fold(envelopes)


def after(case: Case, events: list) -> Case:  # type: ignore[type-arg]
    return case.fold(case.record(events, at=AT, recorded_at=AT, producer="intake",
                                 correlation_id="c", cause="x"))


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
    assert refused.value.status == 422


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


def test_accepting_with_a_corrected_category_takes_its_priority_and_remembers_the_old() -> None:
    events = triage.accept(submitted_case(), AcceptCase(category="power"), OFFICER, CITY)
    assert events == [CaseAccepted(officer=OFFICER, category="power", district="zhongyuan",
                                   priority=Priority.UTILITIES,
                                   corrected={"category": "traffic-signals",
                                              "priority": "general"})]


def test_only_a_submitted_case_can_be_triaged() -> None:
    case = after(submitted_case(), [CaseRejected(officer=OFFICER, reason="不属于受理范围")])
    for decide in (lambda: triage.accept(case, AcceptCase(), OFFICER, CITY),
                   lambda: triage.reject(case, RejectCase(reason="again"), OFFICER)):
        with pytest.raises(Refused) as refused:
            decide()
        assert refused.value.status == 409 and "rejected" in refused.value.reason


def test_a_duplicate_merges_into_an_open_original_only() -> None:
    original = submitted_case("ZB261006-ORIG-0001")
    duplicate = submitted_case("ZB261006-DUPE-0002")
    assert triage.merge(duplicate, MergeCase(into_case_id=original.case_id), original, OFFICER) == [
        CaseMerged(officer=OFFICER, into_case_id=original.case_id)]
    with pytest.raises(Refused):
        triage.merge(duplicate, MergeCase(into_case_id=duplicate.case_id), duplicate, OFFICER)
    with pytest.raises(Refused) as missing:
        triage.merge(duplicate, MergeCase(into_case_id="ZB000000-NONE-0000"), None, OFFICER)
    assert missing.value.status == 404
    merged = after(original, [CaseMerged(officer=OFFICER, into_case_id="ZB261001-ROOT-0000")])
    with pytest.raises(Refused) as chained:
        triage.merge(duplicate, MergeCase(into_case_id=merged.case_id), merged, OFFICER)
    assert "ZB261001-ROOT-0000" in chained.value.reason


def test_chinese_text_is_compared_by_character_bigrams() -> None:
    same = similarity("王府坟菜市场门口红绿灯不亮", "王府坟菜市场门口的信号灯不亮了")
    other = similarity("王府坟菜市场门口红绿灯不亮", "金水路供暖管道漏水")
    assert same > 0.4 and other == 0.0


def test_duplicates_are_nearby_or_alike_open_cases_of_the_same_category() -> None:
    new = submitted_case("ZB261006-NEW0-0001")
    near = submitted_case("ZB261006-NEAR-0002", a_submission(description="王府坟菜市场红绿灯坏了好几天"))
    elsewhere = submitted_case("ZB261006-FAR0-0003", a_submission(
        description="郑东新区某路口信号灯一直闪烁", location={"district": "zhengdong", "street": "商务外环",
                                                  "lat": 34.76, "lon": 113.73}))
    heating = submitted_case("ZB261006-HEAT-0004", a_submission(
        category="heating", attributes={}, description="王府坟附近小区暖气不热"))
    found = suggest(new, [near, elsewhere, heating], radius_m=300)
    assert [s.case_id for s in found] == ["ZB261006-NEAR-0002"]
    assert any(r.startswith("within") for r in found[0].reasons)


def test_case_numbers_read_over_the_phone_and_do_not_repeat() -> None:
    numbers = {new_case_number(AT, "Asia/Shanghai") for _ in range(2000)}
    assert len(numbers) == 2000
    number = numbers.pop()
    assert number.startswith("ZB261006-") and looks_like_case_number(number)


def test_residents_may_stay_anonymous() -> None:
    case = submitted_case(command=a_submission(contact=None))
    assert case.contact is None and case.facts is not None
    assert case.facts.channel is Channel.WEB and case.location == Location(
        district="zhongyuan", street="沙口路王府坟菜市场门口", address="沙口路王府坟菜市场正门",
        lat=34.77, lon=113.62)
