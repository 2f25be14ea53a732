"""A revocation made after Kafka restarted still reaches a running instance (private stack).

Each instance reads the revocations outside any consumer group: nothing is committed and
nothing is rejoined. Given tracking running and an officer signed in, when the broker stops
and starts again and the officer's access is then taken back, the instance that lived
through the restart refuses the token within seconds of the revocation.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from helpers import TEST_SECRET, client_for, eventually, running, settings_for
from servicefixtures import open_namespace
from stackfixtures import PrivateStack

from contracts.facts import Role
from contracts.revocations import RevokeTokens
from services.common.auth import issue_token
from services.composition import app_of, build
from zaiban.tokens import revoke_from_console

AFTER_RESTART_S = 15.0
"""How soon a revocation made once the broker is back must reach the instance: the consumer
reconnects, and FastStream waits 5 s after a failed fetch before it fetches again."""


async def test_a_revocation_after_a_broker_restart_reaches_the_instance_that_lived_through_it(
        private_stack: PrivateStack) -> None:
    token = uuid.uuid4().hex[:8]
    settings = settings_for(private_stack.info.bootstrap_servers, private_stack.info.mongo_url,
                            f"r{token}.", f"zr_{token}")
    ann = {"Authorization": f"Bearer {issue_token(TEST_SECRET, 'officer-ann', Role.OFFICER)}"}
    await open_namespace(settings)  # its topics, and tracking's rights on them
    tracking = build("tracking", settings)
    async with running(tracking), client_for(app_of(tracking)) as http:
        assert (await http.get("/api/staff/cases", headers=ann)).status_code == 200

        await asyncio.to_thread(private_stack.restart_kafka)
        await revoke_from_console(settings, RevokeTokens(subject="officer-ann"))
        revoked_at = time.monotonic()

        async def refused() -> httpx.Response | None:
            answer = await http.get("/api/staff/cases", headers=ann)
            return answer if answer.status_code == 401 else None

        answer = await eventually(refused, timeout=AFTER_RESTART_S, every=0.1,
                                  what="the instance to refuse Ann after the restart")
        assert "this token was revoked" in answer.json()["error"]
        print(f"\nrefused {time.monotonic() - revoked_at:.1f}s after the revocation")
