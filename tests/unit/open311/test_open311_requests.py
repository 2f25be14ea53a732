"""A case as a GeoReport request, and the queries `GET requests` answers."""

from __future__ import annotations

import json
from datetime import timedelta

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
    reference_case,
    submitted,
    water_case,
)

from contracts import case_events as ev
from contracts.facts import CaseStatus
from services.common.open311.errors import Open311Error
from services.lifecycle.history import History
from services.tracking.open311.format import open311_status, request_row
from services.tracking.open311.parse import RequestQuery, read_query
from services.tracking.timeline import CaseView, fold

NOW = day("10-20", 12)
BASE = "http://zaiban.test"
SPEC_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code",
               "description", "agency_responsible", "service_notice", "requested_datetime",
               "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
               "lat", "long", "media_url"]


def project(history: History) -> CaseView:
    view = fold(None, history.envelopes)
    assert view is not None
    return view


def test_the_reference_case_as_a_request() -> None:
    row = request_row(project(reference_case()), CITY, "zh-Hans", BASE)

    assert list(row) == SPEC_FIELDS
    assert row["service_request_id"] == "ZB261006-WFF0-0001"
    assert row["status"] == "closed"
    assert row["status_notes"] == "交通信号设施公司 已办结：更换了信号控制机，四个方向的信号灯均已恢复。"
    assert (row["service_name"], row["service_code"]) == ("交通信号灯", "traffic-signals")
    assert row["agency_responsible"] == "交通信号设施公司"
    assert row["requested_datetime"] == "2026-10-06T09:12:00+08:00"
    assert row["updated_datetime"] == "2026-10-12T18:01:00+08:00"
    assert row["expected_datetime"] == "2026-10-14T10:00:00+08:00"
    # traffic signals: the exact place may be public, and so may the point
    assert row["address"] == "沙口路王府坟菜市场门口, 金水区"
    assert (row["lat"], row["long"]) == (34.7995, 113.639)
    assert row["media_url"] == "https://media.example.org/p/dark-lights.jpg"
    assert row["service_notice"] == "按“一般”类时限办理"


@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant", "en"])
def test_a_request_never_carries_the_residents_details_or_a_private_address(
        language: str) -> None:
    for view in (project(reference_case()), project(water_case()), project(a_long_handling())):
        shown = json.dumps(request_row(view, CITY, language, BASE),  # type: ignore[arg-type]
                           ensure_ascii=False)
        for private in (NAME, PHONE, EMAIL, PRIVATE_ADDRESS, *STAFF_IDS, "还是在漏水",
                        "班组人手不足", "现场围挡不规范", "疑似水管爆裂"):
            assert private not in shown
        assert view.tracking_code_hash not in shown


def test_where_the_address_is_private_only_the_street_and_district_show_and_no_point() -> None:
    row = request_row(project(water_case()), CITY, "en", BASE)

    assert row["address"] == "文化路, Jinshui"
    assert row["lat"] is None and row["long"] is None
    assert row["status"] == "open" and row["status_notes"] is None
    assert row["agency_responsible"] is None and row["expected_datetime"] is None
    assert row["service_notice"] == "Handled within the deadline of its priority class (utilities)"


def test_status_notes_follow_the_latest_public_note() -> None:
    handling = a_long_handling()
    steps = handling.envelopes

    def notes_after(count: int) -> str | None:
        view = fold(None, steps[:count])
        assert view is not None
        notes: str | None = request_row(view, CITY, "en", BASE)["status_notes"]
        return notes

    assert notes_after(5) == "Water Supply Company acknowledged the case"
    assert notes_after(6) == "Progress from Water Supply Company: 已关闭阀门，正在开挖"
    assert notes_after(8) == notes_after(6)  # the internal note and site visit do not count
    assert notes_after(9) == "Water Supply Company returned the case: 属于道路积水，非管网问题"
    assert notes_after(16) == "Not fixed: sent back to Water Supply Company"
    assert notes_after(18) == "Resolved by Municipal Roads Office: 已彻底修复"


def test_open_and_closed_follow_the_lifecycle() -> None:
    closed = {s for s in CaseStatus if open311_status(s) == "closed"}
    assert closed == {CaseStatus.RESOLVED, CaseStatus.CLOSED, CaseStatus.REJECTED,
                      CaseStatus.MERGED}
    rejected = History("ZB261009-REJ0-0001").given(day("10-09", 8), submitted(
        "ZB261009-REJ0-0001")).given(day("10-09", 9), ev.CaseRejected(
            officer=accepted().officer, reason="不属于受理范围"))
    row = request_row(project(rejected), CITY, "zh-Hans", BASE)
    assert (row["status"], row["status_notes"]) == ("closed", "不予受理：不属于受理范围")
    merged = History("ZB261009-DUP0-0002").given(day("10-09", 8), submitted(
        "ZB261009-DUP0-0002")).given(day("10-09", 9), ev.CaseMerged(
            officer=accepted().officer, into_case_id="ZB261006-WFF0-0001"))
    row = request_row(project(merged), CITY, "en", BASE)
    assert row["status"] == "closed"
    assert row["service_notice"] == "A duplicate of request ZB261006-WFF0-0001: follow that one"


def test_an_uploaded_photo_is_given_as_an_absolute_url() -> None:
    view = project(reference_case())
    photo = view.media[0].model_copy(update={"url": "/media/abc123"})
    row = request_row(view.model_copy(update={"media": (photo,)}), CITY, "en", BASE)
    assert row["media_url"] == "http://zaiban.test/media/abc123"


# -- queries ------------------------------------------------------------------------------


def test_with_no_dates_the_query_covers_the_last_90_days() -> None:
    query = read_query({}, CITY, NOW)
    assert (query.start, query.end) == (NOW - timedelta(days=90), NOW)
    assert query.selector() == {"submitted_at": {"$gte": NOW - timedelta(days=90), "$lte": NOW}}


def test_one_date_gives_the_90_days_after_or_before_it() -> None:
    after = read_query({"start_date": ["2026-01-01T00:00:00Z"]}, CITY, NOW)
    before = read_query({"end_date": ["2026-06-30T00:00:00+08:00"]}, CITY, NOW)
    assert after.end is not None and after.start is not None
    assert after.end - after.start == timedelta(days=90)
    assert before.end is not None and before.start is not None
    assert before.end - before.start == timedelta(days=90)


def test_a_span_over_90_days_or_backwards_is_refused() -> None:
    with pytest.raises(Open311Error) as raised:
        read_query({"start_date": ["2026-01-01T00:00:00Z"],
                    "end_date": ["2026-04-01T00:00:01Z"]}, CITY, NOW)
    assert raised.value.status == 400 and "at most 90 days" in str(raised.value)
    exactly = read_query({"start_date": ["2026-01-01T00:00:00Z"],
                          "end_date": ["2026-04-01T00:00:00Z"]}, CITY, NOW)
    assert exactly.start is not None
    with pytest.raises(Open311Error, match="before start_date"):
        read_query({"start_date": ["2026-02-01T00:00:00Z"],
                    "end_date": ["2026-01-01T00:00:00Z"]}, CITY, NOW)


def test_codes_and_statuses_filter_and_ids_override_everything() -> None:
    query = read_query({"service_code": ["water,gas", "water"], "status": ["closed"],
                        "start_date": [""]}, CITY, NOW)
    selector = query.selector()
    assert selector["category"] == {"$in": ["water", "gas"]}
    assert set(selector["status"]["$in"]) == {"resolved", "closed", "rejected", "merged"}
    both = read_query({"status": ["open,closed"]}, CITY, NOW).selector()
    assert "status" not in both

    by_id = read_query({"service_request_id": ["ZB1-A,ZB2-B", "ZB1-A"],
                        "start_date": ["nonsense"], "status": ["weird"]}, CITY, NOW)
    assert by_id == RequestQuery(ids=("ZB1-A", "ZB2-B"))
    assert by_id.selector() == {"_id": {"$in": ["ZB1-A", "ZB2-B"]}}


@pytest.mark.parametrize(("params", "status", "says"), [
    ({"status": ["pending"]}, 400, "status: 'pending'"),
    ({"service_code": ["potholes"]}, 404, "service_code 'potholes' not found"),
    ({"service_request_id": ["$where"]}, 400, "service_request_id"),
    ({"start_date": ["2026-10-01"]}, 400, "start_date: '2026-10-01' has no time zone"),
    ({"end_date": ["soon"]}, 400, "end_date"),
])
def test_bad_filters_are_refused_naming_them(params: dict[str, list[str]], status: int,
                                             says: str) -> None:
    with pytest.raises(Open311Error) as raised:
        read_query(params, CITY, NOW)
    assert raised.value.status == status and says in str(raised.value)
