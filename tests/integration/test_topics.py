"""`zaiban topics ensure` on the real broker: explicit, idempotent, the log kept forever."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts.topics import Topics
from zaiban.topics import ensure


async def test_topics_are_created_once_and_the_case_log_is_kept_forever(settings) -> None:  # type: ignore[no-untyped-def]
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
            [ConfigResource(ConfigResourceType.TOPIC, topics.case_events)])
        entries = {name: value for name, value, *_ in described[0].resources[0][4]}
    finally:
        await admin.close()
    assert entries["retention.ms"] == "-1"
    assert entries["min.insync.replicas"] == "1"
