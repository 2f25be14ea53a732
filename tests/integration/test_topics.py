"""`zaiban topics ensure` on the real broker: explicit, idempotent, the log kept forever, and
each service's principal granted what its broker declares."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from helpers import as_admin
from stackfixtures import Namespace

from contracts.topics import Topics
from services.common.settings import CommonSettings
from zaiban.kafka_security import AclFilter, Operation, ResourceType
from zaiban.topics import ensure, revoke, security_admin, service_acls


async def test_topics_are_created_once_and_the_case_log_audit_trail_and_revocations_kept_forever(
        settings: CommonSettings, namespace: Namespace) -> None:
    # a prefix of its own, inside the namespace (whose topics `settings` made already)
    fresh = settings.model_copy(update={"topic_prefix": f"{namespace.prefix}fresh."})
    try:
        first = dict(await ensure(fresh, ["signal-co"]))
        topics = Topics(fresh.topic_prefix)
        # made means usable: the broker lists each one already, each partition with its leader
        # (a service asking for a topic the broker does not know yet is refused it, as one it
        # may not create; a consumer asking a partition with no leader yet logs an ERROR)
        admin = AIOKafkaAdminClient(bootstrap_servers=fresh.kafka_bootstrap, **as_admin(fresh))
        await admin.start()
        try:
            created = {t for t, what in first.items() if what.startswith("created")}
            leaders = {topic["topic"]: [p["leader"] for p in topic["partitions"]]
                       for topic in await admin.describe_topics()}
            assert created <= set(leaders)
            assert all(leaders[t] and min(leaders[t]) >= 0 for t in created), leaders
        finally:
            await admin.close()
        assert first[topics.case_events].startswith("created (3 partitions")
        assert topics.department_cases("signal-co") in first
        assert topics.dead_letter("metrics") in first
        again = dict(await ensure(fresh, ["signal-co"]))
        assert {what for name, what in again.items() if name.startswith(fresh.topic_prefix)} == {
            "exists"}

        admin = AIOKafkaAdminClient(bootstrap_servers=fresh.kafka_bootstrap, **as_admin(fresh))
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

        # the services' users, and each one's rights on these topics: on the broker now
        assert again["user zaiban-routing"] == "SCRAM-SHA-512 credential set"
        async with security_admin(fresh) as sec:
            held = await sec.acls(AclFilter(principal="User:zaiban-routing",
                                            resource=ResourceType.GROUP))
        assert {(acl.name, acl.operation) for acl in held
                if acl.name.startswith(fresh.topic_prefix)} == {
            (f"{fresh.topic_prefix}zaiban-routing{suffix}", Operation.READ)
            for suffix in ("", "-replies", "-erasures")}
    finally:
        await revoke(fresh, await service_acls(fresh))
