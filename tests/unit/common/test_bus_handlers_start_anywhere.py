"""Every service's bus handlers start whoever starts them.

FastStream reads a handler's message type from its annotations; under
`from __future__ import annotations` those are strings, which it evaluates with
the locals of the frames that start the broker laid over the handler's module.
Started from `zaiban up`, whose CLI had a local `cmd`, routing's reply handler
read `cmd.DepartmentReply` off the wrong object and the platform did not start.
"""

from __future__ import annotations

import pytest
from faststream.kafka import TestKafkaBroker
from pydantic import SecretStr

from services.common.settings import CommonSettings
from services.composition import SERVICES, build


@pytest.mark.parametrize("name", SERVICES)
async def test_handlers_find_their_types_in_their_own_module(name: str) -> None:
    cmd = ev = "a local of the caller's that shadows a module's import"  # noqa: F841
    settings = CommonSettings(environment="test", auth_secret=SecretStr("s" * 32),
                              kafka_security_protocol="PLAINTEXT")
    service = build(name, settings)
    async with TestKafkaBroker(service.broker):  # builds every handler's call model
        assert service.broker.subscribers
