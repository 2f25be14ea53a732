"""Departments on the bus: `zaiban departments onboard | offboard | list`.

A department (承办单位) is an organisation of its own, with systems of its own. Onboarding
gives it what it needs to take its cases from the bus and answer them, and nothing more:
- its two topics: `zaiban.routing.department.<code>.cases`, the cases routed to it, and
  `zaiban.routing.department.<code>.replies`, its answers, which routing reads as given by
  that department whatever their body says (`contracts/topics.py`);
- its own Kafka user, `dept-<code>`, with a password made here and shown once, and ACLs
  that let it read its cases topic in its own consumer group (`zaiban-dept-<code>`) and
  write its replies topic — no other topic, no other group (`DepartmentAccess.grants`);
- a client configuration in Kafka's client-properties format, which the Java client reads
  as it is and any other client (aiokafka, librdkafka, ...) maps key by key
  (`examples/department_client.py`), for the broker's listener for departments: a SASL_SSL
  one of its own where the deployment has it (`departments_listener`; on the local stack,
  the one `zaiban infra up` starts), with the CA certificate its client must trust written
  into the file itself (`ssl.truststore.certificates`), so that one file is all it needs.
Onboarding again makes a new password (the old one stops working for new connections).
Offboarding deletes the user and its ACLs. The topics stay: the cases topic is the
department's history, and the replies topic is routing's to read for as long as the city's
configuration (deploy/config/departments.yaml) lists the department.

The user and its ACLs are the broker's part: `grant_on_broker` and `revoke_on_broker`
below, the one place they are made and taken. A broker that does not authenticate
(`security.protocol=PLAINTEXT`) has no users: onboarding then makes the topics and a
configuration without credentials, and says plainly that any client may read everything.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from contracts.topics import Topics
from services.common.catalogue import CityConfig, load_city
from services.common.kafka import ADMIN, kafka_options
from services.common.settings import CommonSettings
from zaiban.cityconfig import running_city
from zaiban.kafka_security import (
    Acl,
    AclFilter,
    Operation,
    PatternType,
    ResourceType,
    ScramMechanism,
)
from zaiban.topics import ensure_topics, security_admin

if TYPE_CHECKING:
    from services.notify.webhooks import Webhooks

SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
"""A department's code (`contracts.text.Code`)."""


class UnknownDepartment(ValueError):
    """A code the city's configuration does not list."""


def user_of(department: str) -> str:
    """A department's Kafka user: its principal is `User:dept-<code>`."""
    return f"dept-{department}"


# --- what a department may do on the bus ----------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """One right of a department's user, on one resource named literally (never by prefix:
    `zaiban-dept-water-co` as a prefix would also name the group of a `water-co2`)."""

    resource: Literal["topic", "group"]
    name: str
    operation: Literal["READ", "WRITE", "DESCRIBE"]


class Access(Protocol):
    """A principal of an organisation of its own on the bus (a department, a frontend):
    its user and every right it has."""

    @property
    def user(self) -> str: ...

    @property
    def principal(self) -> str: ...

    @property
    def grants(self) -> tuple[Grant, ...]: ...


@dataclass(frozen=True)
class DepartmentAccess:
    """What one department does on the bus: the topic it reads, in which consumer group,
    and the topic it writes."""

    department: str
    cases_topic: str
    replies_topic: str
    group: str

    @property
    def user(self) -> str:
        return user_of(self.department)

    @property
    def principal(self) -> str:
        return f"User:{self.user}"

    @property
    def grants(self) -> tuple[Grant, ...]:
        """Its ACLs, all of them (each ALLOW, from any host): reading its cases in its group,
        writing its replies (which, since Kafka 3.0, lets its producer be idempotent)."""
        return (Grant("topic", self.cases_topic, "READ"),
                Grant("topic", self.cases_topic, "DESCRIBE"),
                Grant("group", self.group, "READ"),
                Grant("topic", self.replies_topic, "WRITE"),
                Grant("topic", self.replies_topic, "DESCRIBE"))


def access_of(settings: CommonSettings, department: str) -> DepartmentAccess:
    topics = Topics(settings.topic_prefix)
    return DepartmentAccess(department=department,
                            cases_topic=topics.department_cases(department),
                            replies_topic=topics.department_replies(department),
                            group=f"{settings.topic_prefix}zaiban-dept-{department}")


# --- how the broker is reached ----------------------------------------------------------------


@dataclass(frozen=True)
class BrokerSecurity:
    """How clients reach the broker: `security.protocol` and, with SASL, the mechanism."""

    protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"

    @property
    def authenticates(self) -> bool:
        return self.protocol != "PLAINTEXT"


def broker_security(settings: CommonSettings) -> BrokerSecurity:
    """As the deployment's settings say (`ZAIBAN_KAFKA_SECURITY_PROTOCOL`,
    `ZAIBAN_KAFKA_SASL_MECHANISM`)."""
    return BrokerSecurity(protocol=settings.kafka_security_protocol,
                          mechanism=settings.kafka_sasl_mechanism)


# --- the broker's part: the department's user and its ACLs ------------------------------------
#
# The only code that makes or takes a department's Kafka user and ACLs, with the super user's
# connection (zaiban/kafka_security.py through `security_admin`). Each function is called
# only when the broker authenticates (`BrokerSecurity.authenticates`).


def acls_of(access: Access) -> list[Acl]:
    """The department's grants as the broker's ACL bindings (each ALLOW, from any host)."""
    return [Acl(access.principal, ResourceType[g.resource.upper()], g.name,
                PatternType.LITERAL, Operation[g.operation]) for g in access.grants]


async def grant_on_broker(settings: CommonSettings, access: Access, password: str,
                          security: BrokerSecurity) -> None:
    """Make (or reset) the department's SCRAM user with `password`, and give it exactly
    `access.grants`."""
    async with security_admin(settings) as admin:
        await admin.ensure_user(access.user, password, ScramMechanism.named(security.mechanism))
        await admin.grant(acls_of(access))


async def revoke_on_broker(settings: CommonSettings, access: Access) -> bool:
    """Delete the department's ACLs and its user; False if it had neither."""
    async with security_admin(settings) as admin:
        revoked = await admin.revoke([AclFilter(principal=access.principal)])
        return await admin.delete_user(access.user) or bool(revoked)


async def users_on_broker(settings: CommonSettings) -> set[str]:
    """The Kafka users that have credentials on the broker."""
    async with security_admin(settings) as admin:
        return set(await admin.users())


# --- the client configuration -----------------------------------------------------------------


@dataclass(frozen=True)
class ClientConfig:
    """What a department's systems connect with, as Kafka client properties."""

    access: DepartmentAccess
    name: str
    bootstrap: str
    security: BrokerSecurity
    password: str | None
    ca_pem: str | None = None
    """With SASL_SSL: the CA certificate(s) its client trusts, written into the file (None:
    its system's CAs)."""
    made_at: datetime | None = None

    def properties(self) -> str:
        access = self.access
        made = f" on {self.made_at.isoformat(timespec='seconds')}" if self.made_at else ""
        lines = [
            f"# zaiban: the Kafka client configuration of department {access.department} "
            f"({self.name}),",
            f"# made by `zaiban departments onboard {access.department}`{made}.",
        ]
        if self.password is not None:
            lines += ["# It holds the department's password: keep it secret. Onboarding again "
                      "makes a new one."]
        lines += login_lines(self.bootstrap, self.security, access.user, self.password)
        if not self.security.authenticates:
            lines += ["# This broker does not authenticate: no user or password was made, and "
                      "any client",
                      "# that reaches it can read and write every topic. Do not connect a "
                      "department from outside."]
        if self.security.protocol == "SASL_SSL" and self.ca_pem is not None:
            lines += ["# The broker's certificate is checked against this CA (and its name "
                      "against the host above).",
                      "ssl.truststore.type=PEM",
                      f"ssl.truststore.certificates={_multiline(self.ca_pem)}"]
        lines += [
            "# The department's cases, read in its own consumer group (the only one it may "
            "join),",
            "# from the first, committed once handled.",
            f"group.id={access.group}",
            "auto.offset.reset=earliest",
            "enable.auto.commit=false",
            "# zaiban's own keys (a Kafka client warns they are not its own, and ignores them):",
            "# what to read, where to answer.",
            f"zaiban.department={access.department}",
            f"zaiban.cases.topic={access.cases_topic}",
            f"zaiban.replies.topic={access.replies_topic}",
        ]
        return "\n".join(lines) + "\n"


def login_lines(bootstrap: str, security: BrokerSecurity, user: str,
                password: str | None) -> list[str]:
    """Where a client connects and how it logs in, as Kafka's client properties say it: the
    part of a department's or a frontend's configuration that names its principal."""
    lines = [f"bootstrap.servers={bootstrap}", f"security.protocol={security.protocol}"]
    if security.authenticates:
        lines += [f"sasl.mechanism={security.mechanism}",
                  f'sasl.jaas.config={SCRAM_LOGIN} required username="{user}" '
                  f'password="{password}";']
    return lines


def _multiline(text: str) -> str:
    """A value of several lines as a properties file writes it: each line break an escaped
    `\\n`, then a backslash that continues the value on the next line (whose leading blanks a
    reader drops)."""
    return "\\n\\\n    ".join(text.strip().splitlines())


class NotACertificate(ValueError):
    """A CA file that holds no PEM certificate."""


def read_ca(path: Path) -> str:
    """The PEM certificate(s) of a CA file, checked to be some."""
    from cryptography import x509

    try:
        pem = path.read_text(encoding="ascii")
        x509.load_pem_x509_certificates(pem.encode())
    except (OSError, ValueError) as error:
        raise NotACertificate(f"{path} is not a CA certificate in PEM: {error}") from None
    return pem


def write_secret(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only (mode 0600), whatever it was."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)  # a file that was there keeps its mode otherwise
        out.write(text)


# --- the commands -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Onboarded:
    config: ClientConfig
    topics: list[tuple[str, str]]
    """(topic, what happened) for the department's two topics."""


def department_of(city: CityConfig, code: str) -> str:
    """The department's English name; `UnknownDepartment` if the city has no such one."""
    department = city.department(code)
    if department is None:
        known = ", ".join(d.code for d in city.departments)
        raise UnknownDepartment(f"{code!r} is not a department of the city "
                                f"(deploy/config/departments.yaml lists: {known})")
    return department.names.en


@dataclass(frozen=True)
class Listener:
    """Where departments connect, how, and the CA certificate their client trusts."""

    bootstrap: str
    security: BrokerSecurity
    ca_pem: str | None = None


def departments_listener(settings: CommonSettings) -> Listener:
    """The broker's listener for departments, as the deployment's settings say: its own
    SASL_SSL listener (`ZAIBAN_KAFKA_DEPARTMENTS_BOOTSTRAP`, with the CA of
    `ZAIBAN_KAFKA_DEPARTMENTS_CA_FILE`) where it has one, else the services' own."""
    security = broker_security(settings)
    if security.authenticates and settings.kafka_departments_bootstrap:
        ca = settings.kafka_departments_ca_file
        return Listener(settings.kafka_departments_bootstrap,
                        BrokerSecurity("SASL_SSL", security.mechanism),
                        read_ca(ca) if ca else None)
    ca = settings.kafka_ca_file if security.protocol == "SASL_SSL" else None
    return Listener(settings.kafka_bootstrap, security, read_ca(ca) if ca else None)


async def onboard(settings: CommonSettings, code: str, *, bootstrap: str | None = None,
                  ca_file: Path | None = None,
                  security: BrokerSecurity | None = None) -> Onboarded:
    """Give a department of the city its user and ACLs (where the broker authenticates),
    its topics, and the client configuration to connect with: to the departments' listener
    (`departments_listener`), unless `bootstrap`, `ca_file` or `security` say otherwise.

    The user first: a broker this build cannot give users to is left as it was. An ACL
    may name a topic before it exists."""
    name = await known_department(settings, code)
    listener = departments_listener(settings)
    ca_pem = read_ca(ca_file) if ca_file is not None else listener.ca_pem
    access = access_of(settings, code)
    security = security or listener.security
    password = None
    if security.authenticates:
        password = secrets.token_urlsafe(32)
        await grant_on_broker(settings, access, password, security)
    made = await ensure_topics(settings, [code])
    topics = [(topic, what) for topic, what in made
              if topic in (access.cases_topic, access.replies_topic)]
    config = ClientConfig(access=access, name=name, bootstrap=bootstrap or listener.bootstrap,
                          security=security, password=password, ca_pem=ca_pem,
                          made_at=datetime.now(UTC))
    return Onboarded(config=config, topics=topics)


async def offboard(settings: CommonSettings, code: str, *,
                   security: BrokerSecurity | None = None) -> bool | None:
    """Take a department's user and ACLs away (its topics stay). True if it had some,
    False if not, None when the broker does not authenticate (there is nothing to take).
    A department the city's configuration no longer lists may be offboarded too."""
    if not CODE.fullmatch(code):
        raise UnknownDepartment(f"{code!r} is not a department code")
    security = security or broker_security(settings)
    if not security.authenticates:
        return None
    return await revoke_on_broker(settings, access_of(settings, code))


async def known_department(settings: CommonSettings, code: str) -> str:
    """The name of the city's department `code`: of the initial configuration, or else of the
    running one (an admin may have added it while the city runs). Raises `UnknownDepartment`."""
    try:
        return department_of(load_city(settings.config_dir), code)
    except UnknownDepartment as unknown:
        try:
            running = (await running_city(settings)).current
        except (KafkaError, OSError):
            raise unknown from None  # the running configuration cannot be read
        return department_of(running, code)


@dataclass(frozen=True)
class Standing:
    """One department of the city, as `zaiban departments list` shows it."""

    code: str
    name: str
    cases_topic: bool
    replies_topic: bool
    user: bool | None
    """Has a Kafka user; None when the broker does not authenticate."""
    webhook: bool = False
    """Has a webhook registered (`zaiban departments webhook`): its cases are POSTed to it."""


async def standings(settings: CommonSettings,
                    security: BrokerSecurity | None = None) -> list[Standing]:
    """Every department of the city: whether its topics exist, whether it has a user, and
    whether it has a webhook (in notify's store)."""
    city = (await running_city(settings)).current
    security = security or broker_security(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                request_timeout_ms=15_000, **kafka_options(settings, ADMIN))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    users = await users_on_broker(settings) if security.authenticates else None
    async with notify_webhooks(settings) as webhooks:
        hooked = {webhook.department for webhook in await webhooks.all()}
    found = []
    for department in city.departments:
        access = access_of(settings, department.code)
        found.append(Standing(
            code=department.code, name=department.names.en,
            cases_topic=access.cases_topic in existing,
            replies_topic=access.replies_topic in existing,
            user=None if users is None else access.user in users,
            webhook=department.code in hooked))
    return found


# --- departments by webhook -------------------------------------------------------------------


@asynccontextmanager
async def notify_webhooks(settings: CommonSettings) -> AsyncIterator[Webhooks]:
    """The departments' webhooks, as notify keeps them in its store (it POSTs the cases,
    `services/notify/webhooks.py`)."""
    from services.common.store import make_client, service_db
    from services.notify.webhooks import Webhooks

    client = make_client(settings)
    try:
        yield Webhooks(service_db(client, settings, "notify")["webhooks"], settings.secret())
    finally:
        await client.close()


async def register_webhook(settings: CommonSettings, code: str, url: str | None) -> str | bool:
    """Register (or move) a department's webhook: its new signing secret, to be shown once.
    With `url` None, take the webhook away: True if there was one."""
    await known_department(settings, code)
    async with notify_webhooks(settings) as webhooks:
        if url is None:
            return await webhooks.remove(code)
        return await webhooks.register(code, url, datetime.now(UTC))
