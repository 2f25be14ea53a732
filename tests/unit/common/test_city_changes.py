"""An admin changes the city while it runs: given the configuration at a version, when a
change is made against a version, then the next version (who, when, what, the whole city
after) — or a refusal naming what is wrong (`services/common/citychanges.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from unit.lifecycle.casebook import T0, accepted_case

from contracts import case_events as ev
from contracts.cityconfig import ChangeCity, CityChanged
from contracts.facts import SYSTEM, Priority
from services.common.catalogue import CityConfig, as_files, load_city
from services.common.citychanges import Applied, Stale, change
from services.common.cityconfig import LiveCity
from services.common.settings import REPO_ROOT
from services.lifecycle import dispatching
from services.lifecycle.errors import Invalid
from services.lifecycle.policy import Policy

CITY = load_city(REPO_ROOT / "deploy" / "config")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

NAMES = {"zh-Hans": "共享单车", "zh-Hant": "共享單車", "en": "Shared bikes"}
BIKES = {"code": "bikes", "icon": "🚲", "priority": "general", "address_public": True,
         "names": NAMES, "description": NAMES,
         "attributes": [{"code": "brand", "datatype": "string", "required": False, "order": 1,
                         "description": {"zh-Hans": "品牌", "zh-Hant": "品牌", "en": "Brand"}}]}


def put(item: dict[str, Any], version: int = 0) -> ChangeCity:
    return ChangeCity(expected_version=version, item=item)


def removal(version: int = 0) -> ChangeCity:
    return ChangeCity(expected_version=version)


def problems(refusal: pytest.ExceptionInfo[Invalid]) -> dict[str, str]:
    return {p["where"]: p["problem"] for p in refusal.value.problems}


def test_a_new_category_with_its_attributes_is_the_next_version_with_who_when_and_what() -> None:
    event = change(CITY, 0, "category", "bikes", put(BIKES), by="admin-1", now=NOW)

    assert (event.version, event.by, event.at) == (1, "admin-1", NOW)
    assert event.change.model_dump() == {"kind": "category", "code": "bikes", "action": "put",
                                         "note": ""}
    after = CityConfig.model_validate(event.city)
    bikes = after.category("bikes")
    assert bikes is not None and bikes.names.en == "Shared bikes"
    assert [a.code for a in bikes.attributes] == ["brand"]
    assert after.categories[:-1] == CITY.categories  # the others as they were


def test_a_change_against_an_old_version_is_refused_naming_the_current_one() -> None:
    with pytest.raises(Stale, match="at version 3, not 2") as refusal:
        change(CITY, 3, "category", "bikes", put(BIKES, version=2), by="admin-1", now=NOW)
    assert refusal.value.current == 3


def test_a_rule_naming_an_unknown_department_is_refused() -> None:
    rule = {"category": "water", "district": "erqi", "lead": "no-such-co"}
    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "rule", "water@erqi", put(rule), by="admin-1", now=NOW)
    assert "unknown department no-such-co" in problems(refusal)["rules"]


def test_a_category_in_use_cannot_be_removed_while_rules_name_it() -> None:
    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "category", "water", removal(), by="admin-1", now=NOW)
    assert "unknown category water" in problems(refusal)["rules"]


def test_a_department_the_rules_name_cannot_be_removed_but_its_rule_first_then_it_can() -> None:
    with pytest.raises(Invalid, match="unknown department newsroom"):
        change(CITY, 0, "department", "newsroom", removal(), by="admin-1", now=NOW)
    first = change(CITY, 0, "rule", "inquiry@*", removal(), by="admin-1", now=NOW)
    city = CityConfig.model_validate(first.city)
    second = change(city, 1, "department", "newsroom", removal(1), by="admin-1", now=NOW)
    assert CityConfig.model_validate(second.city).department("newsroom") is None
    assert second.version == 2


def test_an_item_must_be_what_the_configuration_allows_each_problem_named() -> None:
    broken = {**BIKES, "priority": "whenever", "names": {"en": "Bikes"}}
    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "category", "bikes", put(broken), by="admin-1", now=NOW)
    found = problems(refusal)
    assert "item.priority" in found
    assert "item.names.zh-Hans" in found


def test_a_name_left_empty_in_one_language_is_refused_there() -> None:
    blank = {**BIKES, "attributes": [{**BIKES["attributes"][0],
                                      "description": {"zh-Hans": "品牌", "zh-Hant": " ", "en": "Brand"}}]}
    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "category", "bikes", put(blank), by="admin-1", now=NOW)
    assert problems(refusal) == {"item.attributes.0.description.zh-Hant": "must not be empty"}


def test_the_code_of_the_item_is_the_code_of_the_change_and_a_code_that_topics_can_carry() -> None:
    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "category", "water", put(BIKES), by="admin-1", now=NOW)
    assert "bikes is not water" in problems(refusal)["item.code"]
    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "department", "Bad Co", put({"code": "Bad Co", "names": NAMES}),
               by="admin-1", now=NOW)
    assert "lower-case" in problems(refusal)["item.code"]


def test_removing_what_is_not_there_is_refused() -> None:
    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "district", "atlantis", removal(), by="admin-1", now=NOW)
    assert problems(refusal) == {"code": "there is no district atlantis"}


def test_a_replaced_item_keeps_its_place_and_a_new_district_rule_narrows_the_city_wide_one() -> None:
    renamed = {"code": "water-co", "names": {**NAMES, "en": "Water Works"}, "contact": "1"}
    city = CityConfig.model_validate(
        change(CITY, 0, "department", "water-co", put(renamed), by="a", now=NOW).city)
    assert [d.code for d in city.departments] == [d.code for d in CITY.departments]
    assert city.department("water-co").names.en == "Water Works"  # type: ignore[union-attr]

    rule = {"category": "water", "district": "erqi", "lead": "housing"}
    city = CityConfig.model_validate(
        change(city, 1, "rule", "water@erqi", put(rule, 1), by="a", now=NOW).city)
    assert city.rule_for("water", "erqi").lead == "housing"  # type: ignore[union-attr]
    assert city.rule_for("water", "zhongyuan").lead == "water-co"  # type: ignore[union-attr]


def changed_event(version: int, city: CityConfig = CITY) -> CityChanged:
    return change(city, version - 1, "category", "bikes", put(BIKES, version - 1),
                  by="admin-1", now=NOW)


def test_an_instance_applies_versions_in_order_and_a_lost_race_changes_nothing() -> None:
    live = LiveCity(CITY)
    won, lost = changed_event(1), changed_event(1)  # two admins, both against version 0
    assert live.apply(won)
    assert not live.apply(lost)  # the same version again: the first on the topic made it
    assert not live.apply(won)  # read twice: once
    assert (live.version, live.made[1]) == (1, str(won.change_id))
    assert live.current.category("bikes") is not None
    assert Applied(CITY).then(changed_event(3)).version == 0  # a gap: not this instance's next


def test_a_part_an_older_event_does_not_carry_is_the_initial_configuration_s() -> None:
    older = changed_event(1)
    without_rules = older.model_copy(update={"city": {k: v for k, v in older.city.items()
                                                      if k != "rules"}})
    live = LiveCity(CITY)
    assert live.apply(without_rules)
    assert live.current.rules == CITY.rules and live.current.category("bikes") is not None
    assert live.apply(changed_event(2, live.current).model_copy(update={"city": {
        k: v for k, v in changed_event(2, live.current).city.items() if k != "rules"}}))
    assert live.current.rules == CITY.rules


def test_export_writes_files_load_city_reads_back_as_an_equal_configuration(tmp_path: Path) -> None:
    city = CityConfig.model_validate(changed_event(1).city)
    for name, data in as_files(city).items():
        (tmp_path / name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "calendar.yaml", "catalogue.yaml", "deadlines.yaml", "departments.yaml",
        "dispatch.yaml", "districts.yaml"]
    assert load_city(tmp_path) == city


def test_a_case_routed_records_the_configuration_version_it_was_routed_by() -> None:
    story = accepted_case()
    policy = Policy(city=CITY, config_version=7)
    [routed] = dispatching.on_accepted(story.case, story.envelopes[-1], T0, policy)
    assert routed == ev.CaseRouted(department="signal-co", due_at=T0 + timedelta(days=7),
                                   priority=Priority.GENERAL, rule="traffic-signals@*",
                                   reason="accepted", by=SYSTEM, config_version=7,
                                   response_due_at=routed.response_due_at)
    assert routed.response_due_at is not None


def test_a_routing_recorded_before_versions_reads_with_none() -> None:
    old = {"department": "signal-co", "due_at": T0.isoformat(), "priority": "general",
           "rule": "traffic-signals@*", "reason": "accepted", "by": SYSTEM.model_dump()}
    assert ev.CaseRouted.model_validate(old).config_version is None


def test_a_priority_class_s_time_limits_are_replaced_never_removed_and_each_mistake_named() -> None:
    faster = {"triage": "2 hours", "response": "4 hours", "resolution": "3 working days"}
    event = change(CITY, 0, "limits", "general", put(faster), by="admin-1", now=NOW)
    after = CityConfig.model_validate(event.city)
    assert after.deadlines.general.model_dump(mode="json") == faster
    assert after.deadlines.complex == CITY.deadlines.complex  # the other classes as they were
    assert (event.change.kind, event.change.code) == ("limits", "general")

    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "limits", "general", removal(), by="admin-1", now=NOW)
    assert "changed, not removed" in problems(refusal)["code"]
    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "limits", "urgent", put(faster), by="admin-1", now=NOW)
    assert "no limits urgent" in problems(refusal)["code"]
    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "limits", "general", put({**faster, "resolution": "soon",
                                                  "resolve": "1 day"}), by="a", now=NOW)
    found = problems(refusal)
    assert "item.resolution" in found and "item.resolve" in found


def test_a_category_s_own_time_limits_travel_with_it_and_are_checked_like_the_class_s() -> None:
    own = {**BIKES, "deadlines": {"resolution": "5 working days"}}
    city = CityConfig.model_validate(
        change(CITY, 0, "category", "bikes", put(own), by="admin-1", now=NOW).city)
    bikes = city.category("bikes")
    assert bikes is not None and bikes.deadlines is not None
    assert str(bikes.deadlines.resolution) == "5 working days"
    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "category", "bikes", put({**BIKES, "deadlines": {"resolution": "later"}}),
               by="admin-1", now=NOW)
    assert "item.deadlines.resolution" in problems(refusal)


def test_the_city_s_changes_to_the_official_calendar_are_one_item_replaced_never_removed() -> None:
    local = {"holidays": ["2026-12-25"], "working_days": [], "known_years": [],
             "outside_known_years": "refuse"}
    after = CityConfig.model_validate(
        change(CITY, 0, "calendar", "changes", put(local), by="admin-1", now=NOW).city)
    assert [str(day) for day in after.calendar.holidays] == ["2026-12-25"]
    assert after.calendar.outside_known_years == "refuse"

    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "calendar", "changes", removal(), by="admin-1", now=NOW)
    assert "changed, not removed" in problems(refusal)["code"]
    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "calendar", "2027", put(local), by="admin-1", now=NOW)
    assert problems(refusal) == {"code": "there is no calendar 2027: changes"}
    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "calendar", "changes",
               put({**local, "working_days": ["2026-12-25"], "holiday": []}), by="a", now=NOW)
    found = problems(refusal)
    assert "item.holiday" in found
    with pytest.raises(Invalid) as refusal:
        change(CITY, 0, "calendar", "changes", put({**local, "working_days": ["2026-12-25"]}),
               by="a", now=NOW)
    assert "both a holiday and a working day: 2026-12-25" in " ".join(problems(refusal).values())
