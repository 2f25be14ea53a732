"""The fault tests' fleet: `zaiban.chaos.fleet`'s, on the test's namespace, whose topics and
rights it makes first."""

from __future__ import annotations

from servicefixtures import open_namespace

from zaiban.chaos import fleet
from zaiban.chaos.fleet import ZAIBAN, ServiceProcess, Tally, call, environment, free_port

__all__ = ["ZAIBAN", "Fleet", "ServiceProcess", "Tally", "call", "environment", "free_port"]


class Fleet(fleet.Fleet):
    async def __aenter__(self) -> Fleet:
        await open_namespace(self.settings)
        await self.start()
        return self
