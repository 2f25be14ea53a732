"""Case numbers reserved ahead: a number is one case's once its data key is reserved, so a
number drawn twice is never given to a second case, and the day in a number is the day
the case arrived."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from services.common.keys import DataKey
from services.intake.numbering import Numbers
from services.intake.numbers import looks_like_case_number

AT = datetime(2026, 10, 6, 9, 30, tzinfo=UTC)
TZ = "Asia/Shanghai"


class Keys:
    """A key store in memory: a second reservation of one id is refused, as by the store's
    unique key."""

    def __init__(self, taken: set[str] | None = None) -> None:
        self.kept: dict[str, DataKey] = {}
        self.taken = taken or set()
        self.reservations = 0

    async def reserve(self, key_id: str) -> DataKey | None:
        self.reservations += 1
        if key_id in self.kept or key_id in self.taken:
            return None
        self.kept[key_id] = key = DataKey.new(key_id)
        return key

    async def release(self, key_ids: list[str]) -> None:
        for key_id in key_ids:
            self.kept.pop(key_id, None)


async def nobody_has(case_id: str) -> bool:
    return False


def numbers_with(keys: Keys, known=nobody_has, batch: int = 8) -> Numbers:  # type: ignore[no-untyped-def]
    numbers = Numbers(keys, lambda: TZ, known, batch=batch, low=2)  # type: ignore[arg-type]
    numbers.reserving_since = "none"
    return numbers


async def test_each_number_taken_is_reserved_and_given_once() -> None:
    keys = Keys()
    numbers = numbers_with(keys)
    taken = [await numbers.take(AT) for _ in range(50)]
    assert len({case_id for case_id, _ in taken}) == 50
    assert all(looks_like_case_number(case_id) and case_id.startswith("ZB261006-")
               for case_id, _ in taken)
    assert all(keys.kept[case_id] is key for case_id, key in taken)
    assert keys.reservations < 50 + 2 * 8  # in batches, not one round trip a submission


async def test_a_number_another_case_holds_is_never_given(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Drawn twice (the 40 random bits repeat): the second reservation is refused, and the
    number is not given to a second case."""
    drawn = iter(["ZB261006-AAAA-AAAA", "ZB261006-BBBB-BBBB"] * 10)
    monkeypatch.setattr("services.intake.numbering.new_case_number", lambda now, tz: next(drawn))
    keys = Keys(taken={"ZB261006-AAAA-AAAA"})  # another instance's case has it
    numbers = numbers_with(keys, batch=2)
    case_id, _ = await numbers.take(AT)
    assert case_id == "ZB261006-BBBB-BBBB"


async def test_on_the_day_reservations_began_a_number_of_an_older_case_is_not_given(
        monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A case recorded before numbers were reserved, without personal data, has no key: on
    that day a reserved number is also looked up among the cases."""
    drawn = iter(["ZB261006-OLD0-CASE", "ZB261006-NEW0-CASE"] * 10)
    monkeypatch.setattr("services.intake.numbering.new_case_number", lambda now, tz: next(drawn))

    async def known(case_id: str) -> bool:
        return case_id == "ZB261006-OLD0-CASE"

    numbers = numbers_with(Keys(), known, batch=2)
    numbers.reserving_since = "261006"
    case_id, _ = await numbers.take(AT)
    assert case_id == "ZB261006-NEW0-CASE"


async def test_at_midnight_the_numbers_of_the_day_before_are_released() -> None:
    keys = Keys()
    numbers = numbers_with(keys)
    yesterday, _ = await numbers.take(AT)
    left = set(keys.kept) - {yesterday}
    tomorrow = AT + timedelta(days=1)
    case_id, _ = await numbers.take(tomorrow)
    assert case_id.startswith("ZB261007-")
    await numbers.stop()
    await asyncio.sleep(0)
    assert not left & set(keys.kept)  # the day before's free numbers are given back
    assert yesterday in keys.kept and case_id in keys.kept  # the ones taken stay


async def test_a_number_given_back_is_taken_again() -> None:
    keys = Keys()
    numbers = numbers_with(keys)
    case_id, key = await numbers.take(AT)
    numbers.give_back(case_id, key)
    assert await numbers.take(AT) == (case_id, key)


async def test_a_burst_on_a_fresh_instance_reserves_one_batch_at_a_time() -> None:
    """Fifty submissions at once find no number free: they wait for one reservation, not
    fifty (each of which would hold a batch until the stop releases it)."""
    keys = Keys()
    numbers = numbers_with(keys)
    taken = await asyncio.gather(*(numbers.take(AT) for _ in range(50)))
    assert len({case_id for case_id, _ in taken}) == 50
    assert keys.reservations <= 50 + 2 * 8
    await numbers.stop()
    assert set(keys.kept) == {case_id for case_id, _ in taken}  # the rest released


async def test_a_failed_reservation_is_each_waiting_submissions_error() -> None:
    class Down(Keys):
        async def reserve(self, key_id: str) -> DataKey | None:
            raise ConnectionError("the store is down")

    numbers = numbers_with(Down())
    answers = await asyncio.gather(*(numbers.take(AT) for _ in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(answer, ConnectionError) for answer in answers), answers
