"""Details written into a case's free texts reach the public masked, and the resident and
staff as written: the public page, the list, the live stream, Open311 and search."""

from __future__ import annotations

import json

from unit.tracking.tracking_stories import CITY, WATER_CO, accepted, day, routed, submitted

from contracts import case_events as ev
from services.common.masking import id_check_character
from services.lifecycle.history import History
from services.tracking.open311.format import request_row
from services.tracking.render import (
    present_entry,
    public_view,
    resident_view,
    staff_view,
    summary,
)
from services.tracking.store import CaseQuery, document, row_fields, view_of
from services.tracking.timeline import CaseView, fold

PHONE, EMAIL, PLATE = "13912345678", "wang.fang@example.cn", "豫A·12345"
ID_NUMBER = "41010219850615321" + id_check_character("41010219850615321")
DETAILS = (PHONE, ID_NUMBER, EMAIL, PLATE)
CASE = "ZB261009-PARK-0001"


def a_case_with_details_in_its_texts() -> CaseView:
    """Given a resident who wrote their phone, ID number and email and a plate into the
    description, and a department that quoted them in its notes and resolution."""
    history = (
        History(CASE)
        .given(day("10-09", 8), submitted(
            CASE, description=f"{PLATE}的车天天堵在小区消防通道。我是王芳，电话{PHONE}，"
                              f"身份证{ID_NUMBER}，邮箱{EMAIL}，请联系我。"))
        .given(day("10-09", 9), accepted())
        .given(day("10-09", 10), routed("water-co", day("10-16", 10)))
        .given(day("10-09", 11), ev.CaseAcknowledged(by=WATER_CO, note=f"已致电{PHONE}"))
        .given(day("10-09", 12), ev.ProgressNoted(by=WATER_CO, note=f"已联系车主（{PLATE}）挪车"))
        .given(day("10-09", 13), ev.ProgressNoted(by=WATER_CO, public=False,
                                                  note=f"回执发到{EMAIL}"))
        .given(day("10-09", 14), ev.CaseResolved(
            by=WATER_CO, on_time=True,
            resolution=f"车辆{PLATE}已挪走，已按身份证{ID_NUMBER}登记并回电{PHONE}"))
    )
    view = fold(None, history.envelopes)
    assert view is not None
    return view


def text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def test_the_public_reads_none_of_the_details_anywhere() -> None:
    view = a_case_with_details_in_its_texts()
    # when the public reads the case, its row in the list, its live entries and Open311
    answers = {
        "page": public_view(view, "zh-Hans", CITY),
        "page in English": public_view(view, "en", CITY),
        "list": summary(view, "zh-Hans", CITY),
        "live": [present_entry(entry, "zh-Hans", CITY) for entry in view.entries_after(0)],
        "open311": request_row(view, CITY, "zh-Hans", "http://zaiban.test"),
    }
    # then none of the details is in any of them, but their masked forms are
    for name, answer in answers.items():
        shown = text(answer)
        assert [d for d in DETAILS if d in shown] == [], name
    page = answers["page"]
    assert "电话139****5678" in page["description"] and "豫A·***45的车" in page["description"]
    assert "4101**********" in page["description"] and "wa***@example.cn" in page["description"]
    assert page["timeline"][3]["what"]["note"] == "已致电139****5678"
    assert "已联系车主（豫A·***45）挪车" in page["timeline"][4]["text"]
    assert "车辆豫A·***45已挪走" in answers["open311"]["status_notes"]


def test_the_resident_and_staff_read_the_texts_as_written() -> None:
    view = a_case_with_details_in_its_texts()
    own = resident_view(view, "zh-Hans", CITY)
    staff = staff_view(view, "zh-Hans", CITY)
    assert own["description"] == staff["description"] == view.description
    assert own["timeline"][3]["what"]["note"] == f"已致电{PHONE}"
    assert f"回执发到{EMAIL}" in text(staff)  # the internal note, for staff only
    for shown in (text(own), text(staff), text(summary(view, "zh-Hans", CITY, staff=True))):
        assert PHONE in shown and PLATE in shown
    assert ID_NUMBER in text(own) and EMAIL in text(own)
    live = [present_entry(entry, "zh-Hans", CITY, private=True) for entry in view.entries_after(0)]
    assert f"已致电{PHONE}" in text(live)


def test_public_search_looks_only_at_what_the_public_sees() -> None:
    view = a_case_with_details_in_its_texts()
    doc = row_fields(view)
    # the stored view keeps the original: masking is done when it is read
    stored = view_of(document(view))
    assert stored is not None and PHONE in stored.description and PHONE in doc["text"]
    assert [d for d in DETAILS if d in doc["public_text"]] == []
    # the public searches the masked text, staff the text as written
    public = CaseQuery(text=PHONE).filter()["$or"][0]["$and"]
    staff = CaseQuery(text=PHONE, staff=True).filter()["$or"][0]["$and"]
    assert [list(word) for word in public] == [["public_text"]]
    assert [list(word) for word in staff] == [["text"]]
