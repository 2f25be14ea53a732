"""What onboarding a frontend grants it and hands it: writing submissions, reading receipts in
its own group, and a configuration a department's client reads as it reads its own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from examples import department_client
from services.common.settings import CommonSettings
from zaiban.departments import BrokerSecurity, Grant
from zaiban.frontends import BadName, access_of, properties

SETTINGS = CommonSettings(topic_prefix="city.", kafka_bootstrap="kafka.city:9093")


def test_a_frontend_may_write_submissions_and_read_receipts_in_its_own_group() -> None:
    access = access_of(SETTINGS, "city-app")

    assert (access.user, access.principal) == ("frontend-city-app", "User:frontend-city-app")
    assert set(access.grants) == {
        Grant("topic", "city.zaiban.intake.submissions", "WRITE"),
        Grant("topic", "city.zaiban.intake.submissions", "DESCRIBE"),
        Grant("topic", "city.zaiban.intake.receipts", "READ"),
        Grant("topic", "city.zaiban.intake.receipts", "DESCRIBE"),
        Grant("group", "city.zaiban-frontend-city-app", "READ")}
    for bad in ("City App", "", "-x", "a" * 64, "../x"):
        with pytest.raises(BadName):
            access_of(SETTINGS, bad)


def test_its_configuration_reads_as_a_departments_does(tmp_path: Path) -> None:
    access = access_of(SETTINGS, "city-app")
    text = properties(access, "kafka.city:9093", BrokerSecurity("SASL_PLAINTEXT"), "s3cret",
                      datetime(2026, 10, 6, tzinfo=UTC))
    path = tmp_path / "city-app.properties"
    path.write_text(text, encoding="utf-8")

    config = department_client.read_properties(path)
    options = department_client.kafka_options(config)
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "frontend-city-app", "s3cret")
    assert config["group.id"] == "city.zaiban-frontend-city-app"
    assert config["zaiban.submissions.topic"] == "city.zaiban.intake.submissions"
    assert config["zaiban.receipts.topic"] == "city.zaiban.intake.receipts"
    plain = properties(access, "kafka.city:9092", BrokerSecurity(), None, datetime.now(UTC))
    assert "sasl" not in plain and "does not authenticate" in plain
