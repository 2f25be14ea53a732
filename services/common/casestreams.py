"""A service's write model of cases: its own small event store, plus snapshots.

Three collections in the service's own database:
- `<name>_claims`: the events this service knows, in batches keyed
  `<case id>#<first seq>`. Inserting a batch is the compare-and-set: the key
  is unique, so of two commands decided on the same version of a case only
  one can insert its batch — two racing commands cannot both win. (A
  filtered update is no such guarantee on every MongoDB-protocol server; a
  unique key is.) A claim is never changed once written.
- `<name>_outbox`: the keys of batches not yet known to be in Kafka —
  entered before the claim, removed once Kafka holds the batch (with the
  removals of the next moment, after the command answered). A batch whose
  key is not here is in the log. The collection stays as small as the
  commands in flight, so the relay that finds what a crash left behind
  reads it, not every claim ever made.
- `<name>`: one snapshot per case (state as JSON, version, and top-level
  fields for queries). A snapshot may lag its claims; loading folds the newer
  claims in, so the claims are the truth and a lost snapshot write loses
  nothing.

The claims are ONE service's compare-and-set: intake's and routing's cannot see
each other. So a case has one writer at each moment, by where it stands
(`services/lifecycle/ownership.py`: intake until triage has decided it, routing
from then on), and `execute` records only for the case's writer: what a service
decided on a case it does not write now is refused (`NotTheWriter`, nothing
recorded). The writer's version of a case is always the log's (no one else
records past it), so its claim on `<case id>#<version + 1>` is the only one any
service can make: no two events ever share a (case, seq).

A command runs as: load; publish (or wait for) unpublished batches of the
case, so the log keeps the case's order; decide (pure; may raise a domain
error, `services/lifecycle/errors.py`); check that this service writes the
case now; insert the batch (or lose the race, and decide again on the newer
state); append to the log and wait until Kafka holds it (acks=all); answer, and
remove its outbox entry with the others of the next `REMOVAL_WAIT_S`. A crash in
between leaves an
unpublished batch, which the next command on the case or the relay publishes
with the same ids and seq, and every consumer skips a seq it has seen.

Reads are by `_id` only. Batches of a case follow each other without gaps, so
the batch after the snapshot is `<case id>#<version + 1>`, and the snapshot
names the batch it ends with (`claim`). Only that newest batch can be
unpublished and missing from the log: a command settles the batches before
its own before it claims, and an event folded from the log was in the log. So
loading is a few lookups by key, never a query over all claims — which
matters on FerretDB 1.24, where any other filter reads every document of the
collection (and so grew with every case ever recorded).

Each instance keeps the cases it recorded or folded last in memory (`KEPT_CASES`), as of a
batch it knows is in the log. Every change to a case in this write model is a claim (a
command's, or a fold's of an event from the log), so the key of the batch after a kept case,
`<case id>#<version + 1>`, is taken exactly when the case moved on. A command on a kept case
decides on it first and claims at once: that insert is the check a lookup of the key would
be, and a command that loses it loads the case and decides again (as after any lost race). A
refusal, or nothing to do, stands only on the case loaded: no claim checks those, so they are
decided again on it (`_trusted`). A fold of events from the log likewise claims at once when
its events follow the kept case without a gap (or, for a case with no snapshot yet, begin at
its first event). A fold from a case's first event looks for no snapshot either, where every
first batch is claimed (a service that does not `begin` cases: routing); one that finds a
snapshot all the same when it writes its own loads the case instead. (A gap means a batch
this process claimed and could not publish: loading finds it.) Loading a kept case is one
lookup (the next batch) instead of three (snapshot, next batch, outbox).

A new case's first events skip all of this (`begin`): its number is made the
caller's before (intake reserves the case's data key), so no one can race it;
they go to the log first and then into a snapshot, with neither claim nor
outbox entry (the snapshot names a first batch that has no claim document:
loading looks only for the batches after the snapshot). What the log holds and
the write model does not is folded from the log.

Each attempt at a claim has an outbox entry of its own, `<claim key>~<token>`, which the claim
and the snapshot name (`entry`; None for a batch folded from the log, which had none). So
racing commands never share an entry: the one that loses the claim removes its own at once,
and no batch is published twice for a race. The relay removes an entry whose batch was never
claimed, or was claimed under another entry, once it is older than a relay period; claims
and snapshots written before entries had names of their own name none, and their entry is
the claim key itself (`entry_of`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from contracts.case_events import CaseEvent
from contracts.envelope import Envelope
from services.common.bus import EventLog
from services.common.clock import Clock
from services.common.compact import compact
from services.common.grouped import GroupedWrites
from services.common.logging import bound, get_logger
from services.common.store import create_query_indexes, ensure_collections, report_failure
from services.common.tasks import for_everyone
from services.lifecycle.case import Case
from services.lifecycle.errors import NotFound, NotNow, Refused
from services.lifecycle.ownership import Writer, check_writer

log = get_logger("zaiban.casestreams")

MAX_ATTEMPTS = 8
REMEMBERED_CASES = 100_000
KEPT_CASES = 2_000
"""Cases kept in memory as last recorded or folded (some 7 KB each: 14 MB)."""
OUTBOX_PATIENCE_S = 1.0
OUTBOX_PATIENCE_STEPS = 20
ENTRY_MARK = "~"
"""Between the batch's key and the attempt's token in an outbox entry's name."""
REMOVAL_WAIT_S = 0.05
"""How long the outbox entry of a batch Kafka holds waits to leave with others: one command
for the store where each command's answer waited on one of its own."""

Decide = Callable[[Case], Sequence[CaseEvent]]
IndexFields = Callable[[Case], dict[str, Any]]
Saved = Callable[[dict[str, Any]], None]


class ConcurrentChange(Exception):
    """Other commands kept changing the case while this one was decided: nothing was
    recorded, and the caller may try again (a store's answer, not a rule of the case;
    the HTTP edge answers 409)."""

    def __init__(self, case_id: str) -> None:
        self.reason = f"case {case_id} changed while this command was decided; try again"
        super().__init__(self.reason)


def claim_id(case_id: str, first_seq: int) -> str:
    return f"{case_id}#{first_seq:08d}"


def after(envelopes: Sequence[Envelope], version: int) -> list[Envelope]:
    """The envelopes past `version`, in seq order, the first of each seq (a copy of an event
    the log holds twice comes later, and is skipped)."""
    firsts: dict[int, Envelope] = {}
    for envelope in envelopes:
        if envelope.seq > version:
            firsts.setdefault(envelope.seq, envelope)
    return [firsts[seq] for seq in sorted(firsts)]


def case_of(snapshot: dict[str, Any]) -> Case:
    """The case a snapshot holds: a JSON string (one value for the store to keep, which
    FerretDB writes several times faster than a tree of fields; only the top-level index
    fields are queried), or the tree itself in snapshots written before."""
    case = snapshot["case"]
    return Case.model_validate_json(case) if isinstance(case, str) else Case.model_validate(case)


def entry_of(doc: dict[str, Any], key: str | None = None) -> str | None:
    """The outbox entry of the batch a claim (or a snapshot, for the batch `key` it names) is
    about: None for a batch claimed from the log (it had none); the batch's own key in what
    was written before entries had names of their own."""
    return doc.get("entry", key if key is not None else doc["_id"])


def envelopes_of(claim: dict[str, Any]) -> list[Envelope]:
    return [Envelope.model_validate_json(raw) for raw in claim["events"]]


class CaseStreams:
    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        log_: EventLog,
        clock: Clock,
        producer: str,
        index_fields: IndexFields | None = None,
        saved: Saved | None = None,
        begins: bool = False,
    ) -> None:
        self.collection = collection
        self.begins = begins
        """Whether this service records the first events of new cases (`begin`): a snapshot
        without a claim of its first batch. Otherwise a case's first batch is always claimed,
        and a fold from a case's first event claims it without looking for a snapshot."""
        self.claims = collection.database[f"{collection.name}_claims"]
        self.outbox = collection.database[f"{collection.name}_outbox"]
        # group commit: concurrent commands' writes leave as one command per collection
        self._snapshots = GroupedWrites(collection)
        self._claim_inserts = GroupedWrites(self.claims)
        self._outbox_writes = GroupedWrites(self.outbox)
        # outbox keys whose batch this process saw Kafka hold, until their entry is removed
        # (after the command answered, `_published`; if the store refuses, the relay removes
        # it without publishing again)
        self._in_log: set[str] = set()
        self._unremoved: list[str] = []
        self._removing: asyncio.Task[None] | None = None
        # case id → a version the store holds at least (it only grows), for recent cases
        self._recorded: OrderedDict[str, int] = OrderedDict()
        # case id → the case as of a batch this process knows is in the log (newest last)
        self._kept: OrderedDict[str, Case] = OrderedDict()
        # case id → done once `begin` has written the case's first snapshot (or failed to)
        self._beginning: dict[str, asyncio.Future[None]] = {}
        self._keeping: set[asyncio.Task[None]] = set()
        self.log = log_
        self.clock = clock
        self.producer = producer
        self.writer = Writer(producer)
        """Which of the case's writers this is (`ownership.py`): it records only on the cases
        it writes now."""
        self.index_fields = index_fields or (lambda case: {})
        self.saved = saved
        """Told of each snapshot written by this process (the rows its lists keep)."""

    def _remember(self, case_id: str, version: int) -> None:
        self._recorded[case_id] = max(version, self._recorded.get(case_id, 0))
        self._recorded.move_to_end(case_id)
        if len(self._recorded) > REMEMBERED_CASES:
            self._recorded.popitem(last=False)

    def _keep(self, case: Case) -> None:
        """Keep `case`, whose newest batch is in the log, for the next load."""
        kept = self._kept.get(case.case_id)
        if kept is None or kept.version <= case.version:
            compact(case)
            self._kept[case.case_id] = case
        self._kept.move_to_end(case.case_id)
        if len(self._kept) > KEPT_CASES:
            self._kept.popitem(last=False)

    def _trusted(self, case_id: str) -> bool:
        """Whether a command may first decide on the case as kept, without looking up the batch
        after it: the case is kept (as of a batch in the log; a case being begun is not kept
        before its snapshot is written, and `execute` waits for that). The claim of its batch
        is then the check the lookup would be — the key `<case>#<version + 1>` is taken
        exactly when the case moved on in this write model (another instance's command, a
        fold of another's events, a batch this process claimed and could not publish). A
        refusal, or nothing to do, is decided again on the case loaded: no claim checks
        those."""
        return case_id in self._kept

    def forget(self, case_id: str) -> None:
        """Know nothing of `case_id` in memory: the next load and fold ask the store (as a
        new process would)."""
        self._kept.pop(case_id, None)
        self._recorded.pop(case_id, None)

    async def ensure_indexes(self, fields: Sequence[str] = ()) -> None:
        """The collections (made now, not at the first command: `ensure_collections`), and
        indexes for snapshot queries on `fields` (claims and outbox are read by key)."""
        await ensure_collections(self.collection.database,
                                 [self.collection.name, self.claims.name, self.outbox.name])
        await create_query_indexes(self.collection,
                                   [([(name, ASCENDING)], name) for name in fields])

    # -- reading --------------------------------------------------------------

    async def _load(self, case_id: str) -> tuple[Case | None, list[dict[str, Any]]]:
        """The case as its claims tell it, and its unpublished batches in order."""
        if (begun := self._beginning.get(case_id)) is not None:
            await begun  # a case this process is beginning: its snapshot is on its way
        doc: dict[str, Any] | None = None
        case = self._kept.get(case_id)
        kept = case is not None
        if not kept:
            doc = await self.collection.find_one({"_id": case_id})
            case = case_of(doc) if doc else None
        known = case.version if case else 0
        newest: dict[str, Any] | None = None
        while (claim := await self.claims.find_one({"_id": claim_id(case_id, known + 1)})):
            case = (case or Case(case_id=case_id)).fold(envelopes_of(claim))
            known, newest = claim["last_seq"], claim
        if newest is not None and case is not None:
            entry = entry_of(newest)
            await self._save_snapshot(case, newest["_id"], entry=entry)
            pending = await self._unpublished(entry)
        elif kept:
            pending = False  # kept as of a batch in the log, and no batch after it
        else:
            key = doc.get("claim") if doc is not None else None
            pending = (doc is not None and key is not None
                       and await self._unpublished(entry_of(doc, key)))
            if pending:
                newest = await self.claims.find_one({"_id": key})
        return case, [newest] if pending and newest is not None else []

    async def _in_outbox(self, entry: str) -> bool:
        return await self.outbox.find_one({"_id": entry}, projection={"_id": 1}) is not None

    async def _unpublished(self, entry: str | None) -> bool:
        """Whether the batch whose outbox entry is `entry` may be missing from the log (the entry
        is there, and this process has not seen Kafka take the batch). None: a batch claimed
        from the log, which had no entry."""
        return entry is not None and entry not in self._in_log and await self._in_outbox(entry)

    async def get(self, case_id: str) -> Case | None:
        case, _ = await self._load(case_id)
        return case

    async def as_of(self, case_id: str, seq: int) -> Case | None:
        """The case as of its event `seq` or later (what a reaction to that event needs): kept
        in memory when this process has it that far, else as the store holds it."""
        kept = self._kept.get(case_id)
        if kept is not None and kept.version >= seq:
            return kept
        return await self.get(case_id)

    # -- commands -------------------------------------------------------------

    async def execute(
        self,
        case_id: str,
        decide: Decide,
        *,
        cause: str,
        correlation_id: str,
        at: datetime | None = None,
        create: bool = False,
    ) -> list[Envelope]:
        """Decide on the current state of `case_id` and record what follows.

        `cause` is the command id (or the id of the event reacted to): running
        the same cause twice on the same state records the same event ids.
        With `create`, the case must not exist yet (a submission).
        """
        for attempt in range(MAX_ATTEMPTS):
            case: Case | None = None
            unpublished: list[dict[str, Any]] = []
            # First on the case as kept, without a lookup: its claim is the check (`_trusted`).
            # A case this process is beginning is kept once its snapshot is written: an
            # officer's acceptance often comes while it is.
            while attempt == 0 and (begun := self._beginning.get(case_id)) is not None:
                await begun
            trusted = attempt == 0 and not create and self._trusted(case_id)
            if trusted:
                case = self._kept[case_id]
            elif not create or attempt > 0:
                # (A new case number has no claims: its first batch is claimed at once, the
                # unique key being the check; if it exists after all, load and refuse.)
                case, unpublished = await self._load(case_id)
            if case is None and not create:
                raise NotFound(f"case {case_id} not found")
            if case is not None and create:
                raise NotNow(f"case {case_id} exists already")
            if unpublished:
                await self._settle(case_id, unpublished)
            current = case or Case(case_id=case_id)
            try:
                events = decide(current)
                if events:
                    check_writer(current, self.writer)
            except Refused:
                if trusted:
                    continue  # a refusal stands only on the case as the store holds it
                raise
            if not events:
                if trusted:
                    continue  # as does "nothing to do" (and it settles what is unpublished)
                return []
            now = self.clock.now()
            envelopes, updated = current.record(
                events,
                at=at or now,
                recorded_at=now,
                producer=self.producer,
                correlation_id=correlation_id,
                cause=cause,
            )
            entry = await self._enter_outbox(claim_id(case_id, envelopes[0].seq))
            if not await self._claim(case_id, envelopes, entry):
                self._leave_outbox(entry)  # another batch has the key: this entry is no one's
                continue
            self._remember(case_id, updated.version)
            await self._save_snapshot(updated, claim_id(case_id, envelopes[0].seq),
                                      new=case is None, entry=entry)
            with bound(case_id=case_id, correlation_id=correlation_id):
                await self.log.append(envelopes)
                # Kafka holds the events: the command succeeded; its entry leaves after
                self._published(entry)
                for envelope in envelopes:
                    log.info("recorded", event_id=str(envelope.event_id), type=envelope.type,
                             seq=envelope.seq)
            self._keep(updated)
            return envelopes
        raise ConcurrentChange(case_id)

    async def begin(self, case_id: str, events: Sequence[CaseEvent], *, cause: str,
                    correlation_id: str, at: datetime) -> list[Envelope]:
        """Record the first events of a new case, whose number the caller has made its own
        (intake: the case's data key, `submissions.py`), and return once Kafka holds them.

        No compare-and-set is needed: no other command can record on a number no one else
        holds, before its first events are in the log (where every command on the case starts
        from). So no outbox entry and no claim, only the log, then the snapshot (an insert,
        written once the caller has its answer): 2 writes where `execute` makes 5, and one
        before the answer. A crash after the log and before the snapshot loses nothing: this
        service folds its own events from the log (`fold_all`) into the write model.
        The events are the same whenever the same case is begun again with the same events,
        `cause` and `at` (a retry of the caller): their ids derive from `cause`, and
        `recorded_at` is `at`; a second copy in the log has the same (case, seq), which every
        consumer skips. Without `recorded_at` = `at` a retry would differ by its clock.
        """
        current = Case(case_id=case_id)
        check_writer(current, self.writer)
        envelopes, updated = current.record(events, at=at, recorded_at=at, producer=self.producer,
                                            correlation_id=correlation_id, cause=cause)
        # this process's consumer reads the events back, often before the snapshot is
        # written: it waits for it here rather than ask the store (`fold_all`)
        while (earlier := self._beginning.get(case_id)) is not None:
            await earlier  # a retry racing its first attempt in this process: one at a time
        begun = asyncio.get_running_loop().create_future()
        self._beginning[case_id] = begun

        def done(_: object = None) -> None:
            del self._beginning[case_id]
            begun.set_result(None)

        try:
            with bound(case_id=case_id, correlation_id=correlation_id):
                await self.log.append(envelopes)
        except BaseException:
            done()
            raise
        # Kafka holds them: answered now, the snapshot follows. Until it is written, this
        # process's reads of the case and its consumer's fold wait for it (`_beginning`).
        keeping = asyncio.create_task(self._keep_first(updated, envelopes, correlation_id))
        self._keeping.add(keeping)
        keeping.add_done_callback(self._keeping.discard)
        keeping.add_done_callback(done)
        return envelopes

    async def _keep_first(self, updated: Case, envelopes: list[Envelope],
                          correlation_id: str) -> None:
        case_id = updated.case_id
        with bound(case_id=case_id, correlation_id=correlation_id):
            doc = self._snapshot(updated, claim_id(case_id, envelopes[0].seq))
            try:
                # one insert: taken means the snapshot is there already (this case folded
                # from the log meanwhile, or begun by a retry): at this version or newer
                saved = await self._snapshots.insert(doc)
            except PyMongoError as error:
                # Kafka holds the events: the case is recorded. The write model gets it when
                # this service folds it from the log (not remembered here, so not skipped).
                log.warning("snapshot_after_log_failed", error=str(error)[:200])
                return
            self._remember(case_id, updated.version)
            if saved:
                self._keep(updated)
                if self.saved is not None:
                    self.saved(doc)
            log.info("recorded", event_id=str(envelopes[0].event_id), type=envelopes[0].type,
                     seq=envelopes[0].seq, events=len(envelopes))

    async def drain(self) -> None:
        """Wait for the snapshots of the cases begun and the outbox entries of published
        batches to be written and removed (before the store closes)."""
        while self._keeping:
            await asyncio.gather(*self._keeping, return_exceptions=True)
        await self.removed()

    async def removed(self) -> None:
        """Wait until the outbox entries of the batches published so far are removed (or the
        store refused: they stay for the relay)."""
        while self._removing is not None and not self._removing.done():
            await asyncio.shield(self._removing)

    async def sweep(self, case_id: str, decide: Decide, cause: str) -> int:
        """Record what a passing deadline means for `case_id`: 1 if something was, else 0.
        A case that moved on, that another instance swept first or that this service does
        not write now is skipped quietly, so a sweep may run anywhere, any number of times."""
        with bound(case_id=case_id, correlation_id=cause):
            try:
                recorded = await self.execute(case_id, decide, cause=cause,
                                              correlation_id=cause)
            except (Refused, ConcurrentChange) as refused:
                log.info("sweep_skipped", reason=refused.reason)
                return 0
        return 1 if recorded else 0

    async def _claim(self, case_id: str, envelopes: Sequence[Envelope],
                     entry: str | None = None) -> bool:
        """Insert the batch, with the name of its outbox entry (None: a batch from the log);
        False when the key is taken (another command won)."""
        return await self._claim_inserts.insert({
            "_id": claim_id(case_id, envelopes[0].seq),
            "case_id": case_id,
            "first_seq": envelopes[0].seq,
            "last_seq": envelopes[-1].seq,
            "events": [envelope.model_dump_json() for envelope in envelopes],
            "entry": entry,
            # wall time, not the domain clock: when the batch was claimed
            "claimed_at": datetime.now(UTC),
        })

    def _snapshot(self, case: Case, claim: str, entry: str | None = None) -> dict[str, Any]:
        return {"_id": case.case_id, "version": case.version, "claim": claim, "entry": entry,
                "case": case.model_dump_json(), **self.index_fields(case)}

    async def _save_snapshot(self, case: Case, claim: str, *, new: bool = False,
                             entry: str | None = None) -> None:
        """Keep `case` as of the batch `claim` (its newest), whose outbox entry is `entry` (None:
        it had none). `new`: there is no snapshot yet (an insert then, which FerretDB does
        without reading the collection)."""
        doc = self._snapshot(case, claim, entry)
        if not (new and await self._snapshots.insert(doc)):
            await self._snapshots.replace(doc)
        if self.saved is not None:
            self.saved(doc)

    async def _first_snapshot(self, case: Case, claim: str) -> bool:
        """Write the first snapshot of `case`, as of the batch `claim`; False if there is one."""
        doc = self._snapshot(case, claim)
        if not await self._snapshots.insert(doc):
            return False
        if self.saved is not None:
            self.saved(doc)
        return True

    async def _enter_outbox(self, key: str) -> str:
        """Enter the batch `key` this command is about to claim in the outbox; returns the
        entry's name: the key and a token of this attempt's own, so that racing commands
        never share an entry, and the one that loses the claim removes its own at once.
        (Wall time, not the domain clock: how long it has waited.)"""
        while True:
            entry = f"{key}{ENTRY_MARK}{secrets.token_hex(4)}"
            if await self._outbox_writes.insert({"_id": entry, "entered_at": datetime.now(UTC)}):
                return entry

    async def _mark_published(self, entry: str) -> None:
        """Remove the outbox entry `entry`, whose batch Kafka holds, now (the relay)."""
        self._in_log.add(entry)
        await self._outbox_writes.delete(entry)
        self._in_log.discard(entry)

    def _published(self, entry: str) -> None:
        """Remove the outbox entry `entry`, whose batch Kafka holds, with the others of the next
        `REMOVAL_WAIT_S` (a command's answer does not wait on it)."""
        self._in_log.add(entry)
        self._leave_outbox(entry)

    def _leave_outbox(self, entry: str) -> None:
        """Remove the outbox entry `entry` with the others of the next `REMOVAL_WAIT_S`."""
        self._unremoved.append(entry)
        if self._removing is None or self._removing.done():
            self._removing = for_everyone(self._remove_published())

    async def _remove_published(self) -> None:
        while self._unremoved:
            await asyncio.sleep(REMOVAL_WAIT_S)
            keys, self._unremoved = self._unremoved, []
            # one command: the deletes of one moment leave together (`GroupedWrites`)
            fates = await asyncio.gather(*(self._outbox_writes.delete(key) for key in keys),
                                         return_exceptions=True)
            removed = [key for key, fate in zip(keys, fates, strict=True) if fate is None]
            self._in_log.difference_update(removed)
            if len(removed) < len(keys):
                # The batches are in the log (or were never claimed under these entries); the
                # entries stay, and the relay removes them without publishing while this
                # process runs (`_in_log`, or a claim naming another entry); after a restart it
                # publishes a batch again (same ids and seq, skipped by every consumer).
                error = next(fate for fate in fates if fate is not None)
                log.warning("outbox_removal_failed", entries=len(keys) - len(removed),
                            error=str(error)[:200])

    async def _settle(self, case_id: str, unpublished: list[dict[str, Any]]) -> None:
        """Make sure the batches before ours are in the log.

        Usually the command that claimed them is publishing right now: give it a
        moment, so the log does not get a second copy. If it does not finish (it
        crashed), publish them ourselves — same ids, same seq, so consumers see
        them once. Either way our own events follow in order.
        """
        waiting = {entry for claim in unpublished if (entry := entry_of(claim)) is not None}
        for _wait in range(OUTBOX_PATIENCE_STEPS):
            await asyncio.sleep(OUTBOX_PATIENCE_S / OUTBOX_PATIENCE_STEPS)
            waiting = {entry for entry in waiting if await self._in_outbox(entry)}
            if not waiting:
                return
        for claim in unpublished:
            if (entry := entry_of(claim)) in waiting:
                await self._publish(claim, entry)

    async def _publish(self, claim: dict[str, Any], entry: str) -> None:
        """Publish the batch `claim`, whose outbox entry is `entry`, and remove the entry."""
        envelopes = envelopes_of(claim)
        if entry not in self._in_log:  # not published by this process already
            await self.log.append(envelopes)
        await self._mark_published(entry)
        log.info("outbox_published", case_id=claim["case_id"], events=len(envelopes))

    async def flush_outboxes(self, older_than_s: float = 0.0) -> int:
        """Publish every batch a crash left unpublished. Returns how many there were.

        With `older_than_s`, only outbox entries that have waited that long: a
        younger one usually belongs to a command publishing it right now. An
        entry whose batch was never claimed (a crash before the claim), or was claimed
        under another entry (a command that lost the claim and died before it removed its
        entry), is removed.
        """
        query: dict[str, Any] = {}
        if older_than_s:
            query["entered_at"] = {"$lt": datetime.now(UTC) - timedelta(seconds=older_than_s)}
        entries = sorted([entry["_id"] async for entry in self.outbox.find(query)])
        published = 0
        for entry in entries:  # sorted: a case's batches in order
            key = entry.partition(ENTRY_MARK)[0]
            claim = await self.claims.find_one({"_id": key})
            if claim is None or entry_of(claim) != entry:
                await self.outbox.delete_one({"_id": entry})
                continue
            await self._publish(claim, entry)
            published += 1
        return published

    async def relay(self, every_s: float = 5.0) -> None:
        """Publish what crashes left behind, forever (a background task of the service)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                relayed = await self.flush_outboxes(older_than_s=every_s)
                if relayed:
                    log.warning("outboxes_relayed", batches=relayed)
            except Exception as error:
                report_failure(log, "outbox_relay_failed", error)

    # -- the log's side -------------------------------------------------------

    async def fold_all(self, envelopes: Sequence[Envelope]) -> Case | None:
        """Apply events of one case recorded elsewhere (or replayed), given in log order: those
        not applied yet, in one claim and one snapshot (a batch of a consumer often holds
        several of a case: catching up, all of them). Seen events change nothing; of two
        copies of one seq the log holds, the first counts, as for every consumer.

        Returns the case after them, or None when every one was applied already.
        """
        case_id = envelopes[0].case_id
        # Events this process recorded come back from the log: it knows, without a lookup.
        if (begun := self._beginning.get(case_id)) is not None:
            await begun
        fresh = after(envelopes, self._recorded.get(case_id, 0))
        if not fresh:
            return None
        # Otherwise: the case as kept in memory, or the snapshot's version (one lookup, not a
        # load), or no snapshot at all (a case new to this service, usually).
        known = self._kept.get(case_id)
        if known is None and fresh[0].seq == 1 and not self.begins:
            # From the case's first event: the claim of its first batch is the check (taken: the
            # case is known here, and it is loaded), no lookup of a snapshot first
            known = Case(case_id=case_id)
        elif known is None:
            snapshot = await self.collection.find_one({"_id": case_id}, projection={"version": 1})
            if snapshot is None:
                known = Case(case_id=case_id)
            else:
                fresh = after(fresh, snapshot.get("version", 0))
                if not fresh:
                    return None
        for attempt in range(MAX_ATTEMPTS):
            # First on the case as known, when the batch follows it without a gap: the claim of
            # that batch is then the check the lookup of it would be (its key is taken exactly
            # when another instance moved the case on). Otherwise, and after a lost claim, the
            # case as the store holds it.
            current = known if attempt == 0 else None
            batch = after(fresh, current.version) if current is not None else []
            if current is None or (batch and batch[0].seq != current.version + 1):
                loaded, _ = await self._load(case_id)
                current = loaded or Case(case_id=case_id)
                batch = after(fresh, current.version)
            if not batch:
                return None
            # from the log: in Kafka already, so no outbox entry
            if not await self._claim(case_id, batch):
                continue
            updated = current.fold(batch)
            key = claim_id(case_id, batch[0].seq)
            if current.version == 0:
                if not await self._first_snapshot(updated, key):
                    # a snapshot whose first batch has no claim: a case begun here (`begin`),
                    # as far as it went; its events are the batch just claimed again: load it
                    continue
            else:
                await self._save_snapshot(updated, key)
            self._remember(case_id, updated.version)
            self._keep(updated)
            return updated
        raise ConcurrentChange(case_id)
