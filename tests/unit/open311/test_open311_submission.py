"""A GeoReport POST becomes a submission: location, district, attributes, the person, checks."""

from __future__ import annotations

import pytest
from unit.tracking.tracking_stories import CITY

from contracts.case_commands import SubmitCase
from contracts.facts import Channel
from services.common.catalogue import Language
from services.common.open311.errors import Open311Error
from services.intake.open311.format import receipt_row, service_definition, service_row
from services.intake.open311.parse import (
    full_name,
    nearest_district,
    open311_where,
    read_attributes,
    read_submission,
)
from services.lifecycle.submitting import check_submission

# The gate of the Wangfufen vegetable market on Shakou Road, in Jinshui district.
WANGFUFEN = {"lat": ["34.7995"], "long": ["113.6390"]}


def submission(params: dict[str, list[str]], *, default_district: str | None = None,
               language: Language = "zh-Hans") -> SubmitCase:
    return read_submission(params, CITY, default_district=default_district,
                           language=language, client="city-app")


def refusal(params: dict[str, list[str]], **options: object) -> Open311Error:
    with pytest.raises(Open311Error) as raised:
        submission(params, **options)  # type: ignore[arg-type]
    return raised.value


def test_a_point_report_becomes_a_case_in_the_nearest_district() -> None:
    command = submission({
        "service_code": ["traffic-signals"], **WANGFUFEN,
        "attribute[signal_state]": ["dark"],
        "description": ["沙口路王府坟菜市场门口的红绿灯不亮了。"],
        "first_name": ["秀英"], "last_name": ["李"], "phone": ["13812345678"],
        "email": ["li@example.com"], "device_id": ["tt222111"], "account_id": ["123456"],
        "media_url": ["https://media.example.org/p/dark.jpg"],
    })

    assert command.category == "traffic-signals" and command.channel is Channel.OPEN311
    assert command.location.district == "jinshui"
    assert (command.location.lat, command.location.lon) == (34.7995, 113.639)
    assert command.location.street == "" and command.location.address == ""
    assert command.attributes == {"signal_state": "dark"}
    assert command.contact is not None and command.contact.name == "李秀英"
    assert command.contact.phone == "13812345678" and command.contact.email == "li@example.com"
    assert [m.url for m in command.media] == ["https://media.example.org/p/dark.jpg"]
    assert command.external_ref == "open311:city-app"
    assert "tt222111" not in command.model_dump_json()  # device and account ids are not kept
    assert check_submission(command, CITY) == []


def test_an_address_alone_needs_a_district_attribute_or_the_configured_default() -> None:
    address = {"service_code": ["water"], "address_string": ["文化路97号院3号楼"]}

    refused = refusal(address)
    given = submission({**address, "attribute[district]": ["erqi"]})
    defaulted = submission(address, default_district="zhongyuan")
    explicit_wins = submission({**address, **WANGFUFEN, "attribute[district]": ["erqi"]})

    assert refused.status == 400 and "attribute[district]" in str(refused)
    assert given.location.district == "erqi" and given.location.address == "文化路97号院3号楼"
    assert given.attributes == {}  # the district is not a question of the category
    assert defaulted.location.district == "zhongyuan"
    assert explicit_wins.location.district == "erqi"
    assert refusal({**address, "attribute[district]": ["atlantis"]}).status == 400


def test_an_address_id_is_kept_as_the_address_for_the_officers() -> None:
    command = submission({"service_code": ["roads"], "address_id": ["545483"],
                          "attribute[district]": ["jinshui"]})
    assert command.location.address == "545483"


@pytest.mark.parametrize(("params", "says"), [
    ({"service_code": ["roads"]}, "a location is required"),
    ({"service_code": ["roads"], "lat": ["34.8"]}, "lat and long"),
    ({"service_code": ["roads"], "lat": ["north"], "long": ["113.6"]}, "lat: 'north'"),
    ({"service_code": ["roads"], "lat": ["91"], "long": ["113.6"]}, "lat: '91'"),
    ({"service_code": ["roads"], "lat": ["nan"], "long": ["113.6"]}, "lat: 'nan'"),
    ({**WANGFUFEN}, "service_code was not provided"),
    ({"service_code": ["roads"], **WANGFUFEN, "description": ["x" * 4001]},
     "description: at most 4,000 characters; this one has 4,001"),
    ({"service_code": ["roads"], **WANGFUFEN, "media_url": ["javascript:alert(1)"]},
     "media_url"),
    ({"service_code": ["roads"], **WANGFUFEN, "email": ["not-an-email"]},
     "email: not an email address"),
    ({"service_code": ["roads"], **WANGFUFEN, "first_name": ["a\nb"]}, "first_name"),
    ({"service_code": ["roads"], **WANGFUFEN, "attribute[hazard]": ["yes", "no"]},
     "attribute[hazard][]"),
    ({"service_code": ["roads"], **WANGFUFEN, "attribute[]": ["yes"]}, "code is missing"),
    ({"service_code": ["consumer"], **WANGFUFEN, "attribute[merchant]": ["m\x00x"]},
     "attribute[merchant]: contains a control character (U+0000)"),
    ({"service_code": ["roads"], **WANGFUFEN, "email": ["a\x00@b.cd"]}, "email: contains"),
    ({"service_code": ["roads"], **WANGFUFEN, "media_url": ["http://a.cn/\x00"]}, "media_url"),
])
def test_what_cannot_be_a_case_is_a_400_naming_the_parameter(params: dict[str, list[str]],
                                                            says: str) -> None:
    refused = refusal(params)
    assert refused.status == 400
    assert says in str(refused)


def test_the_residents_consent_to_be_told_is_an_extension_kept_in_their_contact() -> None:
    reachable = {"service_code": ["roads"], **WANGFUFEN, "phone": ["13812345678"],
                 "email": ["li@example.com"]}

    both = submission({**reachable, "zaiban_notify": ["true"],
                       "zaiban_channels": ["email, sms"]}).contact
    assert both is not None and both.notify and both.reach == ("email", "sms")
    repeated = submission({**reachable, "zaiban_notify": ["TRUE"],
                           "zaiban_channels": ["sms", "sms"]}).contact
    assert repeated is not None and repeated.channels == ("sms",)
    unnamed = submission({**reachable, "zaiban_notify": ["true"]}).contact
    assert unnamed is not None and unnamed.reach == ("email", "sms")  # every address given
    for silent in ({}, {"zaiban_notify": ["false"]}, {"zaiban_notify": [""]}):
        contact = submission({**reachable, **silent}).contact
        assert contact is not None and not contact.notify and contact.reach == ()


@pytest.mark.parametrize(("extension", "says"), [
    ({"zaiban_channels": ["fax"], "zaiban_notify": ["true"]},
     "zaiban_channels: 'fax' is not a channel; one of: email, sms"),
    ({"zaiban_notify": ["yes"]}, "zaiban_notify: 'yes' is neither true nor false"),
    ({"zaiban_notify": ["true", "false"]}, "zaiban_notify: given 2 times"),
    ({"zaiban_channels": ["email"]}, "zaiban_channels: given without zaiban_notify=true"),
    ({"zaiban_notify": ["true"], "zaiban_channels": ["sms"], "phone": []},
     "zaiban_channels: channel 'sms' needs the contact's phone"),
    ({"zaiban_notify": ["true"], "phone": [], "email": []},
     "zaiban_notify: the resident can be told only at an email or a phone"),
])
def test_a_bad_consent_is_a_400_naming_the_extension(extension: dict[str, list[str]],
                                                     says: str) -> None:
    refused = refusal({"service_code": ["roads"], **WANGFUFEN, "first_name": ["秀英"],
                       "email": ["li@example.com"], "phone": ["13812345678"], **extension})
    assert refused.status == 400
    assert says in str(refused)


def test_an_unknown_service_code_is_a_404() -> None:
    assert refusal({"service_code": ["potholes"], **WANGFUFEN}).status == 404


def test_without_a_description_the_service_name_stands_in() -> None:
    assert submission({"service_code": ["gas"], **WANGFUFEN}, language="en").description == \
        "Gas (no description given)"
    assert submission({"service_code": ["gas"], **WANGFUFEN}).description == "燃气（未填写描述）"


def test_attributes_take_one_value_or_a_list_and_the_catalogue_checks_them() -> None:
    answers = read_attributes({"attribute[a]": ["1"], "attribute[b][]": ["x", "y", ""],
                               "attribute[c]": [""], "other": ["z"]})
    assert answers == {"a": "1", "b": ("x", "y")}

    wrong = submission({"service_code": ["traffic-signals"], **WANGFUFEN,
                        "attribute[signal_state]": ["on fire"], "attribute[colour]": ["red"]})
    problems = {open311_where(p.where) for p in check_submission(wrong, CITY)}
    assert problems == {"attribute[signal_state]", "attribute[colour]"}
    missing = submission({"service_code": ["traffic-signals"], **WANGFUFEN})
    assert [p.problem for p in check_submission(missing, CITY)] == ["required for this category"]


def test_names_are_written_as_their_language_writes_them() -> None:
    assert full_name("秀英", "李") == "李秀英"
    assert full_name("John", "Smith") == "John Smith"
    assert full_name(None, "Smith") == "Smith" and full_name(None, None) == ""


def test_the_nearest_district_center_decides() -> None:
    assert nearest_district(CITY, 34.527, 113.853) == "hangkonggang"
    assert nearest_district(CITY, 34.80, 113.31) == "shangjie"


def test_services_and_their_definitions_come_from_the_catalogue() -> None:
    water = CITY.category("water")
    signals = CITY.category("traffic-signals")
    assert water is not None and signals is not None

    row = service_row(water, "en")
    definition = service_definition(signals, CITY, "zh-Hant")

    assert row == {"service_code": "water", "service_name": "Water supply",
                   "description": "No water, low pressure, water quality, leaks",
                   "metadata": True, "type": "realtime", "keywords": "供水, Water supply",
                   "group": "utilities"}
    codes = [(a["code"], a["order"], a["required"]) for a in definition["attributes"]]
    assert codes == [("signal_state", 1, True), ("district", 2, False)]
    assert definition["attributes"][0]["values"][0] == {"key": "dark", "name": "全部不亮"}
    assert {v["key"] for v in definition["attributes"][1]["values"]} == \
        {d.code for d in CITY.districts}


def test_a_posts_answer_carries_the_tracking_code_as_an_extension_in_json_and_xml() -> None:
    import json
    import xml.etree.ElementTree as ET

    from services.common.open311.formats import answer

    row = receipt_row("ZB261020-7K3M-9QXA", "AB12-CD34-EF56-GH78", "https://zaiban.example",
                      "en")

    assert list(row) == ["service_request_id", "service_notice", "account_id",
                         "zaiban_tracking_code"]
    assert row["zaiban_tracking_code"] == "AB12-CD34-EF56-GH78"
    assert row["service_notice"].endswith("https://zaiban.example/cases/ZB261020-7K3M-9QXA")
    assert "AB12" not in row["service_notice"]  # the notice is the client's to show anyone
    [as_json] = json.loads(bytes(answer("json", "service_requests", [row]).body))
    assert as_json == row
    request = ET.fromstring(bytes(answer("xml", "service_requests", [row]).body)).find("request")
    assert request is not None
    assert [e.tag for e in request] == list(row)
    assert request.findtext("zaiban_tracking_code") == "AB12-CD34-EF56-GH78"
