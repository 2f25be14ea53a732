"""Frontends on the bus: `zaiban frontends onboard | offboard`.

A frontend (a city's app, a newsroom's WeChat mini program) submits residents' requests on
the bus and hears back on the receipts topic (`contracts/receipts.py`). Onboarding gives it
its own Kafka user, `frontend-<name>`, with a password made here and shown once, and exactly
these rights (`FrontendAccess.grants`): write the submissions topic, read the receipts topic
in its own consumer group (`zaiban-frontend-<name>`). It reads every frontend's receipts:
case numbers and refusals, which tell it nothing secret — a receipt's tracking code is sealed
for the frontend that asked (`receipt_key`). It may read nothing else, and writes nowhere else.
Onboarding again makes a new password; offboarding deletes the user and its ACLs. The user
and ACLs are made and taken as a department's are (`zaiban/departments.py`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.topics import Topics
from services.common.settings import CommonSettings
from zaiban.departments import (
    BrokerSecurity,
    Grant,
    broker_security,
    grant_on_broker,
    login_lines,
    revoke_on_broker,
)

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
"""A frontend's name: what its user and group are called after."""


class BadName(ValueError):
    """A name a Kafka user and group cannot be called after."""


def user_of(frontend: str) -> str:
    return f"frontend-{frontend}"


@dataclass(frozen=True)
class FrontendAccess:
    """What one frontend does on the bus: the topic it writes, the topic it reads, its group."""

    frontend: str
    submissions_topic: str
    receipts_topic: str
    group: str

    @property
    def user(self) -> str:
        return user_of(self.frontend)

    @property
    def principal(self) -> str:
        return f"User:{self.user}"

    @property
    def grants(self) -> tuple[Grant, ...]:
        """Its ACLs, all of them: writing submissions (which lets its producer be
        idempotent), reading receipts in its own group."""
        return (Grant("topic", self.submissions_topic, "WRITE"),
                Grant("topic", self.submissions_topic, "DESCRIBE"),
                Grant("topic", self.receipts_topic, "READ"),
                Grant("topic", self.receipts_topic, "DESCRIBE"),
                Grant("group", self.group, "READ"))


def access_of(settings: CommonSettings, frontend: str) -> FrontendAccess:
    if not NAME.fullmatch(frontend):
        raise BadName(f"{frontend!r}: a frontend's name is lower-case letters, digits, - and _ "
                      "(at most 63)")
    topics = Topics(settings.topic_prefix)
    return FrontendAccess(frontend=frontend, submissions_topic=topics.submissions,
                          receipts_topic=topics.receipts,
                          group=f"{settings.topic_prefix}zaiban-frontend-{frontend}")


def properties(access: FrontendAccess, bootstrap: str, security: BrokerSecurity,
               password: str | None, made_at: datetime) -> str:
    """The frontend's Kafka client configuration (client-properties format, as a
    department's: `examples/department_client.py` reads it into aiokafka's options)."""
    lines = [f"# zaiban: the Kafka client configuration of frontend {access.frontend},",
             f"# made by `zaiban frontends onboard {access.frontend}` on "
             f"{made_at.isoformat(timespec='seconds')}."]
    if password is not None:
        lines += ["# It holds the frontend's password: keep it secret. Onboarding again makes "
                  "a new one."]
    lines += login_lines(bootstrap, security, access.user, password)
    if not security.authenticates:
        lines += ["# This broker does not authenticate: no user or password was made."]
    lines += [
        "# Receipts, read in the frontend's own consumer group (the only one it may join).",
        f"group.id={access.group}",
        "auto.offset.reset=earliest",
        "enable.auto.commit=false",
        "# zaiban's own keys: where to submit (sealed for GET /api/bus/submission-key), where",
        "# the receipts come, keyed by submission id.",
        f"zaiban.submissions.topic={access.submissions_topic}",
        f"zaiban.receipts.topic={access.receipts_topic}",
    ]
    return "\n".join(lines) + "\n"


async def onboard(settings: CommonSettings, frontend: str, *, bootstrap: str | None = None,
                  security: BrokerSecurity | None = None) -> tuple[FrontendAccess, str]:
    """Give a frontend its user and ACLs (where the broker authenticates); returns its access
    and its client configuration."""
    access = access_of(settings, frontend)
    security = security or broker_security(settings)
    password = None
    if security.authenticates:
        password = secrets.token_urlsafe(32)
        await grant_on_broker(settings, access, password, security)
    return access, properties(access, bootstrap or settings.kafka_bootstrap, security, password,
                              datetime.now(UTC))


async def offboard(settings: CommonSettings, frontend: str, *,
                   security: BrokerSecurity | None = None) -> bool | None:
    """Take a frontend's user and ACLs away: True if it had some, False if not, None when
    the broker does not authenticate."""
    access = access_of(settings, frontend)
    security = security or broker_security(settings)
    if not security.authenticates:
        return None
    return await revoke_on_broker(settings, access)
