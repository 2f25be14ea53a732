"""How often a client may submit, counted in the store, so that the limit holds across instances.

A client's limit is a token bucket: `burst` requests at once, then `per_minute` a
minute. Each process keeps one in memory (`limits.RateLimiter`), the first, cheap
line: a flood at one instance is refused without a store round trip. Behind it the
same bucket is kept in the store (intake's own database), so that a client spreading
its requests over N instances of intake gets in no more than from one.

**The bucket as cells.** The store cannot increment a counter atomically: FerretDB
1.24 reads, then writes, even for an `$inc` by `_id` (200 concurrent `$inc` of one
document left it at 73, measured on the local stack). What every store does
atomically is refuse a second document with the same `_id`. So time is cut into
cells of 60/per_minute seconds, and each admission *claims* a cell by inserting
`{_id: "<limit>|<client>|<cell>"}` (the client's address or key name as a keyed hash:
the store never holds a resident's address). At time t a client may claim any free cell
from the current one, floor(t * per_minute / 60), to `burst - 1` cells ahead:

    burst 3, now in cell 42:   | 41 | 42  | 43  | 44   | 45 | ...
                                     taken taken free       -> claims 44;
                               once all three are taken, the next chance is cell 45,
                               in reach when cell 43 begins: Retry-After says when.

An idle client finds `burst` cells free (its burst); a busy one finds one more each
60/per_minute seconds (its rate), whichever instance it asks. In any d seconds a
client gets in at most `burst + d * per_minute / 60 + 1` times: the +1 because cells
begin on the clock's boundaries, not at the client's first request (within one
instance the in-process bucket takes even that one back). Instances read the time
from their own clocks; a cell is kept a minute past its time (`GRACE_S`), so clocks
that disagree by less than that cannot claim a forgotten cell again.

**What it costs.** Each instance remembers, per client, the first cell not known to
be taken, so its own concurrent requests never compete for a cell: an admission is
one insert, grouped with the others of the moment into one command (`grouped.py`),
and a client past its limit, as far as this instance knows, is refused without
asking the store. A cell found taken (another instance claimed it) moves the
instance on; after a second one it looks for the first free cell by reading cells
by `_id`, doubling the stride, then halving it (a few reads, not one per cell).

**When the store does not answer** within `STORE_BUDGET_S`, the limit fails *open*:
the request is let through, and for `COOL_OFF_S` the store is not asked (so no one
waits for it); the in-process bucket still holds, so a client then gets at most its
limit from each instance. A resident's request is worth more than an exact count,
and without the store intake cannot record a case anyway. It is logged once per
outage and counted (`zaiban_limit_store_unavailable_total`).

**Old cells** expire: a TTL index on `expires` where the store has them (MongoDB);
FerretDB 1.24 has none, so there each instance sweeps the past cells every minute.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import Counter
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure, PyMongoError

from services.common.auth import Principal
from services.common.grouped import GroupedWrites
from services.common.limits import RateLimiter
from services.common.logging import get_logger

log = get_logger("zaiban.limits")

COLLECTION = "rate_cells"
GRACE_S = 60.0
"""A cell is kept this long after its time has passed: more than instances' clocks disagree."""
SWEEP_EVERY_S = 60.0
STORE_BUDGET_S = 1.0
"""The longest a request waits for the store's count before it is let through."""
COOL_OFF_S = 10.0
"""After the store did not answer, how long the limits do without it."""
GALLOP_AFTER = 2
"""Cells found taken one by one before the first free one is searched for by reads."""
MAX_CLIENTS = 100_000
"""Clients whose next cell an instance remembers; the least recent are forgotten."""

REFUSED = Counter("zaiban_limit_refused_total",
                  "Requests answered 429: what they were, whose limit (address or api_key), "
                  "and which line refused them (instance: this process's bucket; shared: "
                  "the count kept in the store for every instance)", ["what", "whose", "line"])
STORE_AWAY = Counter("zaiban_limit_store_unavailable_total",
                     "Requests let through because the store did not answer for the "
                     "shared count (only the in-process limit held them)", ["what"])


@dataclass(frozen=True)
class Rate:
    """A token bucket's size and refill, and its cells: each 60/per_minute seconds long."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0

    def reach(self, now: float) -> tuple[int, int]:
        """The cells a request at `now` may claim: the current one, and `burst - 1` ahead."""
        current = math.floor(now * self.per_second)
        return current, current + self.burst - 1

    def wait_for(self, cell: int, now: float) -> float:
        """Seconds from `now` until `cell` is within reach (0.0: it is)."""
        return max(0.0, (cell - self.burst + 1) / self.per_second - now)

    def expires(self, cell: int) -> datetime:
        """When the cell's document may go: its time has passed, and `GRACE_S` more."""
        return datetime.fromtimestamp((cell + 1) / self.per_second + GRACE_S, UTC)


class CellStore(Protocol):
    """Where cells are claimed: a document per claimed cell, refused if it exists."""

    async def insert(self, document: dict[str, Any]) -> bool:
        """Insert; False if a document with its `_id` exists."""

    async def exists(self, cell_id: str) -> bool: ...


class StoredCells:
    """Cells in a collection of the document store."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection
        self._writes = GroupedWrites(collection)

    async def insert(self, document: dict[str, Any]) -> bool:
        return await self._writes.insert(document)

    async def exists(self, cell_id: str) -> bool:
        return await self.collection.find_one({"_id": cell_id}, {"_id": 1}) is not None

    async def expire_by_ttl(self) -> bool:
        """Have the store delete past cells itself (a TTL index); False where it cannot
        (FerretDB 1.24: `expireAfterSeconds` is not implemented) and `sweep` must."""
        try:
            await self.collection.create_index("expires", name="expires_ttl",
                                               expireAfterSeconds=0)
        except OperationFailure:
            return False
        return True

    async def sweep(self) -> int:
        """Delete the cells past their time; how many. Failures are logged, not raised:
        a sweep missed is made up by the next."""
        try:
            result = await self.collection.delete_many({"expires": {"$lt": datetime.now(UTC)}})
        except PyMongoError as error:
            log.warning("rate_cells_sweep_failed", error=str(error)[:200])
            return 0
        return result.deleted_count


class Cells:
    """Claims cells for clients in a `CellStore`, shared by every limit of a process."""

    def __init__(self, store: CellStore, *, secret: bytes,
                 now: Callable[[], float] = time.time, max_clients: int = MAX_CLIENTS) -> None:
        self.store = store
        self.secret = secret
        self.now = now
        self.max_clients = max_clients
        self._next: OrderedDict[str, int] = OrderedDict()
        self._away_until = 0.0

    def pseudonym(self, client: str) -> str:
        """The client (an address, a key's name) as the store keeps it: a keyed hash, the
        same in every instance (the deployment's secret), which no one can turn back."""
        digest = hmac.new(self.secret, client.encode(), hashlib.sha256).digest()[:15]
        return base64.urlsafe_b64encode(digest).decode()

    async def claim(self, limit: str, client: str, rate: Rate) -> float:
        """Claim a cell for `client` under `limit`: 0.0 if one was claimed (the request
        is admitted), else the seconds until one may be."""
        key = f"{limit}|{self.pseudonym(client)}"
        found_taken = 0
        while True:
            now = self.now()
            first, last = rate.reach(now)
            cell = max(self._next.get(key, first), first)
            if cell > last:
                return rate.wait_for(cell, now)
            self._remember(key, cell + 1)  # before the insert: this instance's next request
            cell_id = f"{key}|{cell}"      # tries the next cell meanwhile
            if await self.store.insert({"_id": cell_id, "expires": rate.expires(cell)}):
                return 0.0
            found_taken += 1
            if found_taken >= GALLOP_AFTER:
                self._remember(key, await self._first_free(key, cell, last))

    async def admit(self, limit: str, client: str, rate: Rate, what: str) -> float:
        """`claim`, failing open: 0.0 when the store does not answer in time (or did not
        a moment ago), so that only the in-process limit holds."""
        if time.monotonic() < self._away_until:
            STORE_AWAY.labels(what).inc()
            return 0.0
        try:
            return await asyncio.wait_for(self.claim(limit, client, rate), STORE_BUDGET_S)
        except (PyMongoError, TimeoutError) as error:
            # cells reserved here may not have been claimed: learn them again
            self._next.pop(f"{limit}|{self.pseudonym(client)}", None)
            self._away_until = time.monotonic() + COOL_OFF_S
            STORE_AWAY.labels(what).inc()
            log.warning("rate_limit_store_unavailable", what=what, without_store_s=COOL_OFF_S,
                        error=str(error)[:200] or type(error).__name__)
            return 0.0

    async def _first_free(self, key: str, taken: int, last: int) -> int:
        """The first cell after `taken` (a cell known taken) that is not, or `last + 1`:
        strides that double until one lands on a free cell, then halve back."""
        stride = 1
        while True:
            probe = min(taken + stride, last)
            if probe <= taken:
                return last + 1
            if not await self.store.exists(f"{key}|{probe}"):
                free = probe
                break
            taken, stride = probe, stride * 2
        while free - taken > 1:
            middle = (taken + free) // 2
            if await self.store.exists(f"{key}|{middle}"):
                taken = middle
            else:
                free = middle
        return free

    def _remember(self, key: str, next_cell: int) -> None:
        self._next[key] = max(self._next.pop(key, next_cell), next_cell)
        while len(self._next) > self.max_clients:
            self._next.popitem(last=False)  # least recently used: only its knowledge is lost


class ClientLimit:
    """One limit on one kind of request: the in-process bucket first, then the cells.

    `admit(client)` answers 0.0 (let it in) or the seconds to wait; `limits.per_client`
    turns that into a 429 with Retry-After."""

    def __init__(self, what: str, rate: Rate, cells: Cells | None, *, scope: str,
                 whose: str = "address") -> None:
        self.what, self.rate, self.cells, self.whose = what, rate, cells, whose
        self.local = RateLimiter(rate.per_minute, rate.burst)
        self.limit = f"{scope}@{rate.per_minute:g}"

    async def admit(self, client: str) -> float:
        wait = self.local.take(client)
        line = "instance"
        if wait <= 0 and self.cells is not None:
            wait = await self.cells.admit(self.limit, client, self.rate, self.what)
            line = "shared"
        if wait > 0:
            REFUSED.labels(self.what, self.whose, line).inc()
        return wait


class KeyQuotas:
    """Each Open311 API key's own quota: the `per_minute` it was issued with, all of it
    at once if need be (the burst is a minute's worth), counted for every instance."""

    def __init__(self, what: str, cells: Cells | None) -> None:
        self.what, self.cells = what, cells
        self._limits: dict[int, ClientLimit] = {}

    def limit(self, per_minute: int) -> ClientLimit:
        if per_minute not in self._limits:
            self._limits[per_minute] = ClientLimit(
                self.what, Rate(per_minute, per_minute), self.cells, scope="key",
                whose="api_key")
        return self._limits[per_minute]

    async def admit(self, key: Principal) -> float:
        """0.0 to let the key's request in, else the seconds to wait; a key issued
        without a quota has none here (the caller limits it by its address)."""
        if key.per_minute is None:
            raise ValueError(f"the api key of {key.subject!r} carries no quota")
        return await self.limit(key.per_minute).admit(key.subject)
