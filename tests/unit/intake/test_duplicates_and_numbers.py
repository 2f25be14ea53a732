"""Intake's own helpers: suggested duplicates for officers, and case numbers."""

from __future__ import annotations

from datetime import UTC, datetime

from unit.lifecycle.casebook import a_submission, submitted_case

from services.intake.duplicates import similarity, suggest
from services.intake.numbers import looks_like_case_number, new_case_number

AT = datetime(2026, 10, 6, 9, 30, tzinfo=UTC)


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
