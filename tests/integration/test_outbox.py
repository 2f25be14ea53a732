"""The write model on the real store and broker. Its outbox: a batch claimed by a command that
died before Kafka had it is published by the relay, once; the outbox holds only what is in
flight, so the relay never reads every claim ever made. Its fold of what others recorded: a
case's events of a batch at once, as one claim and one snapshot, make the case one by one
would make, beside another instance folding the same events too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from helpers import read_events, unique
from prometheus_client import REGISTRY
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure
from unit.lifecycle.casebook import SIGNAL_CO, T0, accepted, resolved_case, routed_to, submitted

from contracts import case_events as ev
from contracts.envelope import Envelope
from services.common.bus import EventLog
from services.common.casestreams import CaseStreams, claim_id, envelopes_of
from services.common.runtime import ServiceRuntime, running
from services.common.settings import CommonSettings
from services.lifecycle.case import Case
from services.lifecycle.errors import NotNow


class DyingLog:
    """The service's log, for a process that is killed as it starts to append."""

    def __init__(self, real: EventLog) -> None:
        self.real = real

    async def append(self, envelopes: Sequence[Envelope]) -> None:
        raise RuntimeError("killed before Kafka had the events")

    async def publish(self, topic: str, body: bytes, key: bytes | None = None) -> None:
        await self.real.publish(topic, body, key)


class Recorder(ServiceRuntime[CommonSettings]):
    """A service that records case events: routing's principal, which may append to the log."""

    name = "routing"


@pytest.fixture
async def runtime(settings: CommonSettings) -> AsyncIterator[ServiceRuntime]:
    recorder = Recorder(settings)
    async with running(recorder):
        yield recorder


def streams(runtime: ServiceRuntime, log: Any) -> CaseStreams:
    return CaseStreams(runtime.db["cases"], log, runtime.clock, producer="intake")


async def outbox_keys(streams_: CaseStreams) -> list[str]:
    """The batches the outbox holds entries for (an entry is `<claim key>~<token>`)."""
    return sorted([entry["_id"].partition("~")[0] async for entry in streams_.outbox.find({})])


async def submit(streams_: CaseStreams) -> str:
    """A new case submitted through `streams_`; its number."""
    case_id = unique("ZB-OUTBOX-")
    await streams_.execute(case_id, lambda case: [submitted()], cause="submit",
                           correlation_id="c1", at=T0, create=True)
    return case_id


async def test_a_command_that_dies_before_kafka_is_published_by_the_relay_once(
        runtime: ServiceRuntime, settings: CommonSettings) -> None:
    alive = streams(runtime, runtime.events)
    case_id = await submit(alive)
    await alive.removed()  # answered, then the entry left with the moment's others
    assert await outbox_keys(alive) == []  # published: nothing left in flight

    # when the process dies between claiming the batch and Kafka holding it
    dying = streams(runtime, DyingLog(runtime.events))
    with pytest.raises(RuntimeError):
        await dying.execute(case_id, lambda case: [accepted()], cause="accept",
                            correlation_id="c2", at=T0)
    assert await outbox_keys(alive) == [claim_id(case_id, 2)]
    assert [e.seq for e in await read_events(settings, case_id=case_id, min_count=1)] == [1]

    # then the relay of the restarted process publishes it, marks it and empties the outbox
    restarted = streams(runtime, runtime.events)
    assert await restarted.flush_outboxes() == 1
    assert await restarted.flush_outboxes() == 0
    assert await outbox_keys(restarted) == []
    logged = await read_events(settings, case_id=case_id, min_count=2)
    assert [(e.seq, e.type) for e in logged] == [(1, "CaseSubmitted"), (2, "CaseAccepted")]
    case = await restarted.get(case_id)
    assert isinstance(case, Case) and case.version == 2


def store_commands(collection: AsyncCollection[dict[str, Any]], command: str) -> float:
    """The `command`s this process has sent the store for `collection` so far."""
    return REGISTRY.get_sample_value("zaiban_store_commands_total", {
        "database": collection.database.name, "command": command,
        "collection": collection.name}) or 0.0


def outbox_removals(streams_: CaseStreams) -> float:
    return store_commands(streams_.outbox, "delete")


async def test_commands_answer_before_their_entries_leave_and_those_leave_together(
        runtime: ServiceRuntime) -> None:
    # The store is slow to remove the first entry: the commands answer all the same (Kafka
    # holds their batches), one after the other, and the entries gathered meanwhile leave
    # in one command for the store, not one each.
    alive = streams(runtime, runtime.events)
    store_answers = asyncio.Event()
    removing = alive._outbox_writes.delete

    async def slow(key: Any) -> None:
        await store_answers.wait()
        await removing(key)

    alive._outbox_writes.delete = slow  # type: ignore[method-assign]
    before = outbox_removals(alive)
    cases = [await asyncio.wait_for(submit(alive), 10) for _ in range(5)]
    assert await outbox_keys(alive) == sorted(claim_id(case_id, 1) for case_id in cases)
    store_answers.set()
    await alive.removed()
    assert await outbox_keys(alive) == []
    # those gathered while the first waited, then the rest: fewer commands than entries
    assert 1 <= outbox_removals(alive) - before < len(cases)


async def test_another_instance_right_after_a_command_sends_nothing_again(
        runtime: ServiceRuntime, settings: CommonSettings) -> None:
    # The command answers once Kafka holds its batch; the entry leaves a moment later. Another
    # instance's command on the case meanwhile finds the entry: it waits for it to leave
    # rather than publish the batch a second time (this instance knows it is in the log).
    first = streams(runtime, runtime.events)
    case_id = await submit(first)
    second = streams(runtime, runtime.events)
    await second.execute(case_id, lambda case: [accepted()], cause="accept",
                         correlation_id="c2", at=T0)
    await first.removed()
    await second.removed()
    assert await outbox_keys(first) == []
    logged = await read_events(settings, case_id=case_id, min_count=2)
    assert [e.seq for e in logged] == [1, 2]


async def test_entries_left_by_a_lost_race_or_a_death_before_the_claim_are_cleared(
        runtime: ServiceRuntime, settings: CommonSettings) -> None:
    relay = streams(runtime, runtime.events)
    case_id = await submit(relay)
    await relay.removed()
    # a command that lost the claim of batch 1 and died before it removed its entry, and a
    # command that died before claiming batch 2, which never was
    await relay.outbox.insert_many([{"_id": f"{claim_id(case_id, 1)}~0dead001", "entered_at": T0},
                                    {"_id": f"{claim_id(case_id, 2)}~0dead002", "entered_at": T0}])
    assert await relay.flush_outboxes(older_than_s=5.0) == 0
    assert await outbox_keys(relay) == []
    # the winner's batch is not sent again: the claim names the winner's entry, not the loser's
    logged = await read_events(settings, case_id=case_id, min_count=1)
    assert [e.seq for e in logged] == [1]
    case = await relay.get(case_id)
    assert case is not None and case.version == 1


async def test_an_entry_named_as_before_entries_had_names_of_their_own_is_still_found(
        runtime: ServiceRuntime, settings: CommonSettings) -> None:
    """A claim written before this version names no entry, and its entry was the claim's key:
    a batch such a command claimed and did not publish is published by the relay, once."""
    relay = streams(runtime, runtime.events)
    case_id = await submit(relay)
    await relay.removed()
    story = resolved_case()
    accepted_ = story.envelopes[1].model_copy(update={"case_id": case_id})
    key = claim_id(case_id, 2)
    await relay.claims.insert_one({"_id": key, "case_id": case_id, "first_seq": 2,
                                   "last_seq": 2, "events": [accepted_.model_dump_json()],
                                   "claimed_at": T0})
    await relay.outbox.insert_one({"_id": key, "entered_at": T0})
    assert await relay.flush_outboxes(older_than_s=5.0) == 1
    assert await outbox_keys(relay) == []
    logged = await read_events(settings, case_id=case_id, min_count=2)
    assert [e.seq for e in logged] == [1, 2]


async def test_the_relay_leaves_entries_younger_than_its_period(runtime: ServiceRuntime) -> None:
    case_id = unique("ZB-OUTBOX-")
    dying = streams(runtime, DyingLog(runtime.events))
    with pytest.raises(RuntimeError):
        await dying.execute(case_id, lambda case: [submitted()], cause="submit",
                            correlation_id="c1", at=T0, create=True)
    # a command may be publishing this batch right now: the relay waits a period
    assert await streams(runtime, runtime.events).flush_outboxes(older_than_s=60.0) == 0
    assert await outbox_keys(dying) == [claim_id(case_id, 1)]


async def test_a_batch_kafka_holds_whose_outbox_entry_the_full_store_kept_is_not_sent_again(
        runtime: ServiceRuntime, settings: CommonSettings) -> None:
    """The disk fills between Kafka taking a batch and the outbox entry's removal: the command
    succeeded (the batch is in the log), and the relay, while the store still refuses and
    once it takes writes again, only removes the entry — it sends no second copy."""
    alive = streams(runtime, runtime.events)
    full = OperationFailure("database or disk is full (13)", 1)

    async def refused(key: Any) -> None:
        raise full

    removing = alive._outbox_writes.delete
    alive._outbox_writes.delete = refused  # type: ignore[method-assign]
    case_id = await submit(alive)  # answered: Kafka holds it
    await alive.removed()  # refused: the entry stays
    assert await outbox_keys(alive) == [claim_id(case_id, 1)]
    with pytest.raises(OperationFailure):
        await alive.flush_outboxes()  # still full: the entry stays, nothing sent again

    alive._outbox_writes.delete = removing  # type: ignore[method-assign]
    assert await alive.flush_outboxes() == 1
    assert await outbox_keys(alive) == []
    logged = await read_events(settings, case_id=case_id, min_count=1)
    assert [e.seq for e in logged] == [1]  # once


async def test_a_case_kept_in_memory_is_loaded_as_another_instance_moved_it(
        runtime: ServiceRuntime, settings: CommonSettings) -> None:
    """Each instance keeps the cases it moved last in memory: what a command there records or
    refuses is decided on the case as the store says it is now, whoever moved it since
    (another instance's command, or an event folded from the log). Deciding on the kept case
    first costs a lost claim when it moved on, never an event on an old version, a refusal
    that the case as it is would not make, or an entry left in the outbox."""
    intake = CaseStreams(runtime.db["kept_intake"], runtime.events, runtime.clock,
                         producer="intake")
    case_id = unique("ZB-KEPT-")
    logged = await intake.execute(case_id, lambda case: [submitted()], cause="submit",
                                  correlation_id="c1", at=T0, create=True)
    logged += await intake.execute(case_id, lambda case: [accepted()], cause="accept",
                                   correlation_id="c2", at=T0)

    def routing() -> CaseStreams:
        return CaseStreams(runtime.db["kept_routing"], runtime.events, runtime.clock,
                           producer="routing")

    first, second = routing(), routing()  # two instances of routing
    for envelope in logged:  # the first instance folds the case from the log and keeps it
        await first.fold_all([envelope])
    assert (await first.get(case_id)).version == 2  # type: ignore[union-attr]
    await second.execute(case_id, lambda case: [routed_to("signal-co", due_at=T0)],
                         cause="route", correlation_id="c3", at=T0)

    seen: list[int] = []

    def decide(case: Case) -> list[Any]:
        seen.append(case.version)
        return []

    await first.execute(case_id, decide, cause="look", correlation_id="c4", at=T0)
    assert seen[-1] == 3  # nothing to do: said of the case as it is
    case = await first.get(case_id)
    assert case is not None and case.version == 3 and case.status == "routed"

    # a command refused on the kept case (not routed yet) is decided again on the case as it
    # is, and recorded
    third = routing()
    for envelope in logged:
        await third.fold_all([envelope])  # kept at version 2, not routed
    recorded = await third.execute(case_id, acknowledge, cause="acknowledge",
                                   correlation_id="c5", at=T0)
    assert [e.seq for e in recorded] == [4]

    # a command recorded from the kept case loses the claim, decides again, records once,
    # on the case as it is, and leaves no entry behind
    fourth = routing()
    for envelope in logged:
        await fourth.fold_all([envelope])  # kept at version 2
    recorded = await fourth.execute(case_id, lambda case: [
        ev.CaseResolved(by=SIGNAL_CO, resolution="fixed", on_time=True)],
        cause="resolve", correlation_id="c6", at=T0)
    assert [e.seq for e in recorded] == [5]
    await asyncio.gather(third.removed(), fourth.removed())
    assert await outbox_keys(fourth) == []
    in_log = await read_events(settings, case_id=case_id, min_count=5)
    assert [e.seq for e in in_log] == [1, 2, 3, 4, 5]


def acknowledge(case: Case) -> list[Any]:
    """The department acknowledges a routed case; any other is refused."""
    if case.status != "routed":
        raise NotNow(f"case {case.case_id} is {case.status}, not routed")
    return [ev.CaseAcknowledged(by=SIGNAL_CO)]


async def test_a_command_on_a_case_kept_in_memory_looks_nothing_up(
        runtime: ServiceRuntime) -> None:
    """A command on a case this instance moved last sends the store its writes only (outbox
    entry, claim, snapshot, removal): no lookup of the batch after it."""
    routing = routing_streams(runtime, unique("kept_looks_"))
    story = resolved_case()
    await routing.fold_all(story.envelopes[:2])  # submitted, accepted: kept at version 2
    looked_up = store_commands(routing.claims, "find") + store_commands(routing.collection, "find")
    recorded = await routing.execute(story.case_id, lambda case: [
        routed_to("signal-co", due_at=T0)], cause="route", correlation_id="c3", at=T0)
    assert [e.seq for e in recorded] == [3]
    assert store_commands(routing.claims, "find") + store_commands(
        routing.collection, "find") == looked_up


def routing_streams(runtime: ServiceRuntime, collection: str) -> CaseStreams:
    return CaseStreams(runtime.db[collection], runtime.events, runtime.clock, producer="routing")


async def folded_one_by_one(runtime: ServiceRuntime, envelopes: list[Envelope]) -> dict[str, Any]:
    """The case `envelopes` make folded one at a time, in a write model of its own (as dumped)."""
    reference = routing_streams(runtime, unique("fold_single_"))
    for envelope in envelopes:
        await reference.fold_all([envelope])
    case = await reference.get(envelopes[0].case_id)
    assert case is not None
    return case.model_dump()


async def test_a_cases_events_folded_at_once_make_the_case_they_make_one_by_one(
        runtime: ServiceRuntime) -> None:
    """A batch of a consumer often holds several events of a case (catching up, all of them):
    folded at once, they take one claim and one snapshot; the case is the same."""
    story = resolved_case()
    logged = story.envelopes  # submitted, accepted, routed, resolved: recorded elsewhere
    expected = await folded_one_by_one(runtime, logged)

    at_once = routing_streams(runtime, unique("fold_batch_"))
    twice = [*logged[:3], logged[1], logged[3]]  # the log may hold an event twice: once counts
    looked_up = store_commands(at_once.collection, "find")
    folded = await at_once.fold_all(twice)
    assert folded is not None and folded.model_dump() == expected
    # from the case's first event: the claim of its first batch is the check, no snapshot
    # is looked up first
    assert store_commands(at_once.collection, "find") == looked_up
    assert [claim["_id"] async for claim in at_once.claims.find({})] == [
        claim_id(story.case_id, 1)]
    afresh = CaseStreams(at_once.collection, runtime.events, runtime.clock, producer="routing")
    assert (await afresh.get(story.case_id)).model_dump() == expected  # type: ignore[union-attr]
    assert await at_once.fold_all(logged) is None  # seen: nothing more
    assert await afresh.fold_all(logged[2:]) is None  # (another process: seen in the store)


async def test_a_case_begun_here_and_moved_on_is_not_set_back_by_a_fold_of_its_first_event(
        runtime: ServiceRuntime) -> None:
    """A case begun (its first batch unclaimed: `begin`) and then accepted; its first event
    folded again by a process that takes it for a new case (no memory of it, not told that its
    service begins cases). The claim of the first batch is free, the snapshot is not: the case
    is loaded as it went on, and its snapshot stays where it was."""
    begun = CaseStreams(runtime.db[unique("begun_")], runtime.events, runtime.clock,
                        producer="intake", begins=True)
    case_id = unique("ZB-BEGUN-")
    first = await begun.begin(case_id, [submitted()], cause="submit", correlation_id="c1",
                              at=T0)
    await begun.drain()
    await begun.execute(case_id, lambda case: [accepted()], cause="accept",
                        correlation_id="c2", at=T0)
    afresh = CaseStreams(begun.collection, runtime.events, runtime.clock, producer="intake")
    assert await afresh.fold_all(first) is None  # seen: in the case as it went on
    snapshot = await begun.collection.find_one({"_id": case_id})
    assert snapshot is not None and snapshot["version"] == 2


async def test_two_instances_folding_overlapping_batches_make_the_case_once(
        runtime: ServiceRuntime) -> None:
    """During a rebalance two instances may fold the same events: the one that takes the
    partition over reads from the group's committed offset, so its batch starts at or before
    the first event the other has not committed yet. The claims decide; no event is applied
    twice or lost."""
    story = resolved_case()
    logged = story.envelopes
    expected = await folded_one_by_one(runtime, logged)

    shared = unique("fold_shared_")
    for first_part, second_part in ((logged[:3], logged), (logged[:1], logged),
                                    (logged, logged[:2]), (logged, logged)):
        collection = f"{shared}_{len(first_part)}_{len(second_part)}"
        one, other = routing_streams(runtime, collection), routing_streams(runtime, collection)
        await asyncio.gather(one.fold_all(first_part), other.fold_all(second_part))
        reader = routing_streams(runtime, collection)
        case = await reader.get(story.case_id)
        assert case is not None and case.model_dump() == expected


async def test_a_fold_on_a_case_kept_in_memory_that_another_instance_moved_on(
        runtime: ServiceRuntime) -> None:
    """A fold claims the batch after the case it keeps without looking first: when another
    instance has folded further meanwhile (a partition moved back and forth), that key is
    taken, and the fold loads the case and applies only what the store does not hold."""
    story = resolved_case()
    logged = story.envelopes
    expected = await folded_one_by_one(runtime, logged)

    collection = unique("fold_kept_")
    first, second = routing_streams(runtime, collection), routing_streams(runtime, collection)
    await first.fold_all(logged[:2])  # kept in memory at version 2
    await second.fold_all(logged[:3])  # the store is at 3 now, by another instance
    folded = await first.fold_all(logged[2:])
    assert folded is not None and folded.model_dump() == expected
    assert [claim["_id"] async for claim in first.claims.find({})] == [
        claim_id(story.case_id, 1), claim_id(story.case_id, 3), claim_id(story.case_id, 4)]
    afresh = routing_streams(runtime, collection)
    assert (await afresh.get(story.case_id)).model_dump() == expected  # type: ignore[union-attr]


async def test_a_fold_after_a_command_whose_events_kafka_never_had_misses_none_of_them(
        runtime: ServiceRuntime) -> None:
    """A process that claimed a batch and died appending it (Kafka away) keeps the case in
    memory as of before that batch; its relay publishes the batch later. The next event from
    the log does not follow the kept case: the fold loads the case, claimed batch included,
    and applies the event after it — never onto the case as kept."""
    story = resolved_case()
    submitted_, accepted_, _, resolved_ = story.envelopes
    collection = unique("fold_gap_")
    dying: Any = DyingLog(runtime.events)
    routing = CaseStreams(runtime.db[collection], dying, runtime.clock, producer="routing")
    await routing.fold_all([submitted_, accepted_])  # kept in memory at version 2
    with pytest.raises(RuntimeError):
        await routing.execute(story.case_id, lambda case: [
            routed_to("signal-co", due_at=T0, assisting=("water-co",))],
            cause="route", correlation_id="c3", at=T0)
    claimed = await routing.claims.find_one({"_id": claim_id(story.case_id, 3)})
    assert claimed is not None
    routed = envelopes_of(claimed)
    folded = await routing.fold_all([*routed, resolved_])  # the relay's copy, then the next

    assert folded is not None and folded.version == 4
    assert folded.assisting == ("water-co",)  # what only the claimed batch says
    assert folded.model_dump() == await folded_one_by_one(
        runtime, [submitted_, accepted_, *routed, resolved_])


async def test_a_command_right_after_a_case_is_begun_waits_for_its_snapshot_and_looks_nothing_up(
        runtime: ServiceRuntime) -> None:
    """A submission is answered once Kafka holds it; its snapshot is written after. An officer's
    acceptance that comes meanwhile waits for that snapshot, then decides on the case as kept:
    no lookup of the batch after it."""
    intake = CaseStreams(runtime.db[unique("begun_kept_")], runtime.events, runtime.clock,
                         producer="intake", begins=True)
    store_answers = asyncio.Event()
    inserting = intake._snapshots.insert

    async def slow(doc: Any) -> bool:
        await store_answers.wait()
        return await inserting(doc)

    intake._snapshots.insert = slow  # type: ignore[method-assign]
    case_id = unique("ZB-BEGUN-")
    await intake.begin(case_id, [submitted()], cause="submit", correlation_id="c1", at=T0)
    looked_up = store_commands(intake.claims, "find") + store_commands(intake.collection, "find")
    accepting = asyncio.create_task(intake.execute(
        case_id, lambda case: [accepted()], cause="accept", correlation_id="c2", at=T0))
    await asyncio.sleep(0.2)
    assert not accepting.done()  # waits for the snapshot
    store_answers.set()
    recorded = await asyncio.wait_for(accepting, 10)
    assert [e.seq for e in recorded] == [2]
    assert store_commands(intake.claims, "find") + store_commands(
        intake.collection, "find") == looked_up
