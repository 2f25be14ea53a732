"""The broker restarted while routing routes and tracking projects (`zaiban chaos broker`,
short, on a private stack of the test's own), not only while intake accepts: no service is
restarted, nothing accepted is lost, nothing is counted twice, and the figures equal a
clean replay."""

from __future__ import annotations

import uuid
from pathlib import Path

from faults.chaos import short
from helpers import settings_for
from stackfixtures import PrivateStack


async def test_a_broker_restart_amid_routing_and_tracking_loses_nothing(
        private_stack: PrivateStack, tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:8]
    settings = settings_for(private_stack.info.bootstrap_servers, private_stack.info.mongo_url,
                            f"k{token}.", f"zk_{token}")
    found = await short("broker", settings, tmp_path, private_stack.settings)
    assert set(found.starts.values()) == {1}  # every service came back by itself
    assert all(i.recovered_s is not None for i in found.injected)
    assert found.resolved > 0
