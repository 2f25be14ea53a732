"""How every Kafka client of zaiban connects: who it is, and how it proves it.

The broker authenticates every connection (SASL/SCRAM-SHA-512) and authorises every request
against its ACLs. Each service is its own principal, `zaiban-<service>`, holding only the rights
its broker declares (what it reads, writes and which consumer groups it joins: `access_of`);
the tools that manage the cluster (`zaiban topics ensure`, the CLI, tests' raw reads) are the
super user `zaiban-admin`. Every AIOKafkaProducer/Consumer/AdminClient and every KafkaBroker
takes its connection options from `kafka_options(settings, principal)`, and from nowhere else.

Where a password comes from, in this order:
- `ZAIBAN_KAFKA_USERNAME` / `ZAIBAN_KAFKA_PASSWORD`: one principal for every client of the
  process, whichever it asks for (an operator's one-off command as the admin, say);
- else the credentials folder `ZAIBAN_KAFKA_CREDENTIALS` (locally `$ZAIBAN_HOME/kafka-credentials`,
  made by `zaiban infra up`): one file per principal, named after it, holding its password —
  the shape of a Kubernetes Secret mounted as a volume and of compose's secrets, which give
  each container only its own principals' (the public entry, all four services in one
  process, the four services').
"""

from __future__ import annotations

import contextlib
import os
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker
    from faststream.security import BaseSecurity

    from services.common.settings import CommonSettings

ADMIN = "zaiban-admin"
"""The super user (`super.users`): creates topics, users and ACLs; the tools' principal."""
COMPRESSION: Final = "zstd"
"""How every producer of ours compresses its batches: zstd is as small as gzip at level 9
(aiokafka's fixed gzip level) for a third of the CPU to write and a third to read, measured
on the bench's events (a batch of 8: 61 against 219 µs to compress, 25 against 68 to read).
Kafka clients read it since 2.1 (Java's kafka-clients brings zstd-jni)."""


def principal_of(service: str) -> str:
    """A service's own Kafka principal (its user name): `zaiban-intake`, ..."""
    return f"zaiban-{service}"


class NoCredentials(RuntimeError):
    """No password for a principal: the message says where it was looked for."""


def default_credentials_dir() -> Path:
    """The local stack's credentials: `$ZAIBAN_HOME/kafka-credentials` (`<repo>/.zaiban/...`)."""
    from services.common.settings import local_home

    home = os.environ.get("ZAIBAN_HOME")
    return (Path(home).expanduser() if home else local_home()) / "kafka-credentials"


@dataclass(frozen=True)
class CredentialStore:
    """A folder of passwords, one file per principal (the folder 0700, each file 0600 unless
    `file_mode` says otherwise)."""

    folder: Path
    file_mode: int = 0o600

    def path(self, principal: str) -> Path:
        if not principal or "/" in principal or principal.startswith("."):
            raise ValueError(f"{principal!r} is not a principal's name")
        return self.folder / principal

    def password(self, principal: str) -> str:
        try:
            text = self.path(principal).read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        if not text:
            raise NoCredentials(
                f"no Kafka password for {principal} in {self.folder} (set ZAIBAN_KAFKA_USERNAME "
                f"and ZAIBAN_KAFKA_PASSWORD, or ZAIBAN_KAFKA_CREDENTIALS; locally, "
                f"`zaiban infra up` and `zaiban topics ensure` make them)")
        return text

    def principals(self) -> list[str]:
        with contextlib.suppress(OSError):
            return sorted(p.name for p in self.folder.iterdir()
                          if p.is_file() and not p.name.startswith("."))
        return []

    def ensure(self, principal: str) -> str:
        """The principal's password, made now (random, 256 bits) if it has none yet. Two
        processes making the same one at once agree: the file is created exclusively."""
        path = self.path(principal)
        with contextlib.suppress(NoCredentials):
            return self.password(principal)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        password = secrets.token_urlsafe(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.file_mode)
        except FileExistsError:  # another process made it first: theirs counts
            return self.password(principal)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(password + "\n")
        return password


def credential_store(settings: CommonSettings) -> CredentialStore:
    return CredentialStore(settings.kafka_credentials or default_credentials_dir())


def login_of(settings: CommonSettings, principal: str) -> tuple[str, str]:
    """(user name, password) a client acting as `principal` logs in with."""
    if settings.kafka_username:
        password = settings.kafka_password.get_secret_value() if settings.kafka_password else ""
        if not password:
            raise NoCredentials("ZAIBAN_KAFKA_USERNAME is set but ZAIBAN_KAFKA_PASSWORD is not")
        return settings.kafka_username, password
    return principal, credential_store(settings).password(principal)


def tls_context(settings: CommonSettings) -> ssl.SSLContext:
    """Trust the system's CAs, or only `ZAIBAN_KAFKA_CA_FILE` when it is set."""
    return ssl.create_default_context(
        cafile=str(settings.kafka_ca_file) if settings.kafka_ca_file else None)


def kafka_options(settings: CommonSettings, principal: str) -> dict[str, Any]:
    """The connection options of a Kafka client acting as `principal` (aiokafka's keyword
    arguments, which FastStream's KafkaBroker takes too)."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol == "PLAINTEXT":
        return options
    username, password = login_of(settings, principal)
    options.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                   sasl_plain_username=username, sasl_plain_password=password)
    if protocol == "SASL_SSL":
        options["ssl_context"] = tls_context(settings)
    return options


def broker_security(settings: CommonSettings, principal: str) -> BaseSecurity | None:
    """`kafka_options` as FastStream's KafkaBroker takes them (a security object, which its
    AsyncAPI document also shows)."""
    from faststream.security import SASLPlaintext, SASLScram256, SASLScram512

    options = kafka_options(settings, principal)
    if options["security_protocol"] == "PLAINTEXT":
        return None
    kind = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256,
            "PLAIN": SASLPlaintext}[options["sasl_mechanism"]]
    return kind(username=options["sasl_plain_username"],
                password=options["sasl_plain_password"],
                ssl_context=options.get("ssl_context"),
                use_ssl=options["security_protocol"] == "SASL_SSL")


# ---- what a service's broker declares: the rights its principal needs ------------------------


@dataclass(frozen=True)
class BusAccess:
    """What one service does on the bus: the topics it reads and writes, the consumer groups
    it joins. Its ACLs are made from this (`zaiban topics acls`)."""

    reads: frozenset[str]
    writes: frozenset[str]
    groups: frozenset[str]


def access_of(broker: KafkaBroker) -> BusAccess:
    """What `broker` declares: its subscribers' topics and groups, its publishers' topics —
    the same declarations its AsyncAPI document is made of, so the ACLs cannot drift from it."""
    reads: set[str] = set()
    groups: set[str] = set()
    writes: set[str] = set()
    for subscriber in broker.subscribers:
        pattern = getattr(subscriber, "pattern", None)
        if pattern:
            raise ValueError(f"a subscriber reads the pattern {pattern!r}: no ACL can be made "
                             "from a pattern; subscribe to the topics by name")
        reads.update(getattr(subscriber, "topic_names", ()))
        group = getattr(subscriber, "group_id", None)
        if group:
            groups.add(group)
    for publisher in broker.publishers:
        topic = getattr(publisher, "topic", None)
        if topic:
            writes.add(topic)
    return BusAccess(frozenset(reads), frozenset(writes), frozenset(groups))
