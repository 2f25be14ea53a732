"""A bad network between the services and their broker and store (`zaiban chaos network`,
short, on a private stack of the test's own): every service reaches both through proxies of
its own (Toxiproxy), the links are slowed, connections dropped, and routing is cut off from
both for a while; each service is ready again by itself, and nothing is lost or doubled —
the log, tracking and the metrics agree with each other, with what the clients were told
and with a clean replay.

The private stack's broker has a listener per service, advertised at the service's proxy
port, from the start (the scenario would otherwise restart the broker to add them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from faults.chaos import short_on
from stackfixtures import PrivateStack, private_settings, running_private_stack

from zaiban.chaos.network import proxied_listeners
from zaiban.chaos.run import PIPELINE
from zaiban.chaos.scenarios import PARTITIONED
from zaiban.infra import StackInfo


@pytest.fixture
def proxied_stack(local_stack: StackInfo, tmp_path: Path) -> Iterator[PrivateStack]:
    with running_private_stack(replace(private_settings(tmp_path),
                                       proxied_listeners=proxied_listeners(len(PIPELINE)))
                               ) as stack:
        yield stack


async def test_slow_dropped_and_partitioned_links_lose_nothing_and_every_service_recovers(
        proxied_stack: PrivateStack, tmp_path: Path) -> None:
    found = await short_on("network", proxied_stack, tmp_path)
    assert set(found.starts.values()) == {1}  # no service was restarted
    faults = [i.fault for i in found.injected]
    assert faults[0].startswith("latency")
    assert faults[-1].startswith(f"{PARTITIONED[0]} cut off")
    assert all(i.recovered_s is not None for i in found.injected)
