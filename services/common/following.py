"""A topic per department, read by a service while departments come and go: `DepartmentTopics`.

Routing reads each department's replies topic, notify each department's cases topic (for
webhooks). They read them by name — a broker's ACL grants topics by name, so a pattern
could not be granted (`services/common/kafka.py`) — in one consumer group per service.

The departments of the city when the service starts are read by one consumer, declared
with the service's broker like every other subscription (and so in its AsyncAPI document
and its ACLs). A department an admin adds while the service runs (`/api/admin/city`) is
routed to at once; its topic appears when it is onboarded (`zaiban topics ensure`, which
also gives the services their rights on it, then `zaiban departments onboard`). `follow`,
run every few seconds, looks for the departments of the running city whose topic is not
read yet, asks the broker which of those topics exist and this service may read (a
DescribeTopics, as the service's own principal: no answer, no guess), and starts a consumer
of its own for each, in the same group, reading from the topic's first record, so nothing a
department wrote before is missed. A consumer started this way is the service's until it
stops; the next start reads the topic with the others if the service's configuration
directory names the department, and follows it again otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.common.cityconfig import LiveCity
from services.common.kafka import kafka_options, principal_of
from services.common.logging import get_logger
from services.common.settings import CommonSettings

log = get_logger("zaiban.following")

FOLLOW_EVERY_S = 5.0
"""How often a service looks for the topic of a department added while it runs."""

Subscribe = Callable[[Sequence[str], bool], Any]
"""Makes the subscriber of some topics (persistent: declared with the broker, or started
while the broker runs); returns it."""


class DepartmentTopics:
    """The topic of each department of the running city that a service reads, and the
    department each topic is (a record's department is the topic it came on)."""

    def __init__(self, settings: CommonSettings, service: str, city: LiveCity,
                 topic_of: Callable[[str], str], subscribe: Subscribe) -> None:
        self.settings = settings
        self.service = service
        self.city = city
        self.topic_of = topic_of
        self.subscribe = subscribe
        self.department_of: dict[str, str] = {
            topic_of(department.code): department.code
            for department in city.current.departments}
        subscribe(list(self.department_of), True)

    def missing(self) -> dict[str, str]:
        """The topics of the running city's departments not read yet, and their departments."""
        return {topic: department.code for department in self.city.current.departments
                if (topic := self.topic_of(department.code)) not in self.department_of}

    async def follow(self) -> list[str]:
        """Start reading the topic of each department added since, once the broker has it
        and lets this service read it; the departments it started to follow."""
        missing = self.missing()
        if not missing:
            return []
        followed = []
        for topic in await self.readable(list(missing)):
            subscriber = self.subscribe([topic], False)
            await subscriber.start()
            self.department_of[topic] = missing[topic]
            followed.append(missing[topic])
            log.info("department_followed", service=self.service, department=missing[topic],
                     topic=topic)
        return followed

    async def readable(self, topics: list[str]) -> list[str]:
        """Those of `topics` that exist and this service may read (DescribeTopics)."""
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.settings.kafka_bootstrap, request_timeout_ms=10_000,
            **kafka_options(self.settings, principal_of(self.service)))
        try:
            await admin.start()
            described = await admin.describe_topics(topics)
        except KafkaError as error:
            log.warning("departments_not_described", service=self.service, error=str(error))
            return []
        finally:
            await admin.close()
        return [topic["topic"] for topic in described
                if topic.get("error_code") == 0 and topic.get("partitions")]
