"""Case numbers made a case's own before a submission needs one: reserved ahead, in batches.

A number (`numbers.py`: the city day and 40 random bits) is a case's once its data key
is reserved under it (`KeyStore.reserve`: the key store's unique key refuses a second
one). Two draws of one number are rare, and never merge two residents' cases: the
second reservation is refused and another number drawn. The first event of a case
then needs no compare-and-set of its own (`CaseStreams.begin`).

Reserving is a store round trip, so each instance reserves numbers ahead, for the
current city day, a batch at a time in one command (`grouped.py`), and a submission
takes one from memory: its way to the log has one store round trip fewer. Numbers
left at the end of a day (their day is in them) or at a stop are released
(`KeyStore.release`); those a crash leaves are keys of no case, and seal nothing.

The numbers of cases recorded before reservations began have no key when their case had
no personal data: so on the day reservations began (kept in intake's `numbering`
collection, once per store) a reserved number is also looked up among the cases.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from services.common.keys import DataKey, KeyStore
from services.common.logging import get_logger
from services.common.store import Unavailable
from services.common.tasks import for_everyone
from services.intake.numbers import new_case_number

log = get_logger("zaiban.intake.numbering")

BATCH = 64
"""Numbers reserved in one command."""
LOW = 16
"""Fewer left than this: the next batch is reserved meanwhile."""
ATTEMPTS = 5
RESERVING_SINCE = "reserving numbers by key since"
"""The entry of the `numbering` collection that says since when numbers are reserved."""

Known = Callable[[str], Awaitable[bool]]


def city_day(now: datetime, timezone: str) -> str:
    """The day as case numbers write it (`yymmdd`, city time)."""
    return now.astimezone(ZoneInfo(timezone)).strftime("%y%m%d")


class Numbers:
    """This instance's reserved numbers for the current city day."""

    def __init__(self, keys: KeyStore, timezone: Callable[[], str], known: Known,
                 batch: int = BATCH, low: int = LOW) -> None:
        self.keys, self.timezone, self.known = keys, timezone, known
        self.batch, self.low = batch, low
        self.reserving_since = ""
        """The day (`yymmdd`) reservations began in this store; before `start`, unknown:
        every number is looked up among the cases."""
        self._day = ""
        self._free: list[tuple[str, DataKey]] = []
        self._reserving: asyncio.Task[int] | None = None
        self._releasing: set[asyncio.Task[None]] = set()
        self._waiting = 0
        """Submissions waiting for a number: the next batch is at least as large."""

    async def start(self, numbering: AsyncCollection[dict[str, Any]], now: datetime,
                    any_case: bool) -> None:
        """Learn since when numbers are reserved (today, on the first start with this code;
        a store without cases has no numbers from before)."""
        first = city_day(now, self.timezone()) if any_case else "none"
        entry = await numbering.find_one_and_update(
            {"_id": RESERVING_SINCE}, {"$setOnInsert": {"day": first}}, upsert=True,
            return_document=ReturnDocument.AFTER)
        self.reserving_since = entry["day"] if entry is not None else ""

    async def take(self, now: datetime) -> tuple[str, DataKey]:
        """A number of today's and its case's data key, reserved."""
        day = city_day(now, self.timezone())
        fruitless = 0  # reservations that gave no number (all drawn were others')
        while fruitless < ATTEMPTS:
            if day != self._day:
                self._new_day(day)
            if self._free and day == self._day:
                number = self._free.pop()
                if len(self._free) < self.low:
                    self._reserve_ahead(now)
                return number
            self._waiting += 1
            try:
                fruitless += not await self._reserve_more(now)
            finally:
                self._waiting -= 1
        raise Unavailable("could not reserve a case number; try again")

    def give_back(self, case_id: str, key: DataKey) -> None:
        """A number taken and not used (a retry answered with the case of its first try)."""
        if case_id[2:8] == self._day:
            self._free.append((case_id, key))
        else:
            self._release([case_id])

    async def stop(self) -> None:
        """Release the numbers not used (best effort: a key of no case seals nothing)."""
        free, self._free = self._free, []
        if free:
            await self._released([case_id for case_id, _ in free])
        await asyncio.gather(*self._releasing)

    def _new_day(self, day: str) -> None:
        old, self._free, self._day = self._free, [], day
        self._release([case_id for case_id, _ in old])

    def _release(self, numbers: list[str]) -> None:
        if numbers:
            releasing = for_everyone(self._released(numbers))
            self._releasing.add(releasing)  # kept until done (the loop holds tasks weakly)
            releasing.add_done_callback(self._releasing.discard)

    async def _released(self, numbers: list[str]) -> None:
        try:
            await self.keys.release(numbers)
        except PyMongoError as error:  # best effort: they stay keys of no case
            log.warning("numbers_release_failed", numbers=len(numbers), error=str(error)[:200])

    def _reserve_ahead(self, now: datetime) -> None:
        if self._reserving is None or self._reserving.done():
            self._reserving = for_everyone(self._reserve(now, self.batch + self._waiting))
            self._reserving.add_done_callback(_reserving_done)

    async def _reserve_more(self, now: datetime) -> int:
        """Wait for the batch being reserved, starting one if none is: one at a time, however
        many submissions find none free (a burst of fifty on a fresh instance once reserved
        fifty batches, and released three thousand numbers at its stop). Its error is each
        waiting caller's. Returns how many numbers it gave."""
        self._reserve_ahead(now)
        assert self._reserving is not None
        return await asyncio.shield(self._reserving)

    async def _reserve(self, now: datetime, count: int) -> int:
        day = city_day(now, self.timezone())
        drawn = {new_case_number(now, self.timezone()) for _ in range(count)}
        keys = await asyncio.gather(*(self.keys.reserve(number) for number in drawn))
        reserved = [(key.key_id, key) for key in keys if key is not None]
        if day == self.reserving_since or not self.reserving_since:
            known = await asyncio.gather(*(self.known(number) for number, _ in reserved))
            reserved = [number for number, seen in zip(reserved, known, strict=True) if not seen]
        if day == self._day:
            self._free.extend(reserved)
            return len(reserved)
        self._release([number for number, _ in reserved])
        return 0


def _reserving_done(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("numbers_reserve_failed", error=str(error)[:200])
