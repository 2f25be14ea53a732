"""The store stopped, then the broker restarted, under a load of cases through their
lifecycle (`zaiban chaos store-30s` and `zaiban chaos broker`, short, one after the other
beside one traffic, on a private stack of the test's own):
- while the store is away every service says so on /readyz (503), and recovers by itself;
- the broker goes away while routing routes and tracking projects, not only while intake
  accepts; every client hears a 503 with Retry-After within 20 s, never a 500;
- no service is restarted; nothing accepted is lost; nothing is counted twice; the log,
  tracking and the metrics agree with each other, with what the clients were told and with
  a clean replay.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from faults.chaos import short
from helpers import settings_for
from stackfixtures import PrivateStack


async def test_the_store_away_then_the_broker_restarted_lose_nothing_and_restart_nothing(
        private_stack: PrivateStack, tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:8]
    settings = settings_for(private_stack.info.bootstrap_servers, private_stack.info.mongo_url,
                            f"s{token}.", f"zs_{token}")
    found = await short("store-30s+broker", settings, tmp_path, private_stack.settings)
    assert set(found.starts.values()) == {1}  # no service was restarted
    assert [i.fault.split()[0] for i in found.injected] == ["store", "broker"]
    assert all(i.recovered_s is not None for i in found.injected)
    assert found.client["503s"] > 0  # the clients were told to come back, and did
    assert 0 < found.resolved < found.cases
