"""Creating the topics explicitly, and who may use them.

Auto-creation is convenient on a laptop, but a city's cluster gets its topics
from here, idempotently: an existing topic is left as it is (and reported if
its partition count differs), a missing one is created. The case event log is
kept forever: it is the source of truth every read model is rebuilt from. So is the
audit trail of staff reads of personal data: a city answers for it years later. So are the
revocations of staff access: each must outlive the token it refuses, and every instance
reads them all when it starts. Each department of the city has two topics: the cases
routed to it and its replies (`zaiban departments onboard <code>` makes a department's alone).

Who may use them: each service logs in as its own principal, `zaiban-<service>`, whose
rights are read off its broker (`services.composition.bus_access`, the declarations its
AsyncAPI document shows too): READ on each topic its subscribers read and on each consumer
group they join, WRITE on each topic its publishers write. Nothing else: no CREATE (topics
come from here), no cluster rights; Kafka lets a reader or a writer describe what it reads
or writes, and an idempotent producer needs only WRITE. `ensure` sets each service's SCRAM
credential and grants these ACLs, for the deployment's topic prefix; `zaiban topics acls`
prints them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from contracts.topics import Topics
from services.common.catalogue import load_city
from services.common.kafka import ADMIN, BusAccess, credential_store, kafka_options, principal_of
from services.common.settings import CommonSettings
from services.composition import SERVICES, bus_access
from zaiban.kafka_security import (
    Acl,
    Operation,
    PatternType,
    ResourceType,
    SecurityAdmin,
    shown,
    user,
)

DAY_MS = 24 * 3600 * 1000
VISIBLE_WITHIN_S = 30.0  # a topic just created shows in the broker's metadata within this


@dataclass(frozen=True)
class TopicSpec:
    name: str
    retention_ms: int  # -1: forever
    partitions: int | None = None  # None: the settings' count


def wanted(settings: CommonSettings, departments: list[str]) -> list[TopicSpec]:
    topics = Topics(settings.topic_prefix)
    specs = [
        TopicSpec(topics.case_events, -1),
        TopicSpec(topics.audit, -1),
        TopicSpec(topics.revocations, -1),
        TopicSpec(topics.city_config, -1, partitions=1),  # one: its versions read in order
        TopicSpec(topics.submissions, 30 * DAY_MS),
        TopicSpec(topics.receipts, 30 * DAY_MS),
        TopicSpec(topics.erasures, 30 * DAY_MS),
    ]
    specs += [spec for d in departments for spec in of_department(settings, d)]
    specs += [TopicSpec(topics.dead_letter(s), 90 * DAY_MS) for s in SERVICES]
    return specs


def of_department(settings: CommonSettings, department: str) -> list[TopicSpec]:
    """A department's two topics: the cases routed to it, and its replies."""
    topics = Topics(settings.topic_prefix)
    return [TopicSpec(topics.department_cases(department), 90 * DAY_MS),
            TopicSpec(topics.department_replies(department), 30 * DAY_MS)]


async def ensure(settings: CommonSettings, departments: list[str]) -> list[tuple[str, str]]:
    """Create what is missing, set the services' credentials and grant their ACLs. Returns
    (topic or principal, what happened) for each."""
    outcome = await ensure_topics(settings, departments)
    for name in await ensure_users(settings):
        outcome.append((f"user {name}", "SCRAM-SHA-512 credential set"))
    granted = await grant_services(settings)
    for principal in sorted({acl.principal for acl in granted}):
        rights = [acl for acl in granted if acl.principal == principal]
        outcome.append((principal, f"{len(rights)} ACLs (zaiban topics acls lists them)"))
    return outcome


async def ensure_topics(settings: CommonSettings,
                        departments: list[str]) -> list[tuple[str, str]]:
    """Create what is missing. Returns (topic, what happened) for each wanted topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                request_timeout_ms=15_000, **kafka_options(settings, ADMIN))
    await admin.start()
    outcome: list[tuple[str, str]] = []
    try:
        existing = set(await admin.list_topics())
        specs = wanted(settings, departments)
        missing = [s for s in specs if s.name not in existing]
        for spec in specs:
            if spec.name in existing:
                outcome.append((spec.name, "exists"))
        if missing:
            new = [NewTopic(spec.name, spec.partitions or settings.topic_partitions,
                            settings.topic_replication,
                            topic_configs={
                                "retention.ms": str(spec.retention_ms),
                                "min.insync.replicas": str(settings.topic_min_insync),
                                "cleanup.policy": "delete",
                            }) for spec in missing]
            errors: dict[str, int] = {}
            try:
                answer = await admin.create_topics(new)
                errors = {topic: code for topic, code, *_ in answer.topic_errors}
            except TopicAlreadyExistsError:
                pass  # created by someone else meanwhile: that is what we wanted
            def made(spec: TopicSpec) -> str:
                return (f"created ({spec.partitions or settings.topic_partitions} partitions, "
                        f"replication {settings.topic_replication})")
            # The broker answers for each topic. One made a moment ago may be missing from
            # the list it gave (its metadata lags the controller): it exists all the same.
            outcome += [(spec.name, made(spec) if not errors.get(spec.name)
                         else "exists" if errors[spec.name] == TopicAlreadyExistsError.errno
                         else f"not created: {for_code(errors[spec.name]).__name__}")
                        for spec in missing]
            await _visible(admin, [s.name for s in missing if not errors.get(s.name)
                                   or errors[s.name] == TopicAlreadyExistsError.errno])
        if existing:
            described = await admin.describe_topics([s.name for s in specs if s.name in existing])
            for topic in described:
                count = len(topic.get("partitions", []))
                wanted_count = next((s.partitions for s in specs if s.name == topic["topic"]
                                     and s.partitions), settings.topic_partitions)
                if count and count != wanted_count:
                    outcome.append((topic["topic"], f"has {count} partitions, settings say "
                                                    f"{wanted_count}: left as is"))
    finally:
        await admin.close()
    return outcome


async def _visible(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Wait until the broker's metadata lists `names`, each partition with a leader. The
    controller answers a creation before the broker has it; a service asking for such a topic
    meanwhile is refused it as one it may not create (TOPIC_AUTHORIZATION_FAILED: its client
    allows auto-creation), and its consumer gives up at once; one asking before a partition
    has its leader is answered NOT_LEADER_OR_FOLLOWER, which aiokafka logs as an ERROR."""
    async def unready() -> list[str]:
        topics = {topic["topic"]: topic for topic in await admin.describe_topics()}
        return [name for name in names if name not in topics or not _led(topics[name])]

    async def ready() -> bool:
        return not await unready()

    if not await shown(ready, VISIBLE_WITHIN_S):
        raise TimeoutError(f"topics created but not in the broker's metadata with a leader for "
                           f"each partition after {VISIBLE_WITHIN_S:g}s: "
                           f"{', '.join(await unready())}")


def _led(topic: dict[str, Any]) -> bool:
    partitions = topic.get("partitions") or []
    return not topic.get("error_code") and bool(partitions) and all(
        partition.get("leader", -1) >= 0 for partition in partitions)


async def ensure_for_city(settings: CommonSettings) -> list[tuple[str, str]]:
    """`ensure` with the departments of the city as it runs (`settings.config_dir` and the
    changes admins made since: a department added while running gets its topics, and the
    services their rights on them)."""
    from zaiban.cityconfig import as_running  # it reads topics with what this module knows

    async with as_running(settings) as running:
        return await ensure(running,
                            [d.code for d in load_city(running.config_dir).departments])


# ---- who may use them ----------------------------------------------------------------------


def acls_of(access: dict[str, BusAccess]) -> list[Acl]:
    """The ACLs of each service's principal: what its broker declares, and nothing else."""
    acls: list[Acl] = []
    for service, declared in access.items():
        who = user(principal_of(service))
        acls += [Acl(who, ResourceType.TOPIC, t, PatternType.LITERAL, Operation.READ)
                 for t in declared.reads]
        acls += [Acl(who, ResourceType.TOPIC, t, PatternType.LITERAL, Operation.WRITE)
                 for t in declared.writes]
        acls += [Acl(who, ResourceType.GROUP, g, PatternType.LITERAL, Operation.READ)
                 for g in declared.groups]
    return sorted(acls)


async def service_acls(settings: CommonSettings,
                       services: Sequence[str] = SERVICES) -> list[Acl]:
    """The services' ACLs for the topic prefix and the city of `settings`."""
    return acls_of(await bus_access(settings, services))


def security_admin(settings: CommonSettings) -> SecurityAdmin:
    """Users and ACLs of the deployment's cluster, as the super user."""
    return SecurityAdmin(bootstrap_servers=settings.kafka_bootstrap,
                         **kafka_options(settings, ADMIN))


async def ensure_users(settings: CommonSettings,
                       services: Sequence[str] = SERVICES) -> list[str]:
    """Each service's principal has its SCRAM credential, with the password the service will
    log in with (ZAIBAN_KAFKA_CREDENTIALS; a local stack's are made here when missing)."""
    store = credential_store(settings)
    local = settings.environment != "production"
    passwords = {principal_of(s): (store.ensure if local else store.password)(principal_of(s))
                 for s in services}
    async with security_admin(settings) as admin:
        await admin.ensure_users(passwords)
    return sorted(passwords)


async def grant_services(settings: CommonSettings) -> list[Acl]:
    """Grant the services' ACLs for `settings`' prefix (one request); returns them."""
    acls = await service_acls(settings)
    async with security_admin(settings) as admin:
        await admin.grant(acls)
    return acls


async def revoke(settings: CommonSettings, acls: Iterable[Acl]) -> list[Acl]:
    """Take these ACLs back (one request); returns those that were there."""
    wanted = list(acls)
    if not wanted:
        return []
    async with security_admin(settings) as admin:
        return await admin.revoke(wanted)


def acl_table(acls: Iterable[Acl]) -> list[tuple[str, str, str, str]]:
    """(principal, resource, name, operations) rows, one per principal and resource."""
    rows: dict[tuple[str, str, str], list[str]] = {}
    for acl in sorted(acls):
        kind = acl.resource.name.lower()
        if acl.pattern is PatternType.PREFIXED:
            kind += " (prefixed)"
        rows.setdefault((acl.principal, kind, acl.name), []).append(acl.operation.name)
    return [(principal, kind, name, ", ".join(ops))
            for (principal, kind, name), ops in rows.items()]
