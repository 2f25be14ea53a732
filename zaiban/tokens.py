"""`zaiban token revoke`: taking staff access back from the operator's console.

The same decision as the admins' route (`POST /api/admin/tokens/revoke`, in tracking):
`services.common.revocations.revoke` makes the `TokenRevoked`, recorded on the
revocations topic, which every instance of every service that checks tokens reads. The
console needs Kafka only, not the store; it returns once Kafka holds the record (acks=all).
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from contracts.revocations import RevokeTokens, TokenRevoked
from contracts.topics import Topics
from services.common.clock import SystemClock
from services.common.kafka import ADMIN, kafka_options
from services.common.revocations import revoke
from services.common.settings import CommonSettings

CONSOLE = "console"
"""Who revokes from the console: an admin at the deployment's own machine."""


async def revoke_from_console(settings: CommonSettings, asked: RevokeTokens,
                              by: str = CONSOLE) -> TokenRevoked:
    """Record the revocation `asked` for; returns it once Kafka holds it."""
    revoked = revoke(asked, by=by, now=SystemClock().now())
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, **kafka_options(settings, ADMIN))
    await producer.start()
    try:
        await producer.send_and_wait(Topics(settings.topic_prefix).revocations,
                                     revoked.model_dump_json().encode(), key=revoked.key())
    finally:
        await producer.stop()
    return revoked
