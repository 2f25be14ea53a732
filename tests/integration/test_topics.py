"""`zaiban topics ensure` on the real broker: explicit, idempotent, the log kept forever."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts.topics import Topics
from zaiban.topics import ensure


async def test_topics_are_created_once_and_the_case_log_audit_trail_and_revocations_kept_forever(settings) -> None:  # type: ignore[no-untyped-def]
    first = dict(await ensure(settings, ["signal-co"]))
    topics = Topics(settings.topic_prefix)
    assert first[topics.case_events].startswith("created (3 partitions")
    assert topics.department_cases("signal-co") in first and topics.dead_letter("metrics") in first
    again = dict(await ensure(settings, ["signal-co"]))
    assert set(again.values()) == {"exists"}

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)
             for topic in (topics.case_events, topics.audit, topics.revocations)])
        kept = [{name: value for name, value, *_ in resource[4]}
                for answer in described for resource in answer.resources]
    finally:
        await admin.close()
    # the audit trail too; and each revocation outlives the token it refuses
    assert [entries["retention.ms"] for entries in kept] == ["-1", "-1", "-1"]
    assert [entries["min.insync.replicas"] for entries in kept] == ["1", "1", "1"]
