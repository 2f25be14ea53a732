"""deploy/compose.yaml, read as `docker compose` would: Kafka and MongoDB as in production, the
topics made first, each service from the one image with settings it can actually read."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from unit.deploy.manifests import (
    REPO,
    compose,
    compose_services,
    is_zaiban_image,
    settings_class_of,
)

from services.common.settings import CommonSettings
from services.composition import SERVICES

SECRET_FROM_THE_ENVIRONMENT = re.compile(r"^\$\{ZAIBAN_AUTH_SECRET:\?[^}]+\}$")


def zaiban_services() -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in compose_services().items()
            if is_zaiban_image(spec.get("image", ""))}


def environment(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping, please"
    return {key: str(value) for key, value in env.items()}


def default_port(process: str) -> int:
    default = CommonSettings.model_fields[f"{process}_port"].default
    assert isinstance(default, int)
    return default


def test_the_stack_has_kafka_mongodb_the_topics_the_services_and_the_entry() -> None:
    assert compose()["name"] == "zaiban"
    assert set(compose_services()) == {"kafka", "mongo", "topics", "gateway", "public", *SERVICES}


def test_each_zaiban_container_runs_a_zaiban_command_that_exists() -> None:
    commands = {name: spec["command"] for name, spec in zaiban_services().items()}
    assert commands.pop("topics") == ["topics", "ensure"]
    assert commands == {name: ["serve", name] for name in (*SERVICES, "public")}
    for spec in zaiban_services().values():
        assert spec["build"] == {"context": "..", "dockerfile": "Dockerfile"}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_answers_on_its_own_port_and_is_checked_on_readyz(service: str) -> None:
    spec = compose_services()[service]
    port = default_port(service)
    assert spec["ports"] == [f"127.0.0.1:{port}:{port}"]
    probe = " ".join(spec["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/readyz" in probe


@pytest.mark.parametrize("service", [*SERVICES, "public", "topics"])
def test_the_environment_is_what_the_settings_read(service: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    env = environment(compose_services()[service])
    assert SECRET_FROM_THE_ENVIRONMENT.match(env.pop("ZAIBAN_AUTH_SECRET")), (
        "ZAIBAN_AUTH_SECRET comes from the operator's environment, with no default")
    for name in [n for n in os.environ if n.startswith("ZAIBAN_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ZAIBAN_AUTH_SECRET", "from-the-operator")

    kind = settings_class_of(service) if service in SERVICES else CommonSettings
    settings = kind()
    assert settings.environment == "production"
    assert settings.host == "0.0.0.0"
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.mongo_url == "mongodb://mongo:27017/?replicaSet=rs0"
    assert settings.write_concern_majority is True
    assert (settings.topic_partitions, settings.topic_replication,
            settings.topic_min_insync) == (3, 1, 1)
    assert settings.trusted_proxy_hops == 1  # the gateway, then the service
    assert settings.secret().get_secret_value() == "from-the-operator"
    assert (settings.kafka_security_protocol, settings.kafka_sasl_mechanism) == (
        "SASL_PLAINTEXT", "SCRAM-SHA-512")
    assert settings.kafka_credentials == Path("/run/secrets")  # where compose puts secrets


KAFKA_PASSWORDS = {  # who holds which principal's password (a compose secret, by target name)
    "kafka": {"zaiban-admin"},
    "topics": {"zaiban-admin", *(f"zaiban-{service}" for service in SERVICES)},
    "public": {f"zaiban-{service}" for service in SERVICES},
    **{service: {f"zaiban-{service}"} for service in SERVICES},
}


def test_kafka_lets_no_one_in_anonymously_and_allows_nothing_without_an_acl() -> None:
    env = environment(compose_services()["kafka"])
    listeners = dict(pair.split(":") for pair in
                     env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert listeners == {"CLIENT": "SASL_PLAINTEXT", "CONTROLLER": "SASL_PLAINTEXT",
                         "EXTERNAL": "SASL_SSL"}, "no PLAINTEXT (anonymous) listener"
    assert {name for name, _ in (listener.split("://") for listener in
                                 env["KAFKA_LISTENERS"].split(","))} == set(listeners)
    assert env["KAFKA_LISTENER_NAME_CLIENT_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert env["KAFKA_LISTENER_NAME_EXTERNAL_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith(".StandardAuthorizer")
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env["KAFKA_SUPER_USERS"] == "User:zaiban-admin"
    # its storage is formatted with the admin's SCRAM credential, by the script it starts with
    kafka = compose_services()["kafka"]
    assert kafka["command"] == ["bash", "/opt/zaiban/start.sh", "/run/secrets"]
    assert "./kafka/start.sh:/opt/zaiban/start.sh:ro" in kafka["volumes"]
    start = (REPO / "deploy" / "kafka" / "start.sh").read_text(encoding="utf-8")
    assert '--add-scram "SCRAM-SHA-512=[name=zaiban-admin,password=$admin]"' in start
    assert "--command-config" in kafka["healthcheck"]["test"]  # the health check logs in too



def test_departments_reach_the_broker_from_outside_over_tls_only() -> None:
    kafka = compose_services()["kafka"]
    env = environment(kafka)
    advertised = dict(listener.split("://") for listener in
                      env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised == {"CLIENT": "kafka:9092",
                          "EXTERNAL": "${KAFKA_DEPARTMENTS_HOST:-localhost}:9094"}
    assert kafka["ports"] == ["9094:9094"]  # the TLS listener alone is published
    # its keystore, from compose's secrets, is given to the broker by start.sh
    start = (REPO / "deploy" / "kafka" / "start.sh").read_text(encoding="utf-8")
    assert 'KAFKA_LISTENER_NAME_EXTERNAL_SSL_KEYSTORE_LOCATION="$tls/broker.p12"' in start
    # onboarding (in the topics container) writes that listener and its CA
    topics = environment(compose_services()["topics"])
    assert topics["ZAIBAN_KAFKA_DEPARTMENTS_BOOTSTRAP"] == advertised["EXTERNAL"]
    assert topics["ZAIBAN_KAFKA_DEPARTMENTS_CA_FILE"] == "/run/secrets/kafka-ca.pem"


TLS_FILES = {  # who holds which file of deploy/kafka-tls (`zaiban topics certificates`)
    "kafka": {"broker.p12": "broker.p12", "broker.p12-password": "broker.p12-password"},
    "topics": {"kafka-ca.pem": "ca.pem"},  # onboarding writes it into departments' files
}


@pytest.mark.parametrize("container", sorted(KAFKA_PASSWORDS))
def test_each_container_holds_the_kafka_passwords_of_its_own_principals_only(
        container: str) -> None:
    secrets = compose()["secrets"]
    given = compose_services()[container].get("secrets", [])
    tls = TLS_FILES.get(container, {})
    held = {entry["target"] for entry in given} - set(tls)
    assert held == KAFKA_PASSWORDS[container]
    for entry in given:  # the file of the same principal, from the git-ignored folder
        expected = (f"./kafka-tls/{tls[entry['target']]}" if entry["target"] in tls
                    else f"./kafka-credentials/{entry['target']}")
        assert secrets[entry["source"]] == {"file": expected}
    # the CA's own key is given to no container
    assert not [s for s in secrets.values() if s["file"].endswith("ca-key.pem")]
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "deploy/kafka-credentials/" in ignored and "deploy/kafka-tls/" in ignored


def test_kafka_is_the_official_image_in_kraft_mode_at_the_local_version_with_no_auto_create(
) -> None:
    kafka = compose_services()["kafka"]
    pom = ET.parse(REPO / "deploy" / "local" / "pom.xml").getroot()
    version = pom.find("{http://maven.apache.org/POM/4.0.0}properties/"
                       "{http://maven.apache.org/POM/4.0.0}kafka.version")
    assert version is not None
    assert kafka["image"] == f"apache/kafka:{version.text}"
    env = environment(kafka)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_ADVERTISED_LISTENERS"].startswith("CLIENT://kafka:9092,")
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert "kafka-data:/var/lib/kafka/data" in kafka["volumes"]


def test_the_topics_are_made_before_any_service_starts() -> None:
    services = compose_services()
    assert services["topics"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert services["topics"]["restart"] == "no"
    for name in (*SERVICES, "public"):
        assert services[name]["depends_on"]["topics"] == {
            "condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["mongo"] == {"condition": "service_healthy"}


def test_mongodb_is_the_official_image_as_a_replica_set_of_one() -> None:
    mongo = compose_services()["mongo"]
    assert mongo["image"] == "mongo:7"
    assert mongo["command"][:2] == ["--replSet", "rs0"]
    check = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate({_id: 'rs0', members: [{_id: 0, host: 'mongo:27017'}]})" in check
    assert "isWritablePrimary" in check  # healthy only once it can take writes


def test_the_public_entry_is_the_gateway_with_the_committed_routes() -> None:
    gateway = compose_services()["gateway"]
    assert gateway["image"].startswith("nginx:")
    assert gateway["ports"] == ["8080:8080"]
    assert gateway["volumes"] == ["./gateway/nginx.conf:/etc/nginx/conf.d/default.conf:ro"]
    assert set(gateway["depends_on"]) == {*SERVICES, "public"}
