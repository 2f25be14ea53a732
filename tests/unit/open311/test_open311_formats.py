"""The shapes every Open311 answer takes: the spec's XML and JSON, its errors, its dates."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from services.common.open311.errors import Open311Error, as_open311_error, error_for
from services.common.open311.formats import answer, to_xml, w3c
from services.common.open311.params import (
    check_jurisdiction,
    comma_list,
    format_of,
    parse_w3c,
    pick_language,
    single,
)
from services.common.store import Unavailable
from services.lifecycle.errors import NotFound, NotNow

CST = timezone(timedelta(hours=8))


def test_a_list_is_the_root_element_with_one_child_per_item_and_a_bare_array_in_json() -> None:
    rows = [{"service_code": "water", "metadata": True, "keywords": None},
            {"service_code": "gas", "metadata": False, "keywords": "燃气"}]

    xml = answer("xml", "services", rows)
    as_json = answer("json", "services", rows)

    assert xml.headers["content-type"] == "text/xml; charset=utf-8"
    assert bytes(xml.body).startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<services>')
    root = ET.fromstring(bytes(xml.body))
    assert [child.tag for child in root] == ["service", "service"]
    assert [e.tag for e in root[0]] == ["service_code", "metadata", "keywords"]
    assert root[0].findtext("metadata") == "true" and root[1].findtext("metadata") == "false"
    assert root[0].findtext("keywords") == "" and root[1].findtext("keywords") == "燃气"
    assert as_json.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(bytes(as_json.body)) == rows


def test_nested_lists_are_named_after_their_items() -> None:
    definition = {"service_code": "x", "attributes": [
        {"code": "a", "values": [{"key": "k", "name": "n"}]}]}
    discovery = {"endpoints": [{"formats": ["text/xml", "application/json"]}]}

    root = ET.fromstring(to_xml("service_definition", definition))
    found = ET.fromstring(to_xml("discovery", discovery))

    assert root.find("attributes/attribute/values/value/key").text == "k"  # type: ignore[union-attr]
    assert [f.text for f in found.findall("endpoints/endpoint/formats/format")] == [
        "text/xml", "application/json"]


def test_characters_xml_cannot_carry_are_left_out_and_markup_is_escaped() -> None:
    body = to_xml("errors", [{"code": 400, "description": "bad \x01<tag> & co"}])
    assert ET.fromstring(body).findtext("error/description") == "bad <tag> & co"


def test_errors_take_the_spec_shape_with_one_entry_per_problem() -> None:
    error = Open311Error(400, "lat: not a number", "long: not a number")

    xml = ET.fromstring(bytes(error.response("xml").body))
    as_json = json.loads(bytes(error.response("json").body))

    assert xml.tag == "errors"
    assert [(e.findtext("code"), e.findtext("description")) for e in xml] == [
        ("400", "lat: not a number"), ("400", "long: not a number")]
    assert as_json == [{"code": 400, "description": "lat: not a number"},
                       {"code": 400, "description": "long: not a number"}]


def test_other_failures_map_to_404_403_or_400() -> None:
    assert as_open311_error(NotFound("case x not found")).status == 404  # type: ignore[union-attr]
    assert as_open311_error(NotNow("taken")).status == 400  # type: ignore[union-attr]
    assert as_open311_error(HTTPException(401, "sign in")).status == 403  # type: ignore[union-attr]
    slow_down = as_open311_error(HTTPException(429, "too many", headers={"Retry-After": "3"}))
    assert slow_down is not None and (slow_down.status, slow_down.headers) == (
        429, {"Retry-After": "3"})
    busy = as_open311_error(Unavailable("no number"))
    assert busy is not None and busy.status == 400 and busy.headers["Retry-After"]
    invalid = as_open311_error(RequestValidationError(
        [{"loc": ("query", "lat"), "msg": "Input should be a valid number", "type": "x"}]))
    assert invalid is not None and invalid.descriptions == ("lat: Input should be a valid number",)
    assert as_open311_error(ValueError("a bug")) is None


def test_paths_under_the_base_that_match_nothing_answer_in_the_spec_format() -> None:
    missing = error_for("/open311/v2/nothing.json", HTTPException(404))
    assert missing is not None and missing.status_code == 404
    assert json.loads(bytes(missing.body))[0]["code"] == 404
    no_extension = error_for("/open311/v2/services", HTTPException(404))
    assert no_extension is not None and no_extension.headers["content-type"].startswith("text/xml")
    assert error_for("/api/cases/x", HTTPException(404)) is None


def test_the_format_is_the_extension() -> None:
    assert format_of("xml") == "xml" and format_of("JSON") == "json"
    with pytest.raises(Open311Error) as raised:
        format_of("html")
    assert raised.value.status == 404


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-10-06T09:12:00+08:00", datetime(2026, 10, 6, 9, 12, tzinfo=CST)),
    ("2026-10-06T01:12:00Z", datetime(2026, 10, 6, 1, 12, tzinfo=UTC)),
    ("2026-10-06T09:12+08:00", datetime(2026, 10, 6, 9, 12, tzinfo=CST)),
    ("2026-10-06T09:12:00.250+08:00", datetime(2026, 10, 6, 9, 12, 0, 250_000, tzinfo=CST)),
    ("2026-10-06T09:12:00 08:00", datetime(2026, 10, 6, 9, 12, tzinfo=CST)),  # '+' as a space
])
def test_w3c_dates_with_a_time_zone_are_read(text: str, expected: datetime) -> None:
    assert parse_w3c("start_date", text) == expected


@pytest.mark.parametrize(("text", "says"), [
    ("2026-10-06T09:12:00", "has no time zone"),
    ("2026-10-06", "has no time zone"),
    ("yesterday", "is not a W3C date-time"),
    ("06/10/2026", "is not a W3C date-time"),
    ("2026-13-45T09:12:00Z", "is not a real date-time"),
])
def test_other_dates_are_refused_naming_the_parameter(text: str, says: str) -> None:
    with pytest.raises(Open311Error) as raised:
        parse_w3c("end_date", text)
    assert raised.value.status == 400
    assert raised.value.descriptions[0].startswith("end_date: ") and says in str(raised.value)


def test_dates_are_written_in_the_city_time_zone_to_the_second() -> None:
    moment = datetime(2026, 10, 6, 1, 12, 30, 999_999, tzinfo=UTC)
    assert w3c(moment, CST) == "2026-10-06T09:12:30+08:00"
    assert w3c(None, CST) is None


def test_empty_parameters_count_as_absent_and_lists_may_be_repeated_or_comma_delimited() -> None:
    params = {"status": ["open,", " closed"], "start_date": ["", "  "], "lang": ["en", "en"]}
    assert comma_list(params["status"]) == ["open", "closed"]
    assert single(params, "start_date") is None and single(params, "missing") is None
    with pytest.raises(Open311Error):
        single(params, "lang")


def test_a_configured_jurisdiction_is_checked_and_an_unconfigured_one_ignored() -> None:
    check_jurisdiction(None, "anything.example")
    check_jurisdiction("zhengzhou.gov.cn", None)
    check_jurisdiction("zhengzhou.gov.cn", "")
    check_jurisdiction("zhengzhou.gov.cn", "Zhengzhou.gov.cn")
    with pytest.raises(Open311Error) as raised:
        check_jurisdiction("zhengzhou.gov.cn", "sfgov.org")
    assert raised.value.status == 404 and "sfgov.org" in str(raised.value)


def test_the_language_comes_from_lang_then_accept_language() -> None:
    assert pick_language(None, None) == "zh-Hans"
    assert pick_language("en", "zh-CN") == "en"
    assert pick_language(None, "fr, zh-TW;q=0.8, en;q=0.9") == "en"
    assert pick_language("", "zh-HK") == "zh-Hant"
    with pytest.raises(Open311Error):
        pick_language("klingon", None)
