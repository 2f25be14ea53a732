"""What a frontend on the bus is told: the receipt of a recorded or a refused submission."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from contracts.case_commands import SubmitCase
from services.common.keys import BrokenSeal, DataKey, open_for, public_key_text
from services.intake.receipts import (
    recorded,
    refusal_slot,
    refused,
    submission_id_of,
    unreadable,
)
from services.intake.service import SUBMISSIONS

NOW = datetime(2026, 10, 6, 9, 12, tzinfo=UTC)
CODE = "AB12-CD34-EF56-GH78"
LIGHTS = {"category": "traffic-signals", "description": "沙口路王府坟菜市场门口的红绿灯不亮了。",
          "location": {"district": "jinshui", "street": "沙口路"}}


def record(value: bytes, key: bytes | None = None, offset: int = 41) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic="zaiban.intake.submissions", partition=2, offset=offset,
                          timestamp=0, timestamp_type=0, key=key, value=value, checksum=None,
                          serialized_key_size=0, serialized_value_size=0, headers=())


def test_a_recorded_submission_is_told_its_case_and_a_code_only_its_frontend_can_open() -> None:
    frontend = DataKey.new("city-app")

    receipt = recorded("app-7", "ZB261006-7K3M-9QXA", CODE, public_key_text(frontend), NOW)

    assert (receipt.outcome, receipt.case_id, receipt.reason) == (
        "recorded", "ZB261006-7K3M-9QXA", None)
    assert receipt.tracking_code is not None and receipt.tracking_code.kid == "app-7"
    assert CODE not in receipt.model_dump_json() and "AB12" not in receipt.model_dump_json()
    assert open_for(DataKey("app-7", frontend.secret), receipt.tracking_code) == CODE.encode()
    with pytest.raises(BrokenSeal):  # not for anyone else, nor for another submission
        open_for(DataKey("app-7", DataKey.new("x").secret), receipt.tracking_code)
    with pytest.raises(BrokenSeal):
        open_for(DataKey("app-8", frontend.secret), receipt.tracking_code)


def test_without_a_receipt_key_the_receipt_carries_the_case_number_alone() -> None:
    receipt = recorded("app-7", "ZB261006-7K3M-9QXA", CODE, "", NOW)
    assert receipt.tracking_code is None and CODE not in receipt.model_dump_json()


def test_a_refusal_says_why_and_names_no_case() -> None:
    receipt = refused("app-8", "invalid request: body.category: unknown category 'ufo'", NOW)
    assert (receipt.outcome, receipt.case_id, receipt.tracking_code) == ("refused", None, None)
    assert receipt.reason and "body.category" in receipt.reason


def test_a_receipt_answers_the_submission_id_else_the_records_key_else_where_it_lies() -> None:
    command = SubmitCase.model_validate({**LIGHTS, "submission_id": "app-7"})
    anonymous = SubmitCase.model_validate(LIGHTS)

    assert submission_id_of(record(b"sealed", b"key-1"), command) == "app-7"
    assert submission_id_of(record(b"sealed", b"key-1"), anonymous) == "key-1"
    assert submission_id_of(record(b'{"submission_id": "app-9", "category": 1}', b"k")) == "app-9"
    assert submission_id_of(record(b'{"submission_id": 5}', b"key-2")) == "key-2"
    assert submission_id_of(record(b"\xff\xfe")) == "zaiban.intake.submissions/2/41"


def test_the_same_record_again_has_the_same_refusal_and_a_corrected_one_another() -> None:
    first = record(b'{"category": "ufo"}', b"app-8")
    assert refusal_slot("app-8", first) == refusal_slot("app-8", record(first.value, offset=99))
    assert refusal_slot("app-8", first) != refusal_slot("app-8", record(b'{"category": "x"}'))


def test_a_receipt_key_is_an_x25519_public_key_in_base64url() -> None:
    key = public_key_text(DataKey.new("city-app"))
    assert SubmitCase.model_validate({**LIGHTS, "receipt_key": key}).receipt_key == key
    for bad in ("not a key", key[:-1], key + "A", key.replace(key[0], "+")):
        with pytest.raises(ValidationError):
            SubmitCase.model_validate({**LIGHTS, "receipt_key": bad})


def test_a_record_that_is_no_submission_is_told_what_is_wrong_with_what_it_meant_to_be() -> None:
    def why(raw: bytes) -> str:
        with pytest.raises(ValidationError) as error:
            SUBMISSIONS.validate_json(raw)
        return unreadable(raw, error.value)

    plain = why(json.dumps({**LIGHTS, "contact": {"phone": "x1"}}).encode())
    assert plain.startswith("invalid: contact.phone: String should match pattern")
    assert "sealed" not in plain and "x1" not in plain
    sealed = why(b'{"sealed": {"kid": "bus:submissions"}}')
    assert sealed == ("invalid: sealed.epk: Field required; sealed.nonce: Field required; "
                      "sealed.ciphertext: Field required")
    assert "Invalid JSON" in why(b"\xff\xfenot json")
