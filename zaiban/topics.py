"""Creating the topics explicitly: partitions, replication and retention from settings.

Auto-creation is convenient on a laptop, but a city's cluster gets its topics
from here, idempotently: an existing topic is left as it is (and reported if
its partition count differs), a missing one is created. The case event log is
kept forever: it is the source of truth every read model is rebuilt from. So is the
audit trail of staff reads of personal data: a city answers for it years later. So are the
revocations of staff access: each must outlive the token it refuses, and every instance
reads them all when it starts. Each department of the city has two topics: the cases
routed to it and its replies (`zaiban departments onboard <code>` makes a department's alone).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from contracts.topics import Topics
from services.common.catalogue import load_city
from services.common.settings import CommonSettings

DAY_MS = 24 * 3600 * 1000
SERVICES = ("intake", "routing", "tracking", "metrics")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    retention_ms: int  # -1: forever


def wanted(settings: CommonSettings, departments: list[str]) -> list[TopicSpec]:
    topics = Topics(settings.topic_prefix)
    specs = [
        TopicSpec(topics.case_events, -1),
        TopicSpec(topics.audit, -1),
        TopicSpec(topics.revocations, -1),
        TopicSpec(topics.submissions, 30 * DAY_MS),
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
    """Create what is missing. Returns (topic, what happened) for each wanted topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                request_timeout_ms=15_000)
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
            new = [NewTopic(spec.name, settings.topic_partitions, settings.topic_replication,
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
            made = (f"created ({settings.topic_partitions} partitions, "
                    f"replication {settings.topic_replication})")
            # The broker answers for each topic. One made a moment ago may be missing from
            # the list it gave (its metadata lags the controller): it exists all the same.
            outcome += [(spec.name, made if not errors.get(spec.name)
                         else "exists" if errors[spec.name] == TopicAlreadyExistsError.errno
                         else f"not created: {for_code(errors[spec.name]).__name__}")
                        for spec in missing]
        if existing:
            described = await admin.describe_topics([s.name for s in specs if s.name in existing])
            for topic in described:
                count = len(topic.get("partitions", []))
                if count and count != settings.topic_partitions:
                    outcome.append((topic["topic"], f"has {count} partitions, settings say "
                                                    f"{settings.topic_partitions}: left as is"))
    finally:
        await admin.close()
    return outcome


async def ensure_for_city(settings: CommonSettings) -> list[tuple[str, str]]:
    """`ensure` with the departments of the city in `settings.config_dir`."""
    return await ensure(settings, [d.code for d in load_city(settings.config_dir).departments])
