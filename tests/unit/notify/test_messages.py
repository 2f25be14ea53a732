"""What a resident is told, in their language: given an event of their case, the message."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from unit.tracking.tracking_stories import CITY, day, reference_case

from contracts.envelope import Envelope
from services.notify.messages import Links, Notice, render, tells

TZ = ZoneInfo("Asia/Shanghai")
LINKS = Links(case="https://zb.example/cases/ZB1?lang=en",
              answer="https://zb.example/cases/ZB1?code=ABCD-EFGH-JKMN-PQRS&lang=en",
              stop="https://zb.example/notify/stop/ZB1?s=sig&lang=en")


def notice(type_: str, language: str = "en", **data: object) -> Notice:
    return Notice(case_id="ZB1", type=type_, data=dict(data), occurred_at=day("10-07"),
                  language=language)  # type: ignore[arg-type]


def test_the_reference_case_tells_the_resident_six_of_its_eight_events() -> None:
    told = [e.type for e in reference_case().envelopes if tells(e)]
    assert told == ["CaseAccepted", "SiteVisited", "CaseRouted", "StoryPublished",
                    "CaseResolved", "CaseClosed"]  # not the submission, not their own feedback


def test_a_private_visit_and_a_history_are_not_told() -> None:
    [visit] = [e for e in reference_case().envelopes if e.type == "SiteVisited"]
    private = visit.model_copy(update={"data": {**visit.data, "public": False}})
    past = visit.model_copy(update={"producer": "history:demo"})
    assert tells(visit) and not tells(private) and not tells(past)
    assert isinstance(visit, Envelope)


def test_routed_says_to_whom_and_by_when_in_city_time() -> None:
    message = render(notice("CaseRouted", "zh-Hans", department="signal-co",
                            due_at=datetime(2026, 10, 14, 2, 0, tzinfo=ZoneInfo("UTC")).isoformat()),
                     CITY, TZ, LINKS)
    assert message.subject == "您的诉求 ZB1：已转交 交通信号设施公司 办理"
    assert "办理时限：2026-10-14 10:00 前。" in message.text
    assert "办理时限：2026-10-14 10:00 前。" in message.sms


def test_rejected_gives_the_reason() -> None:
    message = render(notice("CaseRejected", "zh-Hant", reason="不屬於本平台受理範圍"), CITY, TZ,
                     LINKS)
    assert message.subject == "您的訴求 ZB1：未予受理"
    assert "原因：不屬於本平台受理範圍" in message.text and "原因：不屬於本平台受理範圍" in message.sms


def test_resolved_carries_the_one_link_to_answer_with_the_tracking_code() -> None:
    message = render(notice("CaseResolved", resolution="The four lights work again."), CITY, TZ,
                     LINKS)
    assert "What was done: The four lights work again." in message.text
    assert f"Is it fixed? Are you satisfied? Tell us here: {LINKS.answer}" in message.text
    assert message.text.count("code=") == 1 and LINKS.answer in message.sms


@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant", "en"])
@pytest.mark.parametrize("kind", ["CaseAccepted", "CaseRejected", "CaseRouted", "CaseReassigned",
                                  "SiteVisited", "StoryPublished", "CaseResolved",
                                  "CaseReopened", "CaseClosed"])
def test_every_message_names_the_case_and_ends_with_the_stop_link(kind: str,
                                                                   language: str) -> None:
    data = dict(reason="原因说明", department="signal-co", to_department="water-co",
                due_at=(day("10-07") + timedelta(days=3)).isoformat(), note="现场",
                title="标题", url="https://news.example.org/1", resolution="已修复")
    message = render(notice(kind, language, **data), CITY, TZ, LINKS)
    assert "ZB1" in message.subject and message.text.startswith(message.subject)
    assert message.text.rstrip().endswith(LINKS.stop)
    assert message.sms.endswith(LINKS.stop)


def test_closed_says_why() -> None:
    assert "Thank you for confirming." in render(notice("CaseClosed", reason="confirmed"),
                                                 CITY, TZ, LINKS).text
    assert "We did not hear from you" in render(notice("CaseClosed", reason="no_answer"),
                                                CITY, TZ, LINKS).text
