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
    SYSTEM,
    a_disputed_case,
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
from services.tracking.store import row_fields
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
    for view in (project(reference_case()), project(a_long_handling()),
                 project(a_disputed_case())):
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


DISPUTE = {
    "zh-Hans": ["已再次请市民评价办理结果（2026-10-18 前未回复将自动结案）",
                "市民确认问题已解决，但不满意（2 星）", "转入督办：市民对处理结果有异议",
                "督办员复核市民异议，要求重新办理：请信号公司回访市民并说明原因",
                "督办要求 交通信号设施公司 重新办理"],
    "zh-Hant": ["已再次請市民評價辦理結果（2026-10-18 前未回覆將自動結案）",
                "市民確認問題已解決，但不滿意（2 星）", "轉入督辦：市民對處理結果有異議",
                "督辦員覆核市民異議，要求重新辦理：请信号公司回访市民并说明原因",  # as written
                "督辦要求 交通號誌設施公司 重新辦理"],
    "en": ["The resident was asked again for their answer (closes 2026-10-18 without one)",
           "The resident confirmed the fix but is not satisfied (2/5)",
           "Escalated to supervision: the resident disputes the result",
           "Supervision reviewed the resident's dispute and sent the case back: "
           "请信号公司回访市民并说明原因",
           "Sent back to Traffic Signal Company by supervision"],
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_dispute_reads_on_the_public_timeline_in_the_readers_language(
        language: Language) -> None:
    shown = public_view(project(a_disputed_case()), language, CITY)
    assert [e["text"] for e in shown["timeline"][4:]] == DISPUTE[language]


LATE = {
    "zh-Hans": ["已超过受理时限，尚未受理", "转入督办：超过办理时限",
                "交通信号设施公司已超过签收时限，尚未签收", "已超过办理时限"],
    "en": ["Not triaged within its time limit", "Escalated to supervision: past a time limit",
           "Traffic Signal Company has not acknowledged it within its time limit",
           "The deadline has passed"],
}


@pytest.mark.parametrize("language", ["zh-Hans", "en"])
def test_each_deadline_passing_reads_as_its_own_and_staff_see_the_three_deadlines(
    language: Language,
) -> None:
    triage_due, response_due, resolution_due = day("10-07"), day("10-08"), day("10-13")
    story = History("ZB261006-LATE-0009").given(day("10-06"), ev.CaseSubmitted.model_validate({
        **reference_case("ZB261006-LATE-0009").envelopes[0].data,
        "triage_due_at": triage_due.isoformat()}))
    story.given(day("10-07", 10), ev.CaseOverdue(due_at=triage_due, department=None,
                                                 clock="triage"),
                ev.CaseEscalated(reason="overdue", by=SYSTEM))
    submitted_late = summary(project(story), language, CITY, staff=True)
    assert (submitted_late["triage_overdue"], submitted_late["triage_due_at"]) == (
        True, triage_due.isoformat())
    story.given(day("10-07", 11), accepted()).given(day("10-07", 11), ev.CaseRouted(
        department="signal-co", due_at=resolution_due, priority=Priority.GENERAL, rule="test",
        by=SYSTEM, response_due_at=response_due))
    story.given(day("10-08", 10), ev.CaseOverdue(due_at=response_due, department="signal-co",
                                                 clock="response"))
    story.given(day("10-13", 10), ev.CaseOverdue(due_at=resolution_due, department="signal-co"))
    view = project(story)
    texts = [e["text"] for e in public_view(view, language, CITY)["timeline"]
             if e["type"] in ("CaseOverdue", "CaseEscalated")]
    assert texts == LATE[language]
    row = summary(view, language, CITY, staff=True)
    assert (row["triage_due_at"], row["response_due_at"], row["due_at"]) == (
        triage_due.isoformat(), response_due.isoformat(), resolution_due.isoformat())
    assert (row["triage_overdue"], row["response_overdue"], row["overdue"]) == (
        False, True, True)
    assert "response_due_at" not in summary(view, language, CITY)  # staff's, not the list's
    # the rows of tracking's lists keep them, to filter and sort by
    doc = row_fields(view)
    assert (doc["response_due_at"], doc["response_overdue"], doc["triage_overdue"]) == (
        response_due, True, False)
