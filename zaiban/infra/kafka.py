"""Apache Kafka in KRaft mode: its jars resolved by Maven, its config, its start, its readiness.

``deploy/local/pom.xml`` names the broker's version; Maven copies Kafka and its runtime
dependencies into ``kafka/libs`` (stamped with the pom's SHA-256, so a changed pom resolves
again). One combined broker+controller node listens on loopback; its storage is formatted once.

It authenticates and authorises as a city's cluster does. Clients connect with
SASL/SCRAM-SHA-512 to the ``CLIENT`` listener (no anonymous listener); the StandardAuthorizer
allows only what an ACL allows, and everything to the super user ``zaiban-admin``. SCRAM users
live in the metadata log, so the admin's is added when the storage is formatted
(``kafka-storage format --add-scram``); the controller, which must authenticate the broker
before it has read that log, uses SASL/PLAIN with the admin named in its own config. The
passwords live in ``kafka-credentials/`` (one file per principal, mode 0600): the admin's made
before the first format, the others by ``zaiban topics ensure``; every principal there is
(again) a SCRAM user of the broker after each ``zaiban infra up``.

Departments, organisations of their own connecting from outside, have a listener of their own,
``EXTERNAL`` (SASL_SSL on ``ZAIBAN_KAFKA_TLS_PORT``): SCRAM again, inside TLS, with a
certificate issued by a CA made once under ``$ZAIBAN_HOME/kafka-tls`` (zaiban/infra/tls.py),
which ``zaiban departments onboard`` writes into their configuration. The services stay on
loopback with SASL_PLAINTEXT.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import shutil
import xml.etree.ElementTree as ET
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from services.common.kafka import ADMIN, CredentialStore
from zaiban.infra.processes import (
    check_ports_free,
    port_answers,
    require_tool,
    run_async,
    run_logged,
    spawn,
)
from zaiban.infra.settings import KAFKA_COMPONENT, InfraError, StackSettings, repo_root
from zaiban.infra.tls import TlsFiles, ensure_broker_certificate


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


AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def _jaas(module: str, username: str, password: str, **users: str) -> str:
    extra = "".join(f' user_{name}="{secret}"' for name, secret in users.items())
    return f'{module} required username="{username}" password="{password}"{extra};'


def tls_files(settings: StackSettings) -> TlsFiles:
    """The local CA and the broker's certificate, issued for the loopback host (made once)."""
    files = TlsFiles(settings.kafka_tls_dir)
    hosts = [settings.host] if settings.host == "localhost" else [settings.host, "localhost"]
    ensure_broker_certificate(files, hosts)
    return files


def proxied_listener_name(number: int) -> str:
    return f"PROXIED{number}"


def _proxied_listeners(settings: StackSettings,
                       protocol: str) -> tuple[str, str, str, list[str]]:
    """The extra client listeners (`settings.proxied_listeners`), each advertised at its
    proxy's port, as tails of the listeners, advertised listeners and protocol map lines,
    and the lines of their SASL config (SCRAM, as the main client listener's; none when
    PLAINTEXT). All empty when there are none: the normal config is untouched."""
    h = settings.host
    names = [proxied_listener_name(n) for n in range(1, len(settings.proxied_listeners) + 1)]
    pairs = list(zip(names, settings.proxied_listeners, strict=True))
    listeners = "".join(f",{name}://{h}:{port}" for name, (port, _) in pairs)
    advertised = "".join(f",{name}://{h}:{proxy}" for name, (_, proxy) in pairs)
    protocols = "".join(f",{name}:{protocol}" for name in names)
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    sasl = [] if protocol == "PLAINTEXT" else [
        line for name in names for line in (
            f"listener.name.{name.lower()}.sasl.enabled.mechanisms=SCRAM-SHA-512",
            f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config={scram} required;")]
    return listeners, advertised, protocols, sasl


def _security_lines(settings: StackSettings) -> list[str]:
    """The listeners, and how each authenticates: SASL everywhere (the local stack), or
    PLAINTEXT everywhere (a throwaway broker, `authenticated=False`)."""
    h = settings.host
    if not settings.authenticated:
        listeners, advertised, protocols, _ = _proxied_listeners(settings, "PLAINTEXT")
        return [
            f"listeners=CLIENT://{h}:{settings.kafka_port},"
            f"CONTROLLER://{h}:{settings.controller_port}{listeners}",
            f"advertised.listeners=CLIENT://{h}:{settings.kafka_port}{advertised}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=CLIENT",
            f"listener.security.protocol.map=CLIENT:PLAINTEXT,CONTROLLER:PLAINTEXT{protocols}",
        ]
    admin = admin_password(settings)
    tls = tls_files(settings)
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    listeners, advertised, protocols, proxied = _proxied_listeners(settings, "SASL_PLAINTEXT")
    return [
        f"listeners=CLIENT://{h}:{settings.kafka_port},CONTROLLER://{h}:{settings.controller_port},"
        f"EXTERNAL://{h}:{settings.tls_port}{listeners}",
        f"advertised.listeners=CLIENT://{h}:{settings.kafka_port},EXTERNAL://{h}:{settings.tls_port}"
        f"{advertised}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=CLIENT",
        "listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,"
        f"EXTERNAL:SASL_SSL{protocols}",
        # the services behind a proxy (`zaiban chaos network`): SCRAM, as on CLIENT
        *proxied,
        # clients, and the broker to itself: SCRAM users from the metadata log
        "listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
        f"listener.name.client.scram-sha-512.sasl.jaas.config={_jaas(scram, ADMIN, admin)}",
        # the broker to the controller: PLAIN, the one user named here (SCRAM users are in
        # the log the controller serves, so they cannot authenticate the way to it)
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        "sasl.mechanism.controller.protocol=PLAIN",
        "listener.name.controller.plain.sasl.jaas.config="
        + _jaas(plain, ADMIN, admin, **{ADMIN: admin}),
        # departments, from outside: SCRAM over TLS, the certificate issued by the local CA
        "listener.name.external.sasl.enabled.mechanisms=SCRAM-SHA-512",
        f"listener.name.external.scram-sha-512.sasl.jaas.config={scram} required;",
        "listener.name.external.ssl.keystore.type=PKCS12",
        f"listener.name.external.ssl.keystore.location={tls.broker}",
        f"listener.name.external.ssl.keystore.password={tls.broker_password.read_text().strip()}",
        f"authorizer.class.name={AUTHORIZER}",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{ADMIN}",
    ]


def _write_kafka_config(settings: StackSettings) -> tuple[Path, Path]:
    kdir = settings.kafka_dir
    props = kdir / "server.properties"
    props.touch(mode=0o600)
    props.chmod(0o600)  # it holds the admin's password
    props.write_text("\n".join([
        "# written by `zaiban infra up` on each start; edit zaiban/infra/kafka.py instead",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{settings.host}:{settings.controller_port}",
        *_security_lines(settings),
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


def credentials(settings: StackSettings) -> CredentialStore:
    """The local stack's passwords, one file per principal."""
    return CredentialStore(settings.kafka_credentials_dir)


def admin_password(settings: StackSettings) -> str:
    return credentials(settings).ensure(ADMIN)


def _admin_fingerprint(settings: StackSettings) -> str:
    return hashlib.sha256(f"{ADMIN}:{admin_password(settings)}".encode()).hexdigest()


def _stamp(settings: StackSettings) -> Path:
    """Written once the storage is formatted with the admin's SCRAM credential; it names (by
    a digest) the password that credential was made from."""
    return settings.kafka_dir / "admin-credential.sha256"


def _storage_matches_credentials(settings: StackSettings) -> bool:
    try:
        return hmac.compare_digest(_stamp(settings).read_text().strip(),
                                   _admin_fingerprint(settings))
    except OSError:
        return False


def _format_storage(settings: StackSettings, java: str, props: Path, log4j: Path,
                    console: Console | None) -> None:
    """Format the storage with the admin's SCRAM credential; a storage formatted without it
    (by an older zaiban), or for another admin password, is formatted again: its admin could
    never log in. Local data only; said loudly."""
    data = settings.kafka_dir / "data"
    if not settings.authenticated:  # no users: formatted once, as it is
        run_logged([*_java_cmd(settings, java, log4j), "kafka.tools.StorageTool", "format",
                    "--ignore-formatted", "-t", _kafka_cluster_id(settings), "-c", str(props)],
                   settings.log_file(KAFKA_COMPONENT), cwd=settings.kafka_dir,
                   what="formatting the Kafka storage")
        return
    if (data / "meta.properties").is_file():
        if _storage_matches_credentials(settings):
            return
        why = ("was formatted for another admin password" if _stamp(settings).exists() else
               "was formatted without authentication (by an older zaiban)")
        (console or Console(stderr=True)).print(
            f"[bold yellow]zaiban infra: the local Kafka storage {data} {why}: formatting it "
            f"again with the admin's SCRAM credential. Its topics and their events are "
            f"gone (local data only).[/bold yellow]", highlight=False, soft_wrap=True)
        shutil.rmtree(data)
        _stamp(settings).unlink(missing_ok=True)
    log = settings.log_file(KAFKA_COMPONENT)
    run_logged([*_java_cmd(settings, java, log4j),
                "kafka.tools.StorageTool", "format", "--ignore-formatted",
                "-t", _kafka_cluster_id(settings), "-c", str(props),
                "--add-scram", f"SCRAM-SHA-512=[name={ADMIN},password={admin_password(settings)}]"],
               log, cwd=settings.kafka_dir, what="formatting the Kafka storage",
               secrets=(admin_password(settings),))
    _stamp(settings).write_text(_admin_fingerprint(settings) + "\n")


def started_with_authentication(settings: StackSettings) -> bool:
    """Whether the running broker's config (written when it started) authenticates clients:
    one started by an older zaiban does not, and no client of this one can talk to it."""
    try:
        return f"authorizer.class.name={AUTHORIZER}" in (
            settings.kafka_dir / "server.properties").read_text()
    except OSError:
        return False


def started_with_tls_listener(settings: StackSettings) -> bool:
    """Whether the running broker's config has the departments' SASL_SSL listener (one
    started by an older zaiban has not)."""
    try:
        return "EXTERNAL:SASL_SSL" in (settings.kafka_dir / "server.properties").read_text()
    except OSError:
        return False


def start_kafka(settings: StackSettings, console: Console | None = None) -> int:
    java = require_tool("java", "Java 17 runs the Kafka broker")
    check_ports_free(settings, KAFKA_COMPONENT)
    props, log4j = _write_kafka_config(settings)
    log = settings.log_file(KAFKA_COMPONENT)
    _format_storage(settings, java, props, log4j, console)
    pid = spawn([*_java_cmd(settings, java, log4j), "kafka.Kafka", str(props)], log,
                cwd=settings.kafka_dir)
    settings.pid_file(KAFKA_COMPONENT).write_text(f"{pid}\n")
    return pid


# A consumer group's coordinator lives on a partition of __consumer_offsets, which a fresh
# broker creates only when a client first asks for a coordinator. Until it exists, every
# consumer that starts logs GroupCoordinatorNotAvailable (at ERROR) and retries; so the broker
# counts as ready once it names a coordinator, which also makes it create that topic.
READINESS_GROUP = "zaiban-infra-readiness"


def client_options(settings: StackSettings, principal: str = ADMIN) -> dict[str, Any]:
    """How a client of the local stack logs in as `principal` (the admin by default)."""
    from services.common.kafka import kafka_options
    from services.common.settings import CommonSettings

    if not settings.authenticated:
        return {"security_protocol": "PLAINTEXT"}
    local = CommonSettings(kafka_bootstrap=settings.bootstrap_servers,
                           kafka_security_protocol="SASL_PLAINTEXT",
                           kafka_sasl_mechanism="SCRAM-SHA-512",
                           kafka_username=None, kafka_password=None,
                           kafka_credentials=settings.kafka_credentials_dir)
    return kafka_options(local, principal)


async def _kafka_answers(settings: StackSettings, request_timeout_s: float) -> bool:
    """A broker is in the metadata and names a group coordinator (raises while it cannot)."""
    from aiokafka.client import AIOKafkaClient, CoordinationType

    client = AIOKafkaClient(bootstrap_servers=settings.bootstrap_servers,
                            request_timeout_ms=int(request_timeout_s * 1000),
                            **client_options(settings))
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
        return bool(run_async(lambda: _kafka_answers(settings, 3.0)))


async def _restore_users(settings: StackSettings) -> list[str]:
    from zaiban.kafka_security import SecurityAdmin

    store = credentials(settings)
    others = {name: store.password(name) for name in store.principals() if name != ADMIN}
    async with SecurityAdmin(bootstrap_servers=settings.bootstrap_servers,
                             **client_options(settings)) as admin:
        await admin.ensure_users(others)
    return sorted(others)


def restore_users(settings: StackSettings) -> list[str]:
    """Every principal of the local credentials is a SCRAM user of the broker, with its
    password there (a new broker, a private one of tests', has only the admin)."""
    if not settings.authenticated:
        return []
    return list(run_async(lambda: _restore_users(settings)))
