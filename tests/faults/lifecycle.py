"""The fault tests' traffic: `zaiban.chaos.traffic`'s, with tokens signed by the tests'
secret."""

from __future__ import annotations

from helpers import TEST_SECRET

from zaiban.chaos import traffic
from zaiban.chaos.traffic import REQUEST, Load, drive

__all__ = ["REQUEST", "Clients", "Load", "drive"]


class Clients(traffic.Clients):
    def __init__(self, intake: str, routing: str, timeout: float = 30.0) -> None:
        super().__init__(intake, routing, TEST_SECRET, timeout)
