"""How a Kafka client of zaiban logs in: every one takes its options from `kafka_options`,
with the password of the principal it acts as, and the broker keeps only what SCRAM needs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.common.kafka import (
    ADMIN,
    CredentialStore,
    NoCredentials,
    kafka_options,
    principal_of,
)
from services.common.settings import CommonSettings
from zaiban.kafka_security import ScramMechanism, salted_password


def settings(tmp_path: Path, **values: object) -> CommonSettings:
    return CommonSettings(environment="test", kafka_credentials=tmp_path / "credentials",
                          **values)  # type: ignore[arg-type]


def test_each_principal_logs_in_with_its_own_password_from_the_credentials_folder(
        tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials")
    intake, routing = store.ensure(principal_of("intake")), store.ensure(principal_of("routing"))
    assert intake != routing and len(intake) >= 40

    options = kafka_options(settings(tmp_path), principal_of("intake"))
    assert options == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                       "sasl_plain_username": "zaiban-intake", "sasl_plain_password": intake}
    assert kafka_options(settings(tmp_path), "zaiban-routing")["sasl_plain_password"] == routing

    # made once, kept: the same password the next time, readable by its owner only
    assert store.ensure("zaiban-intake") == intake
    assert stat.S_IMODE(os.stat(store.path("zaiban-intake")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.folder).st_mode) == 0o700
    assert store.principals() == ["zaiban-intake", "zaiban-routing"]


def test_a_principal_without_a_password_is_told_where_it_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(NoCredentials, match=r"no Kafka password for zaiban-admin in .*credentials"):
        kafka_options(settings(tmp_path), ADMIN)
    with pytest.raises(ValueError, match="not a principal"):
        CredentialStore(tmp_path).path("../elsewhere")


def test_a_deployment_names_one_principal_per_process_in_the_environment(tmp_path: Path) -> None:
    given = settings(tmp_path, kafka_username="zaiban-tracking",
                     kafka_password=SecretStr("from-a-secret"), kafka_security_protocol="SASL_SSL")
    options = kafka_options(given, principal_of("tracking"))
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "zaiban-tracking", "from-a-secret")
    assert options["ssl_context"].verify_mode.name == "CERT_REQUIRED"

    with pytest.raises(NoCredentials, match="ZAIBAN_KAFKA_PASSWORD"):
        kafka_options(settings(tmp_path, kafka_username="zaiban-tracking"), "zaiban-tracking")
    # a broker without authentication (a cluster of one's own): no SASL options at all
    assert kafka_options(settings(tmp_path, kafka_security_protocol="PLAINTEXT"), ADMIN) == {
        "security_protocol": "PLAINTEXT"}


def test_what_the_broker_keeps_is_rfc_5802s_salted_password() -> None:
    """RFC 7677's SCRAM-SHA-256 exchange: from the salted password computed here, the client's
    proof is the one the RFC gives; the password itself never travels."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    salted = salted_password("pencil", salt, 4096, ScramMechanism.SCRAM_SHA_256)
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth_message = (f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
                    f"c=biws,r={nonce}").encode()
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    assert base64.b64encode(proof).decode() == "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="

    assert len(salted_password("pencil", salt, 4096)) == 64  # SCRAM-SHA-512 by default
