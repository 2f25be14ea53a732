"""The document store stopped under a load of cases through their lifecycle (`zaiban chaos
store-30s`, short, on a private stack of the test's own): every service says so on /readyz
(503), recovers by itself (200 again, no restart of the service), and nothing is lost —
the log, tracking and the metrics agree with each other, with what the clients were told
and with a clean replay.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from faults.chaos import short
from helpers import settings_for
from stackfixtures import PrivateStack


async def test_a_store_restart_is_survived_without_a_service_restart_or_a_lost_case(
        private_stack: PrivateStack, tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:8]
    settings = settings_for(private_stack.info.bootstrap_servers, private_stack.info.mongo_url,
                            f"s{token}.", f"zs_{token}")
    found = await short("store-30s", settings, tmp_path, private_stack.settings)
    assert set(found.starts.values()) == {1}  # no service was restarted
    [away] = found.injected
    assert away.recovered_s is not None
    assert found.client["503s"] > 0  # the clients were told to come back, and did
