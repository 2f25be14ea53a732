"""deploy/k8s: plain YAML and Kustomize overlays. Read offline as Kustomize would (files inside
each kustomization's folder, generated ConfigMaps merged by the overlays) and checked against
what the processes need: a real `zaiban` command, probes on /readyz and /healthz, resources,
settings the settings classes read, the secret from a Secret, and no more copies of a service
than its topics have partitions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from unit.deploy.manifests import (
    DEPLOY,
    K8S,
    OVERLAYS,
    generated_literals,
    k8s_yaml_files,
    kubernetes_objects,
    kustomization,
    kustomization_dirs,
    pod_specs,
    replicas,
    yaml_documents,
    zaiban_containers,
)

from services.common.settings import CommonSettings
from services.composition import SERVICES

BASE = K8S / "base"
PROCESSES = (*SERVICES, "public")  # each runs as `zaiban serve <name>` in its own Deployment
SETTINGS = "zaiban-settings"
SECRET = "zaiban-secrets"


def objects(kind: str, folder: Path = BASE) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in kubernetes_objects(folder)
            if obj.get("kind") == kind}


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def settings_of(overlay: str, monkeypatch: pytest.MonkeyPatch) -> CommonSettings:
    """What a pod of the overlay reads: the merged ConfigMap, plus the secret from its Secret."""
    for name in [n for n in os.environ if n.startswith("ZAIBAN_")]:
        monkeypatch.delenv(name)
    for name, value in generated_literals(K8S / "overlays" / overlay, SETTINGS).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ZAIBAN_AUTH_SECRET", "from-the-secret")
    return CommonSettings()


# ---- the files ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", k8s_yaml_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_parses(path: Path) -> None:
    documents = yaml_documents(path)
    assert documents, f"{path} is empty"
    for doc in documents:
        if isinstance(doc, list):  # a JSON 6902 patch
            assert all({"op", "path"} <= set(op) for op in doc)
            continue
        assert doc.get("apiVersion") and doc.get("kind"), f"{path}: apiVersion and kind"
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"], f"{path}: a {doc['kind']} without a name"


@pytest.mark.parametrize("folder", kustomization_dirs(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_kustomizations_name_files_that_exist_inside_their_own_folder(folder: Path) -> None:
    """Kustomize refuses files outside a kustomization's folder (its load restrictor); other
    kustomizations (folders) may be anywhere."""
    spec = kustomization(folder)
    for entry in spec.get("resources", []):
        target = (folder / entry).resolve()
        assert target.exists(), f"{folder}: resource {entry} does not exist"
        if target.is_dir():
            assert (target / "kustomization.yaml").exists(), f"{entry}: no kustomization.yaml"
        else:
            assert target.is_relative_to(folder), f"{entry} is outside {folder}"
    files = [p["path"] for p in spec.get("patches", [])]
    files += [f for g in spec.get("configMapGenerator", []) for f in g.get("files", [])]
    for entry in files:
        target = (folder / entry).resolve()
        assert target.is_file(), f"{folder}: {entry} does not exist"
        assert target.is_relative_to(folder), f"{entry} is outside {folder} (Kustomize refuses)"


def test_the_city_configmap_holds_every_configuration_file() -> None:
    [city] = kustomization(DEPLOY / "config")["configMapGenerator"]
    assert city["name"] == "zaiban-city"
    wanted = sorted(p.name for p in (DEPLOY / "config").glob("*.yaml")
                    if p.name != "kustomization.yaml")
    assert sorted(city["files"]) == wanted


def test_no_secret_value_is_committed() -> None:
    for folder in kustomization_dirs():
        assert "secretGenerator" not in kustomization(folder)
    for path in k8s_yaml_files():
        for doc in yaml_documents(path):
            assert not (isinstance(doc, dict) and doc.get("kind") == "Secret"), path


# ---- the services ---------------------------------------------------------------------------


@pytest.mark.parametrize("process", PROCESSES)
def test_each_process_is_a_deployment_running_zaiban_serve_with_its_port(process: str) -> None:
    deployment = objects("Deployment")[process]
    container = container_of(deployment)
    assert container["image"] == "zaiban"  # the image the repository's Dockerfile builds
    assert "command" not in container, "the image's ENTRYPOINT is `zaiban`"
    assert container["args"] == ["serve", process]
    port = CommonSettings.model_fields[f"{process}_port"].default
    assert container["ports"] == [{"name": "http", "containerPort": port}]

    service = objects("Service")[process]
    assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http"}]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    assert service["spec"]["selector"].items() <= labels.items()


@pytest.mark.parametrize("process", PROCESSES)
def test_each_process_is_probed_on_readyz_and_healthz_and_has_resources(process: str) -> None:
    container = container_of(objects("Deployment")[process])
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), (process, kind)


OPENS_PERSONAL_DATA = {"intake", "tracking", "notify", "public"}


def test_settings_come_from_the_configmap_and_the_secret_from_a_secret() -> None:
    generated = {g["name"] for folder in kustomization_dirs()
                 for g in kustomization(folder).get("configMapGenerator", [])}
    mounted_city = generated_literals(BASE, SETTINGS)["ZAIBAN_CONFIG_DIR"]
    for workload, container in zaiban_containers(kubernetes_objects(BASE)):
        assert container["envFrom"] == [{"configMapRef": {"name": SETTINGS}}], workload
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts.get(mounted_city) == "city", f"{workload}: the city at ZAIBAN_CONFIG_DIR"
        secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", [])}
        if workload == "zaiban-topics":  # creating topics signs nothing, opens nothing
            continue
        expected = {"ZAIBAN_AUTH_SECRET": {"name": SECRET, "key": "auth-secret"}}
        if workload in OPENS_PERSONAL_DATA:  # only those that seal or open it hold the key
            expected["ZAIBAN_MASTER_KEY"] = {"name": SECRET, "key": "master-key"}
        if workload == "notify":  # where mail goes, with its password: optional
            expected["ZAIBAN_SMTP_URL"] = {"name": "zaiban-notify", "key": "smtp-url",
                                           "optional": True}
        assert secrets == expected, workload
    for workload, spec in pod_specs(kubernetes_objects(BASE)):
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in generated, (workload, volume)


KAFKA_PRINCIPALS = {  # whose Kafka passwords each workload mounts from the Secret zaiban-kafka
    "zaiban-topics": {"zaiban-admin", *(f"zaiban-{service}" for service in SERVICES)},
    "public": {f"zaiban-{service}" for service in SERVICES},
    **{service: {f"zaiban-{service}"} for service in SERVICES},
}


def kafka_passwords(spec: dict[str, Any], container: dict[str, Any]) -> set[str]:
    """The principals whose passwords `container` finds in its credentials folder."""
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/zaiban/kafka"]
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "zaiban-kafka" and mount["readOnly"]
    items = volume["secret"]["items"]
    assert all(item["key"] == item["path"] for item in items)
    return {item["key"] for item in items}


def test_each_workload_logs_in_to_kafka_as_its_own_principals_only() -> None:
    settings = generated_literals(BASE, SETTINGS)
    assert settings["ZAIBAN_KAFKA_CREDENTIALS"] == "/etc/zaiban/kafka"
    assert settings["ZAIBAN_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    specs = dict(pod_specs(kubernetes_objects(BASE)))
    held = {workload: kafka_passwords(specs[workload], container)
            for workload, container in zaiban_containers(kubernetes_objects(BASE))}
    assert held == KAFKA_PRINCIPALS


def test_the_laptop_clusters_kafka_lets_no_one_in_anonymously() -> None:
    folder = K8S / "overlays" / "local"
    [kafka] = objects("StatefulSet", folder)["kafka"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in kafka["env"]}
    assert dict(pair.split(":") for pair in
                env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")) == {
        "CONTROLLER": "SASL_PLAINTEXT", "CLIENT": "SASL_PLAINTEXT", "EXTERNAL": "SASL_SSL"}
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith(".StandardAuthorizer")
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env["KAFKA_SUPER_USERS"] == "User:zaiban-admin"
    assert kafka["command"] == ["bash", "/opt/zaiban/start.sh", "/etc/zaiban/kafka",
                                "/etc/zaiban/kafka-tls"]
    spec = objects("StatefulSet", folder)["kafka"]["spec"]["template"]["spec"]
    assert kafka_passwords(spec, kafka) == {"zaiban-admin"}
    # departments' listener: its keystore from the Secret zaiban-kafka-tls (not the CA's key),
    # its port on the Service
    tls = next(v for v in spec["volumes"] if v["name"] == "kafka-tls")["secret"]
    assert tls["secretName"] == "zaiban-kafka-tls"
    assert {item["key"] for item in tls["items"]} == {"broker.p12", "broker.p12-password"}
    assert {"name": "kafka-tls", "mountPath": "/etc/zaiban/kafka-tls",
            "readOnly": True} in kafka["volumeMounts"]
    ports = {p["name"]: p["port"] for p in objects("Service", folder)["kafka"]["spec"]["ports"]}
    assert ports == {"client": 9092, "departments": 9094}
    start = next(v for v in spec["volumes"] if v["name"] == "start")
    generated = {g["name"]: g for g in kustomization(DEPLOY / "kafka")["configMapGenerator"]}
    assert generated[start["configMap"]["name"]]["files"] == ["start.sh"]
    assert "../../../kafka" in kustomization(folder)["resources"]


def test_the_topics_job_runs_zaiban_topics_ensure() -> None:
    job = objects("Job")["zaiban-topics"]
    container = container_of(job)
    assert container["image"] == "zaiban" and container["args"] == ["topics", "ensure"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"


# ---- the overlays ---------------------------------------------------------------------------


def test_the_local_overlay_runs_one_copy_on_three_partitions_replicated_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = K8S / "overlays" / "local"
    assert set(replicas(folder).values()) == {1}
    settings = settings_of("local", monkeypatch)
    assert (settings.topic_partitions, settings.topic_replication,
            settings.topic_min_insync) == (3, 1, 1)
    assert settings.kafka_bootstrap == "kafka:9092"
    assert "replicaSet=rs0" in settings.mongo_url and settings.write_concern_majority
    # the broker and the store of a laptop cluster come with it
    assert {"kafka", "mongo"} <= set(objects("StatefulSet", folder))


def test_the_cluster_overlay_scales_each_service_on_twelve_partitions_replicated_thrice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = K8S / "overlays" / "cluster"
    counts = replicas(folder)
    assert {name: counts[name] for name in SERVICES} == {
        "intake": 3, "routing": 2, "tracking": 3, "metrics": 2, "notify": 2, "opendata": 2}
    settings = settings_of("cluster", monkeypatch)
    assert (settings.topic_partitions, settings.topic_replication,
            settings.topic_min_insync) == (12, 3, 2)
    assert settings.write_concern_majority is True
    assert "replicaSet=" in settings.mongo_url and settings.mongo_url.count(":27017") == 3
    assert "StatefulSet" not in {o["kind"] for o in kubernetes_objects(folder)}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_consumer_group_has_more_members_than_partitions(
        overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group uses at most one consumer per partition; `public` joins every group too."""
    counts = replicas(K8S / "overlays" / overlay)
    partitions = settings_of(overlay, monkeypatch).topic_partitions
    for service in SERVICES:
        assert counts[service] + counts["public"] <= partitions, (overlay, service)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_overlay_sets_only_settings_that_exist_and_parse(
        overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = kustomization(K8S / "overlays" / overlay)
    [merged] = [g for g in spec["configMapGenerator"] if g["name"] == SETTINGS]
    assert merged["behavior"] == "merge"
    settings = settings_of(overlay, monkeypatch)  # raises if a value does not parse
    assert settings.environment == "production" and settings.host == "0.0.0.0"
    assert spec["namespace"] == "zaiban"
    assert [image["name"] for image in spec["images"]] == ["zaiban"]
