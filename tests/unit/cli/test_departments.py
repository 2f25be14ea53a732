"""`zaiban departments`: what a department is given, read as the department reads it.

The client configuration is Kafka client properties; the example department system
(examples/department_client.py) reads it back here into aiokafka's options, so what
onboarding prints and what a department's system connects with cannot drift apart.
The broker's part (the SCRAM user and its ACLs) is made from the same grants
(`acls_of`); tests/integration/test_department_client.py shows the broker holding a
department to them."""

from __future__ import annotations

import ssl
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from pydantic import SecretStr
from typer.testing import CliRunner

from examples import department_client
from services.common.settings import CommonSettings
from zaiban.cli import app as cli
from zaiban.departments import (
    SCRAM_LOGIN,
    BrokerSecurity,
    ClientConfig,
    Grant,
    Listener,
    UnknownDepartment,
    access_of,
    acls_of,
    departments_listener,
    offboard,
    onboard,
    write_secret,
)
from zaiban.infra.tls import TlsFiles, ensure_ca

SASL_SSL = BrokerSecurity(protocol="SASL_SSL", mechanism="SCRAM-SHA-512")


def offline(prefix: str = "") -> CommonSettings:
    """Settings that reach no broker: whatever needs one fails."""
    return CommonSettings(environment="test", auth_secret=SecretStr("offline"),
                          kafka_bootstrap="127.0.0.1:9", topic_prefix=prefix,
                          kafka_security_protocol="PLAINTEXT")


def water_co(security: BrokerSecurity, password: str | None, ca_pem: str | None = None
             ) -> ClientConfig:
    return ClientConfig(access=access_of(offline("city."), "water-co"),
                        name="Water Supply Company", bootstrap="kafka.city.example:9094",
                        security=security, password=password, ca_pem=ca_pem)


def test_a_department_may_read_its_cases_in_its_group_and_write_its_replies_and_nothing_else(
) -> None:
    access = access_of(offline("city."), "water-co")
    assert access.principal == "User:dept-water-co"
    assert set(access.grants) == {
        Grant("topic", "city.zaiban.routing.department.water-co.cases", "READ"),
        Grant("topic", "city.zaiban.routing.department.water-co.cases", "DESCRIBE"),
        Grant("group", "city.zaiban-dept-water-co", "READ"),
        Grant("topic", "city.zaiban.routing.department.water-co.replies", "WRITE"),
        Grant("topic", "city.zaiban.routing.department.water-co.replies", "DESCRIBE"),
    }


def test_the_configuration_is_kafka_client_properties_the_example_client_connects_with(
        tmp_path: Path) -> None:
    ca = ensure_ca(TlsFiles(tmp_path / "ca"))  # the city's own CA, as `zaiban infra up` makes
    ca_pem = ca.public_bytes(Encoding.PEM).decode()
    text = water_co(SASL_SSL, "s3cret-Pass_word", ca_pem=ca_pem).properties()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines[:4] == [
        "bootstrap.servers=kafka.city.example:9094",
        "security.protocol=SASL_SSL",
        "sasl.mechanism=SCRAM-SHA-512",
        f'sasl.jaas.config={SCRAM_LOGIN} required username="dept-water-co" '
        'password="s3cret-Pass_word";',
    ]
    # the CA itself, inline (Java's properties: `\n` escapes, `\` continued lines)
    assert "ssl.truststore.type=PEM" in lines
    assert "ssl.truststore.certificates=-----BEGIN CERTIFICATE-----\\n\\" in lines
    assert "group.id=city.zaiban-dept-water-co" in lines

    path = tmp_path / "water-co.properties"
    write_secret(path, text)
    config = department_client.read_properties(path)
    assert config["ssl.truststore.certificates"] == ca_pem.strip()
    options = department_client.kafka_options(config)
    context = options.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext)
    assert [cert["subject"] for cert in context.get_ca_certs()] == [
        ((("organizationName", "zaiban"),), (("commonName", "zaiban local CA"),))]
    assert options == {"bootstrap_servers": "kafka.city.example:9094",
                       "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                       "sasl_plain_username": "dept-water-co",
                       "sasl_plain_password": "s3cret-Pass_word"}
    assert (config["group.id"], config["zaiban.cases.topic"], config["zaiban.replies.topic"]) == (
        "city.zaiban-dept-water-co", "city.zaiban.routing.department.water-co.cases",
        "city.zaiban.routing.department.water-co.replies")


def test_on_a_broker_that_does_not_authenticate_the_configuration_has_no_credentials_and_says_so(
        tmp_path: Path) -> None:
    text = water_co(BrokerSecurity(), password=None).properties()
    assert "security.protocol=PLAINTEXT" in text.splitlines()
    assert not [line for line in text.splitlines() if line.startswith("sasl.")]
    assert "password=" not in text
    assert "any client\n# that reaches it can read and write every topic" in text
    path = tmp_path / "water-co.properties"
    write_secret(path, text)
    assert department_client.kafka_options(department_client.read_properties(path)) == {
        "bootstrap_servers": "kafka.city.example:9094", "security_protocol": "PLAINTEXT"}


def test_the_file_is_readable_by_its_owner_only_even_one_that_was_there(tmp_path: Path) -> None:
    path = tmp_path / "dept.properties"
    path.write_text("old")
    path.chmod(0o644)
    write_secret(path, "new\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "new\n"


async def test_only_a_department_of_the_city_is_onboarded() -> None:
    with pytest.raises(UnknownDepartment, match="'gas-station' is not a department of the city"):
        await onboard(offline(), "gas-station")
    with pytest.raises(UnknownDepartment, match="not a department code"):
        await offboard(offline(), "../etc", security=SASL_SSL)


def test_the_broker_is_given_exactly_the_departments_grants_each_on_one_name() -> None:
    access = access_of(offline("city."), "water-co")
    acls = acls_of(access)
    assert {(acl.resource.name.lower(), acl.name, acl.operation.name) for acl in acls} == {
        (grant.resource, grant.name, grant.operation) for grant in access.grants}
    assert {(acl.principal, acl.pattern.name, acl.permission.name, acl.host)
            for acl in acls} == {("User:dept-water-co", "LITERAL", "ALLOW", "*")}


def test_the_command_says_which_departments_the_city_has() -> None:
    result = CliRunner().invoke(cli, ["departments", "onboard", "gas-station"],
                                env={"ZAIBAN_KAFKA_BOOTSTRAP": "127.0.0.1:9"})
    assert result.exit_code == 1
    assert "'gas-station' is not a department of the city" in result.stderr
    assert "signal-co" in result.stderr and result.stdout == ""


def test_the_readmes_python_excerpt_is_the_examples_own_code() -> None:
    """The README shows the heart of examples/department_client.py, which the tests run."""
    root = Path(__file__).parents[3]
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How a department connects", 1)[1].split("\n## ", 1)[0]
    [excerpt] = [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]
    example = (root / "examples" / "department_client.py").read_text(encoding="utf-8")
    assert excerpt.strip() and excerpt in example


README_CA = "-----BEGIN CERTIFICATE-----\nMIIBnTCCAUOgAwIBAgIU…\n-----END CERTIFICATE-----\n"
"""The README's CA certificate, shortened."""


def test_the_readmes_properties_file_is_what_onboarding_writes() -> None:
    root = Path(__file__).parents[3]
    readme = (root / "README.md").read_text(encoding="utf-8")
    [shown] = [block.split("```", 1)[0] for block in readme.split("```properties\n")[1:]]
    made = ClientConfig(access=access_of(offline(), "water-co"), name="Water Supply Company",
                        bootstrap="kafka.zhengzhou.example:9094", security=SASL_SSL,
                        password="…", ca_pem=README_CA,
                        made_at=datetime(2026, 10, 6, 9, 0, tzinfo=UTC))
    assert shown == made.properties()


def test_departments_connect_to_their_own_tls_listener_where_the_deployment_has_one(
        tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(ensure_ca(TlsFiles(tmp_path / "ca")).public_bytes(Encoding.PEM))
    services = offline().model_copy(update={"kafka_security_protocol": "SASL_PLAINTEXT"})
    assert departments_listener(services) == Listener("127.0.0.1:9", services_security(), None)
    outside = services.model_copy(update={"kafka_departments_bootstrap": "kafka.city.example:9094",
                                          "kafka_departments_ca_file": ca})
    assert departments_listener(outside) == Listener("kafka.city.example:9094", SASL_SSL,
                                                     ca.read_text())
    # a broker that authenticates no one has no listener for departments either
    assert departments_listener(outside.model_copy(update={
        "kafka_security_protocol": "PLAINTEXT"})).security == BrokerSecurity()


def services_security() -> BrokerSecurity:
    return BrokerSecurity(protocol="SASL_PLAINTEXT", mechanism="SCRAM-SHA-512")


def test_a_ca_file_that_is_no_certificate_is_refused_before_anything_is_made(
        tmp_path: Path) -> None:
    wrong = tmp_path / "ca.pem"
    wrong.write_text("not a certificate\n")
    result = CliRunner().invoke(cli, ["departments", "onboard", "water-co", "--ca-file", str(wrong)],
                                env={"ZAIBAN_KAFKA_BOOTSTRAP": "127.0.0.1:9"})
    assert result.exit_code == 1
    assert f"{wrong} is not a CA certificate in PEM" in result.stderr and result.stdout == ""


def test_a_deployment_gets_its_brokers_certificate_from_a_ca_of_its_own(tmp_path: Path) -> None:
    folder = tmp_path / "kafka-tls"

    def certificates(*hosts: str) -> x509.Certificate:
        result = CliRunner().invoke(cli, ["topics", "certificates", str(folder),
                                          *(arg for host in hosts for arg in ("--host", host))])
        assert result.exit_code == 0, result.stderr
        files = TlsFiles(folder)
        keystore = pkcs12.load_key_and_certificates(
            files.broker.read_bytes(), files.broker_password.read_text().strip().encode())
        key, cert, chain = keystore
        assert key is not None and cert is not None
        ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
        assert [c.subject for c in chain] == [ca.subject] and cert.issuer == ca.subject
        cert.verify_directly_issued_by(ca)
        return cert

    first = certificates("kafka.city.example", "10.0.0.7")
    names = first.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["kafka.city.example"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    files = TlsFiles(folder)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode)
             for path in (files.ca, files.ca_key, files.broker, files.broker_password)}
    # the CA's key never leaves the operator; the broker's container user reads its keystore
    assert modes == {"ca.pem": 0o644, "ca-key.pem": 0o600, "broker.p12": 0o644,
                     "broker.p12-password": 0o644}
    ca = files.ca.read_bytes()

    assert certificates("kafka.city.example", "10.0.0.7").serial_number == first.serial_number
    again = certificates("kafka.zhengzhou.example")  # another name: issued again, same CA
    assert again.serial_number != first.serial_number and files.ca.read_bytes() == ca
