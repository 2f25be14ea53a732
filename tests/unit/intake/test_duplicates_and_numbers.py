"""Intake's own helpers: suggested duplicates for officers, and case numbers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from unit.lifecycle.casebook import a_submission, submitted_case

from contracts.facts import CaseStatus
from services.intake.duplicates import (
    Suggestion,
    case_rows,
    distance_m,
    open_alike,
    row_of,
    similarity,
    suggest,
)
from services.intake.numbers import looks_like_case_number, new_case_number
from services.intake.service import index_fields
from services.lifecycle.case import Case

AT = datetime(2026, 10, 6, 9, 30, tzinfo=UTC)
WINDOW = timedelta(days=30)


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
    found = suggest(row_of(new), [row_of(c) for c in (near, elsewhere, heating)], radius_m=300)
    assert [s.case_id for s in found] == ["ZB261006-NEAR-0002"]
    assert any(r.startswith("within") for r in found[0].reasons)


def test_a_private_place_is_nearby_only_by_its_street() -> None:
    # a flat's heating: the point travels sealed with the resident's personal data
    flat = a_submission(category="heating", attributes={}, description="楼里暖气一直不热",
                        location={"district": "jinshui", "street": "金水路12号院",
                                  "lat": 34.8, "lon": 113.66})
    new, same_yard = submitted_case("ZB261006-FLAT-0001", flat), \
        submitted_case("ZB261006-FLAT-0002", flat.model_copy(update={"description": "暖气片冰凉"}))
    assert row_of(new)["lat"] is None and row_of(new)["street"] == "金水路12号院"
    [found] = suggest(row_of(new), [row_of(same_yard)], radius_m=300)
    assert found.reasons == ("same street",) and found.distance_m is None


# -- the rows answer as the whole cases did ----------------------------------------------------

STREETS = ("沙口路", "金水路", "建设路", "")
TEXTS = ("王府坟菜市场门口的红绿灯不亮了", "沙口路口信号灯坏了好几天", "红绿灯一直闪烁黄灯",
         "路面塌陷一个大坑", "暖气不热，屋里很冷", "Traffic light at the market is dark")


def suggest_from_cases(case: Case, candidates: list[Case], *, radius_m: float, limit: int = 5,
                       min_text: float = 0.25) -> list[Suggestion]:
    """The suggestion as it was made from whole cases (before rows): the reference."""
    facts = case.require_facts()
    location = case.location
    found: list[Suggestion] = []
    for other in candidates:
        if other.case_id == case.case_id or other.facts is None or other.location is None:
            continue
        if other.facts.category != facts.category or not other.facts.status.is_open:
            continue
        reasons: list[str] = []
        score = 0.0
        metres: float | None = None
        if location and location.lat is not None and location.lon is not None \
                and other.location.lat is not None and other.location.lon is not None:
            metres = distance_m(location.lat, location.lon, other.location.lat, other.location.lon)
            if metres <= radius_m:
                reasons.append(f"within {round(metres)} m")
                score += 1.0 - metres / radius_m / 2
        if location and location.street and location.street == other.location.street:
            reasons.append("same street")
            score += 0.5
        text = similarity(case.description, other.description)
        if text >= min_text:
            reasons.append(f"similar text ({text:.0%})")
            score += text
        if reasons:
            found.append(Suggestion(other.case_id, round(score, 3), tuple(reasons), metres))
    found.sort(key=lambda s: (-s.score, s.case_id))
    return found[:limit]


def a_town(count: int, seed: int = 21) -> list[Case]:
    """`count` cases around one market: some close, on the same streets, saying alike
    things, of other categories, closed, rejected or merged, older than the window."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for index in range(count):
        category = rng.choice(("traffic-signals", "traffic-signals", "roads", "heating"))
        attributes = {"signal_state": "dark"} if category == "traffic-signals" else {}
        location: dict[str, object] = {"district": "zhongyuan", "street": rng.choice(STREETS)}
        if rng.random() < 0.8 or not location["street"]:
            location.update(lat=round(34.748 + rng.uniform(-0.01, 0.01), 5),
                            lon=round(113.612 + rng.uniform(-0.01, 0.01), 5))
        case = submitted_case(f"ZB261006-T{index:03d}-0001", a_submission(
            category=category, attributes=attributes, location=location,
            description=rng.choice(TEXTS) + rng.choice(("", "，请尽快处理", "，很危险"))))
        facts = case.require_facts().model_copy(update={
            "status": rng.choice(list(CaseStatus)),
            "submitted_at": AT - timedelta(days=rng.uniform(0, 45))})
        cases.append(case.model_copy(update={"facts": facts, "version": rng.randint(1, 9)}))
    return cases


def test_rows_suggest_what_the_whole_cases_did() -> None:
    town = a_town(240)
    rows = case_rows()
    for case in town:  # as the snapshots hold them
        rows.put({"_id": case.case_id, "version": case.version, **index_fields(case)})
    compared = 0
    for case in town:
        facts = case.require_facts()
        # what the store was asked before: open, same category, within the window
        candidates = [other for other in town if other.facts and other.case_id != case.case_id
                      and other.facts.category == facts.category and other.facts.status.is_open
                      and other.facts.submitted_at >= facts.submitted_at - WINDOW]
        expected = suggest_from_cases(case, candidates, radius_m=300)
        found = suggest(row_of(case), open_alike(rows, case, WINDOW), radius_m=300)
        assert found == expected, case.case_id
        compared += bool(expected)
    assert compared > 150  # most cases have suggestions: the comparison says something


def test_every_open_case_of_the_window_is_weighed_however_many() -> None:
    # more than the 500 the store was once asked for: the best is among them wherever it is
    new = submitted_case("ZB261006-NEW0-0001")
    rows = case_rows()
    for index in range(1_200):
        far = submitted_case(f"ZB261006-F{index:04d}-0001", a_submission(
            description=f"路口{index}号灯杆歪了", location={"district": "zhengdong",
                                                      "street": f"商务{index}街",
                                                      "lat": 34.76, "lon": 113.73}))
        rows.put({"_id": far.case_id, "version": 1, **index_fields(far)})
    twin = submitted_case("ZB261006-TWIN-0001")
    rows.put({"_id": twin.case_id, "version": 1, **index_fields(twin)})
    weighed = open_alike(rows, new, WINDOW)
    assert len(weighed) == 1_201
    found = suggest(row_of(new), weighed, radius_m=300)
    assert found[0].case_id == twin.case_id and found[0].distance_m == 0.0


def test_case_numbers_read_over_the_phone_and_do_not_repeat() -> None:
    numbers = {new_case_number(AT, "Asia/Shanghai") for _ in range(2000)}
    assert len(numbers) == 2000
    number = numbers.pop()
    assert number.startswith("ZB261006-") and looks_like_case_number(number)
