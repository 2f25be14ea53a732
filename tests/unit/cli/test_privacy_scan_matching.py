"""How `zaiban privacy scan` recognises a detail in stored bytes, whatever form it was
written in; and that ciphertext (a sealed PersonalData) holds none of them."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import pytest
from photofixtures import GPS_VALUES, phone_jpeg
from typer.testing import CliRunner

from contracts.personal import PersonalData, ResidentContact
from services.common.keys import DataKey
from zaiban.cli import app
from zaiban.scan import Needle, fields_holding, forms_of, hits_in

PHONE, NAME, EMAIL = "138 2468 1357", "上官婉清", "Wanqing.Shangguan@example.net"


def found(needle: str, stored: bytes) -> str | None:
    return Needle.of(needle).found_in(stored.lower())


@pytest.mark.parametrize("stored", [
    b'{"phone": "13824681357"}',  # written without the spaces
    b'{"phone": "138 2468 1357"}',
    b'{"phone": "138-2468-1357"}',  # and with dashes
    "电话：138 2468 1357".encode(),
    urlencode({"phone": "13824681357"}).encode(),
])
def test_a_phone_is_found_with_or_without_its_separators(stored: bytes) -> None:
    assert found(PHONE, stored)
    assert found("13824681357", stored)


def test_a_chinese_name_is_found_in_utf8_json_escapes_url_encoding_and_base64() -> None:
    body = {"name": NAME}
    assert found(NAME, json.dumps(body, ensure_ascii=False).encode()) == "as given"
    assert found(NAME, json.dumps(body).encode()) == "as given, JSON-escaped"
    assert found(NAME, urlencode(body).encode()) == "as given, URL-encoded"
    for prefix in (b"", b"x", b"xy"):  # base64 of a text holding it, at every alignment
        wrapped = base64.b64encode(prefix + json.dumps(body, ensure_ascii=False).encode())
        assert found(NAME, wrapped) == "as given, base64"


def test_an_email_is_found_whatever_its_case() -> None:
    assert found(EMAIL, b'{"email": "wanqing.shangguan@example.net"}')


def test_a_coordinate_is_not_taken_for_a_phone() -> None:
    assert b"34781234" not in dict((form, name) for name, form in forms_of("34.781234"))
    assert not found("34.781234", b'{"number": "34781234"}')


def test_a_needle_too_short_to_mean_anything_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 4 bytes"):
        Needle.of("13")


def test_the_hit_names_the_field_also_inside_json_kept_in_a_string() -> None:
    letter = {"reason": "refused", "payload": json.dumps({"contact": {"phone": "13824681357"}})}
    hit, = hits_in(json.dumps(letter).encode(), [Needle.of(PHONE)], "t.zaiban.dlq.intake",
                   "0/7", "value", lambda: letter)
    assert hit.fields == ("payload>contact.phone (without separators)",)
    assert str(hit) == ("t.zaiban.dlq.intake/0/7 value field payload>contact.phone (without "
                        "separators): '138 2468 1357' (without separators)")


def test_a_number_in_a_document_is_found_as_written() -> None:
    document = {"_id": "ZB1", "location": {"lat": 34.781234, "lon": 113.681357}}
    assert fields_holding(document, Needle.of("34.781234")) == ["location.lat"]


def test_sealed_personal_data_holds_no_form_of_any_detail() -> None:
    personal = PersonalData(contact=ResidentContact(name=NAME, phone=PHONE, email=EMAIL.lower()),
                            address="金水区经三路66号院7号楼1203室", lat=34.781234, lon=113.681357)
    sealed = DataKey.new("ZB20261006-0001").seal(personal).model_dump_json().encode()
    needles = [Needle.of(n) for n in (NAME, PHONE, EMAIL, "经三路66号院", "34.781234")]
    assert not list(hits_in(sealed, needles, "topic", "0/1", "value", lambda: None))
    clear = personal.model_dump_json().encode()
    assert len(list(hits_in(clear, needles, "topic", "0/1", "value", lambda: None))) == len(needles)


def test_the_gps_position_a_phone_wrote_into_its_photo_is_found_in_the_bytes() -> None:
    photo = phone_jpeg().lower()
    assert all(Needle.of(seconds).found_in(photo) == "bytes" for seconds in GPS_VALUES)


def test_the_command_refuses_a_needle_that_proves_nothing_before_reading_anything() -> None:
    answer = CliRunner().invoke(app, ["privacy", "scan", "--needle", "13"])
    assert answer.exit_code == 2
    assert "at least 4 bytes" in answer.output
