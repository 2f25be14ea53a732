"""A client's limit counted as cells claimed in a shared store (`services/common/quotas.py`).

Each story: given instances sharing one store of cells (here a set in memory that
refuses a second document with the same `_id`, as every store does; the same on the
real stack is in tests/security/test_limits_across_instances.py), when a client's
requests arrive at them, then it gets in as often as at one instance, and no more.
"""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from contracts.facts import Role
from services.common.auth import BadToken, issue_token, verify_token
from services.common.quotas import Cells, ClientLimit, Rate
from zaiban.cli import app

SECRET = SecretStr("a-secret-for-these-tests-only-0123456789")
SECRET_BYTES = SECRET.get_secret_value().encode()

RESIDENT = Rate(per_minute=20, burst=10)  # the defaults: ten at once, then one every 3 s


class Clock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Store:
    """Claimed cells, and how many times the store was asked."""

    def __init__(self) -> None:
        self.cells: set[str] = set()
        self.inserts = self.reads = 0

    async def insert(self, document: dict[str, Any]) -> bool:
        self.inserts += 1
        if document["_id"] in self.cells:
            return False
        self.cells.add(document["_id"])
        return True

    async def exists(self, cell_id: str) -> bool:
        self.reads += 1
        return cell_id in self.cells


def instances(count: int, store: Store, clock: Clock) -> list[Cells]:
    return [Cells(store, secret=SECRET_BYTES, now=clock) for _ in range(count)]


async def admitted(claims: list[tuple[Cells, str]], rate: Rate = RESIDENT,
                   limit: str = "submit") -> list[float]:
    return [await cells.claim(limit, client, rate) for cells, client in claims]


# -- the arithmetic ----------------------------------------------------------------------


def test_a_client_may_claim_the_current_cell_and_burst_minus_one_ahead() -> None:
    # 20 a minute: cells of 3 s; at t = 3000 s the current cell is 1000
    assert RESIDENT.reach(3000.0) == (1000, 1009)
    assert RESIDENT.reach(3002.9) == (1000, 1009)
    assert RESIDENT.reach(3003.0) == (1001, 1010)
    # cell 1010 comes within reach when cell 1001 begins
    assert RESIDENT.wait_for(1010, 3001.0) == pytest.approx(2.0)
    assert RESIDENT.wait_for(1009, 3001.0) == 0.0


# -- across instances --------------------------------------------------------------------


async def test_a_client_spreading_its_requests_over_two_instances_gets_in_ten_times() -> None:
    store, clock = Store(), Clock(3000.0)
    one, two = instances(2, store, clock)
    answers = await admitted([(one if n % 2 else two, "198.51.100.7") for n in range(20)])
    assert answers[:10] == [0.0] * 10
    assert all(0 < wait <= 3.0 for wait in answers[10:])  # Retry-After: 1 to 3 s
    assert await two.claim("submit", "203.0.113.20", RESIDENT) == 0.0  # another resident is not affected

    clock.now += max(answers[10:])  # the next cell comes within reach: one more, anywhere
    assert await admitted([(one, "198.51.100.7"), (two, "198.51.100.7")]) == [0.0, 3.0]


async def test_no_stretch_of_time_lets_a_client_in_more_than_its_bucket_allows() -> None:
    """Whatever the arrivals and however they are spread over instances, in any d seconds a
    client gets in at most burst + d * per_minute / 60 + 1 times (the +1: cells begin on the
    clock's boundaries, not at the client's first request)."""
    randomly = random.Random(14)
    store, clock = Store(), Clock(1000.5)
    three = instances(3, store, clock)
    times: list[float] = []
    for _ in range(600):
        clock.now += randomly.expovariate(1.0)  # a request a second, three times the rate
        if await randomly.choice(three).claim("submit", "client", RESIDENT) == 0.0:
            times.append(clock.now)
    for start in range(len(times)):
        for end in range(start, len(times)):
            stretch = times[end] - times[start]
            assert end - start + 1 <= RESIDENT.burst + stretch * RESIDENT.per_second + 1
    # and it is not stingy: over the ten minutes it got in about as often as the rate says
    assert len(times) >= 10 * RESIDENT.per_minute


async def test_an_instance_that_comes_late_finds_the_free_cell_in_a_few_reads() -> None:
    """A partner's key with a quota of 600 a minute (a burst of 600): one instance took the
    whole burst; the other, asked next, learns it in a handful of reads, not 600 inserts."""
    store, clock = Store(), Clock(5000.0)
    busy, late = instances(2, store, clock)
    quota = Rate(per_minute=600, burst=600)
    assert await admitted([(busy, "city-app")] * 590, quota, "key") == [0.0] * 590
    before = (store.inserts, store.reads)
    assert await late.claim("key", "city-app", quota) == 0.0
    inserts, reads = store.inserts - before[0], store.reads - before[1]
    assert inserts <= 3 and reads <= 25
    assert await admitted([(late, "city-app")] * 10, quota, "key") == [0.0] * 9 + [
        pytest.approx(0.1)]  # the 601st waits for the next cell: a tenth of a second


async def test_a_client_over_its_limit_is_refused_without_asking_the_store_again() -> None:
    store, clock = Store(), Clock(3000.0)
    (one,) = instances(1, store, clock)
    await admitted([(one, "198.51.100.7")] * 11)
    asked = store.inserts
    assert all(wait > 0 for wait in await admitted([(one, "198.51.100.7")] * 50))
    assert store.inserts == asked


async def test_the_store_never_holds_a_residents_address() -> None:
    store, clock = Store(), Clock(3000.0)
    one, other_deployment = Cells(store, secret=SECRET_BYTES, now=clock), \
        Cells(Store(), secret=b"another deployment's secret", now=clock)
    assert await one.claim("submit", "198.51.100.7", RESIDENT) == 0.0
    (cell_id,) = store.cells
    assert "198.51.100.7" not in cell_id and cell_id.startswith("submit|")
    assert one.pseudonym("198.51.100.7") != other_deployment.pseudonym("198.51.100.7")


# -- the two lines -----------------------------------------------------------------------


class Away:
    """A store that does not answer."""

    def __init__(self) -> None:
        self.asked = 0

    async def insert(self, document: dict[str, Any]) -> bool:
        from pymongo.errors import ServerSelectionTimeoutError

        self.asked += 1
        raise ServerSelectionTimeoutError("127.0.0.1:27017: connection refused")

    async def exists(self, cell_id: str) -> bool:
        raise AssertionError("not reached")


async def test_without_the_store_the_limit_fails_open_and_the_instance_bucket_holds() -> None:
    away = Away()
    limit = ClientLimit("submissions", RESIDENT, Cells(away, secret=SECRET_BYTES), scope="submit")
    answers = [await limit.admit("198.51.100.7") for _ in range(11)]
    assert answers[:10] == [0.0] * 10  # let in: a resident's request is worth more
    assert 0 < answers[10] <= 3.0      # the in-process bucket still says when
    assert away.asked == 1             # and the store is left alone for a while


# -- an api key's quota ------------------------------------------------------------------


def test_an_api_key_carries_its_quota_signed_and_a_staff_token_none() -> None:
    key = issue_token(SECRET, "district-app", Role.OFFICER, kind="api_key", per_minute=600)
    assert verify_token(SECRET, key, kind="api_key").per_minute == 600
    plain = issue_token(SECRET, "city-app", Role.OFFICER, kind="api_key")
    assert verify_token(SECRET, plain, kind="api_key").per_minute is None  # a resident's limit
    with pytest.raises(ValueError, match="API keys only"):
        issue_token(SECRET, "officer-li", Role.OFFICER, per_minute=600)

    # a holder who writes itself a larger quota breaks the signature
    prefix, payload, signature = key.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raised = base64.urlsafe_b64encode(json.dumps({**body, "per_minute": 60_000}).encode())
    with pytest.raises(BadToken, match="bad signature"):
        verify_token(SECRET, f"{prefix}.{raised.decode().rstrip('=')}.{signature}",
                     kind="api_key")


def test_the_quota_is_set_when_the_key_is_issued(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZAIBAN_AUTH_SECRET", SECRET.get_secret_value())
    issued = CliRunner().invoke(app, ["token", "issue", "--api-key", "--role", "officer",
                                      "--subject", "district-app", "--per-minute", "600"])
    assert issued.exit_code == 0, issued.output
    key = verify_token(SECRET, issued.stdout.strip(), kind="api_key")
    assert (key.subject, key.per_minute) == ("district-app", 600)

    staff = CliRunner().invoke(app, ["token", "issue", "--role", "officer", "--subject", "li",
                                     "--per-minute", "600"])
    assert staff.exit_code == 1 and "add --api-key" in staff.output
