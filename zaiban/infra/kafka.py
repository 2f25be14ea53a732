"""Apache Kafka in KRaft mode: its jars resolved by Maven, its config, its start, its readiness.

``deploy/local/pom.xml`` names the broker's version; Maven copies Kafka and its runtime
dependencies into ``kafka/libs`` (stamped with the pom's SHA-256, so a changed pom resolves
again). One combined broker+controller node listens on loopback; its storage is formatted once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
import shutil
import xml.etree.ElementTree as ET
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from pathlib import Path

from zaiban.infra.processes import (
    check_ports_free,
    port_answers,
    require_tool,
    run_async,
    run_logged,
    spawn,
)
from zaiban.infra.settings import KAFKA_COMPONENT, InfraError, StackSettings, repo_root


def _pom_path() -> Path:
    root = repo_root()
    if root is None:
        raise InfraError("deploy/local/pom.xml not found: `zaiban infra` runs from a zaiban "
                         "source checkout (pip install -e .)")
    return root / "deploy" / "local" / "pom.xml"


def _jar_version(libs: Path) -> str | None:
    for jar in sorted(libs.glob("kafka_2.*-*.jar")):
        match = re.fullmatch(r"kafka_2\.\d+-(.+)\.jar", jar.name)
        if match:
            return match.group(1)
    return None


def kafka_version(settings: StackSettings | None = None) -> str:
    """The Kafka version of the cached classpath, else the one the pom asks for."""
    settings = settings or StackSettings.from_env()
    found = _jar_version(settings.libs_dir)
    if found:
        return found
    with contextlib.suppress(InfraError, OSError, ET.ParseError):
        ns = {"m": "http://maven.apache.org/POM/4.0.0"}
        node = ET.parse(_pom_path()).getroot().find("m:properties/m:kafka.version", ns)  # noqa: S314
        if node is not None and node.text:
            return node.text.strip()
    return "unknown"


def kafka_jars_cached(settings: StackSettings) -> bool:
    stamp = settings.libs_dir / ".pom-sha256"
    digest = hashlib.sha256(_pom_path().read_bytes()).hexdigest()
    try:
        return stamp.read_text().strip() == digest and _jar_version(settings.libs_dir) is not None
    except OSError:
        return False


def resolve_kafka_jars(settings: StackSettings) -> None:
    """Maven: copy Kafka and its runtime dependencies into kafka/libs (skipped when cached)."""
    if kafka_jars_cached(settings):
        return
    mvn = require_tool("mvn", "Maven resolves the Kafka broker's jars")
    pom = _pom_path()
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    settings.kafka_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pom, settings.kafka_dir / "pom.xml")
    tmp = settings.kafka_dir / "libs.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    log = settings.logs_dir / "maven.log"
    run_logged([mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(settings.kafka_dir / "pom.xml"),
                "dependency:copy-dependencies", f"-DoutputDirectory={tmp}",
                "-DincludeScope=runtime"],
               log, cwd=settings.kafka_dir, what="Maven resolve of the Kafka jars")
    if _jar_version(tmp) is None:
        raise InfraError(f"Maven finished but no kafka_2.13 jar is in {tmp} — see {log}")
    (tmp / ".pom-sha256").write_text(digest + "\n")
    shutil.rmtree(settings.libs_dir, ignore_errors=True)
    tmp.rename(settings.libs_dir)


def _kafka_cluster_id(settings: StackSettings) -> str:
    path = settings.kafka_dir / "cluster.id"
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    while True:  # what kafka.tools.StorageTool random-uuid prints: 16 random bytes, base64url
        cid = urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cid.startswith("-"):
            break
    path.write_text(cid + "\n")
    return cid


def _write_kafka_config(settings: StackSettings) -> tuple[Path, Path]:
    kdir = settings.kafka_dir
    h = settings.host
    props = kdir / "server.properties"
    props.write_text("\n".join([
        "# written by `zaiban infra up` on each start; edit zaiban/infra/kafka.py instead",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{h}:{settings.controller_port}",
        f"listeners=PLAINTEXT://{h}:{settings.kafka_port},CONTROLLER://{h}:{settings.controller_port}",
        f"advertised.listeners=PLAINTEXT://{h}:{settings.kafka_port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={kdir / 'data'}",
        "num.partitions=3",
        "auto.create.topics.enable=true",
        "delete.topic.enable=true",
        "default.replication.factor=1",
        "min.insync.replicas=1",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=10",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=10",
        "group.initial.rebalance.delay.ms=0",
        "log.cleaner.dedupe.buffer.size=16777216",
        "num.network.threads=2",
        "num.io.threads=4",
        "",
    ]))
    log4j = kdir / "log4j.properties"
    log4j.write_text("\n".join([
        "# WARN and above to stdout, which zaiban infra sends to logs/kafka.log",
        "log4j.rootLogger=WARN, stdout",
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
        "log4j.logger.kafka.server.KafkaRaftServer=INFO",
        "",
    ]))
    return props, log4j


def _java_cmd(settings: StackSettings, java: str, log4j: Path) -> list[str]:
    return [java, f"-Xmx{settings.kafka_heap}", "-Xms256m", "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{log4j}", f"-Dkafka.logs.dir={settings.logs_dir}",
            "-cp", f"{settings.libs_dir}/*"]


def start_kafka(settings: StackSettings) -> int:
    java = require_tool("java", "Java 17 runs the Kafka broker")
    check_ports_free(settings, KAFKA_COMPONENT)
    props, log4j = _write_kafka_config(settings)
    log = settings.log_file(KAFKA_COMPONENT)
    if not (settings.kafka_dir / "data" / "meta.properties").is_file():
        run_logged([*_java_cmd(settings, java, log4j),
                    "kafka.tools.StorageTool", "format", "--ignore-formatted",
                    "-t", _kafka_cluster_id(settings), "-c", str(props)],
                   log, cwd=settings.kafka_dir, what="formatting the Kafka storage")
    pid = spawn([*_java_cmd(settings, java, log4j), "kafka.Kafka", str(props)], log,
                cwd=settings.kafka_dir)
    settings.pid_file(KAFKA_COMPONENT).write_text(f"{pid}\n")
    return pid


# A consumer group's coordinator lives on a partition of __consumer_offsets, which a fresh
# broker creates only when a client first asks for a coordinator. Until it exists, every
# consumer that starts logs GroupCoordinatorNotAvailable (at ERROR) and retries; so the broker
# counts as ready once it names a coordinator, which also makes it create that topic.
READINESS_GROUP = "zaiban-infra-readiness"


async def _kafka_answers(bootstrap: str, request_timeout_s: float) -> bool:
    """A broker is in the metadata and names a group coordinator (raises while it cannot)."""
    from aiokafka.client import AIOKafkaClient, CoordinationType

    client = AIOKafkaClient(bootstrap_servers=bootstrap,
                            request_timeout_ms=int(request_timeout_s * 1000))
    try:
        await client.bootstrap()
        if not client.cluster.brokers():
            return False
        await client.coordinator_lookup(CoordinationType.GROUP, READINESS_GROUP)
        return True
    finally:
        await client.close()


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def kafka_ready(settings: StackSettings) -> bool:
    if not port_answers(settings.host, settings.kafka_port):
        return False
    with _quiet("aiokafka"):
        return bool(run_async(lambda: _kafka_answers(settings.bootstrap_servers, 3.0)))
