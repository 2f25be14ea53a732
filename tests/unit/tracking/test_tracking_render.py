"""What each reader sees of a case, in each of our languages."""

from __future__ import annotations

import json

import pytest
from unit.tracking.tracking_stories import (
    CITY,
    EMAIL,
    NAME,
    PHONE,
    PRIVATE_ADDRESS,
    STAFF_IDS,
    a_long_handling,
    accepted,
    day,
    opened,
    reference_case,
    submitted,
    water_case,
)

from contracts import case_events as ev
from contracts.facts import Priority
from services.common.catalogue import LANGUAGES, Language
from services.lifecycle.history import History
from services.tracking.messages import MESSAGES
from services.tracking.render import public_view, render, resident_view, staff_view, summary
from services.tracking.timeline import CaseView, fold


def project(history: History) -> CaseView:
    view = fold(None, history.envelopes)
    assert view is not None
    return view


def as_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize("language", LANGUAGES)
def test_public_views_carry_no_personal_data(language: Language) -> None:
    for view in (project(reference_case()), project(water_case()), project(a_long_handling())):
        shown = as_json(public_view(view, language, CITY))
        shown += as_json(summary(view, language, CITY))
        for private in (NAME, PHONE, EMAIL, PRIVATE_ADDRESS, *STAFF_IDS):
            assert private not in shown
        assert "tracking_code_hash" not in shown and view.tracking_code_hash not in shown


def test_private_fields_and_internal_notes_stay_out_of_the_public_timeline() -> None:
    view = project(a_long_handling())
    shown = as_json(public_view(view, "zh-Hans", CITY))
    assert "还是在漏水" not in shown  # the resident's own comment
    assert "疑似水管爆裂" not in shown  # the officer's note on the case
    assert "班组人手不足" not in shown and "现场围挡不规范" not in shown  # internal notes
    assert "已关闭阀门，正在开挖" in shown  # a public progress note


def test_the_resident_sees_their_details_but_not_internal_notes() -> None:
    view = project(a_long_handling())
    shown = resident_view(view, "zh-Hans", CITY, opened(view))
    assert shown["contact"] == {"name": NAME, "phone": PHONE, "email": EMAIL}
    text = as_json(shown)
    assert "还是在漏水" in text and "疑似水管爆裂" in text
    assert "班组人手不足" not in text and "现场围挡不规范" not in text
    assert "tracking_code_hash" not in text


def test_staff_see_every_entry_but_never_the_tracking_code_hash() -> None:
    view = project(a_long_handling())
    shown = staff_view(view, "en", CITY)
    assert [e["seq"] for e in shown["timeline"]] == list(range(1, 19))
    assert not shown["timeline"][6]["public"]
    assert view.tracking_code_hash not in as_json(shown)


def test_the_exact_address_is_public_only_where_the_category_allows() -> None:
    signals = public_view(project(reference_case()), "zh-Hans", CITY)["location"]
    assert signals["address"] == "沙口路王府坟菜市场门口" and signals["lat"] == 34.7995
    water = public_view(project(water_case()), "zh-Hans", CITY)["location"]
    assert water == {"district": "jinshui", "district_name": "金水区", "street": "文化路"}
    view = project(water_case())
    assert PRIVATE_ADDRESS not in view.model_dump_json()  # sealed: the resident's own
    assert resident_view(view, "zh-Hans", CITY, opened(view))["location"]["address"] == (
        PRIVATE_ADDRESS)


def test_an_officers_correction_of_the_category_decides_what_is_public() -> None:
    case_id = "ZB261006-CORR-0009"
    corrected = History(case_id).given(day("10-06", 9, 12), submitted(case_id)).given(
        day("10-06", 11), accepted(category="water", priority=Priority.UTILITIES))
    location = public_view(project(corrected), "en", CITY)["location"]
    assert "address" not in location and location["street"] == "沙口路"


ROUTED = {
    "zh-Hans": "已转交 交通信号设施公司 处理",
    "zh-Hant": "已轉交 交通號誌設施公司 處理",
    "en": "Routed to Traffic Signal Company",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_entries_read_in_the_readers_language(language: Language) -> None:
    view = project(reference_case())
    texts = [render(e, language, CITY) for e in view.timeline]
    assert texts[3] == ROUTED[language]
    assert "王府坟菜市场门口红绿灯何时能点亮？" in texts[4]
    expected_submitted = {
        "zh-Hans": "市民通过网站提交诉求（交通信号灯，金水区）",
        "zh-Hant": "市民透過網站提交訴求（交通號誌燈，金水區）",
        "en": "Submitted via the website (Traffic signals, Jinshui)",
    }
    assert texts[0] == expected_submitted[language]
    resolved = {"zh-Hans": "交通信号设施公司 已办结", "zh-Hant": "交通號誌設施公司 已辦結",
                "en": "Resolved by Traffic Signal Company"}
    assert texts[5].startswith(resolved[language])


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_renders_in_every_language(language: Language) -> None:
    unknown = MESSAGES[language]["entry.unknown"]
    for view in (project(reference_case()), project(a_long_handling())):
        for entry in view.timeline:
            text = render(entry, language, CITY)
            assert text and text != unknown and "{" not in text, (entry.type, text)
            for code in ("signal-co", "water-co", "roads-office", "jinshui"):
                assert code not in text, text


def test_every_language_has_every_message() -> None:
    keys = set(MESSAGES["zh-Hans"])
    for language in LANGUAGES:
        assert set(MESSAGES[language]) == keys, language


def test_a_merged_case_says_where_it_went() -> None:
    duplicate = project(History("ZB261009-DUP0-0005")
                        .given(day("10-09"), ev.CaseSubmitted.model_validate(
                            reference_case("ZB261009-DUP0-0005").envelopes[0].data))
                        .given(day("10-09", 10), ev.CaseMerged(officer=accepted().officer,
                                                               into_case_id="ZB261006-WFF0-0001")))
    shown = public_view(duplicate, "zh-Hans", CITY)
    assert shown["merged_into"] == "ZB261006-WFF0-0001"
    assert shown["timeline"][-1]["text"] == "与案件 ZB261006-WFF0-0001 重复，已合并办理"
