"""The routing service: who handles a case and by when, from acceptance to closing.

Wiring only; the decisions live in the lifecycle (`services/lifecycle/`):
dispatching, handling, returning, reporting, supervision and feedback, each
with its deciders. Routing's own parts:
- `settings.py`    the feedback window, the sweep (and the `Policy` they make with the
                   city, whose time limits and calendar give the deadlines);
- `sweeps.py`      how the sweep finds overdue cases (triage, first response, resolution)
                   and unanswered resolutions;
- `departments.py` what a department's own systems receive.

Routing keeps its own write model of every case (`CaseStreams` over its
collection `cases`), built by folding the whole case event log, and records
its own events through it (compare-and-set, then the log; an outbox covers a
crash in between). Its inputs:
- the case event log: fold every event; react to acceptances; announce cases
  routed, reassigned or reopened on the department's integration topic;
- each department's replies topic (`zaiban.routing.department.<code>.replies`,
  for every department of the city): each valid reply runs as the command its
  row of the command table stands for (`commands.py`), given by the department
  whose topic it came on — only that department may write it, so a reply naming
  another is refused; an invalid or refused one goes to routing's dead-letter
  topic with the reason;
- HTTP commands: the same rows, as routes (`api.py`);
- the clock: a sweep every few seconds records what passing deadlines mean.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from faststream.kafka.annotations import KafkaMessage
from pydantic import Field, TypeAdapter

from contracts import case_commands as cmd
from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.topics import Topics
from services.common.bus import (
    RETRY_PAUSE_S,
    Delivery,
    Outlet,
    describe_error,
    described,
    per_case,
    read_as,
    records_of,
    subscribe_records,
    typed,
)
from services.common.casestreams import CaseStreams
from services.common.catalogue import work_calendar
from services.common.cityroutes import city_routes
from services.common.clock import Clock
from services.common.commands import Desk, Reply
from services.common.following import FOLLOW_EVERY_S, DepartmentTopics
from services.common.keys import key_store
from services.common.logging import bound, get_logger
from services.common.rowfollower import KeptRows
from services.common.rowindex import RowIndex
from services.common.runtime import ServiceRuntime
from services.common.store import report_failure
from services.lifecycle import dispatching, feedback, privacy, supervision
from services.lifecycle.case import Case, reply_cause
from services.lifecycle.errors import Refused
from services.lifecycle.policy import Policy
from services.routing import departments, sweeps
from services.routing.api import command_routes
from services.routing.commands import REPLIES
from services.routing.settings import RoutingSettings

log = get_logger("zaiban.routing")

READ_REPLY: TypeAdapter[Reply] = TypeAdapter(cmd.DepartmentReply)
ERASURES: TypeAdapter[cmd.ErasePersonalData] = TypeAdapter(cmd.ErasePersonalData)
ERASURE_PATIENCE_S = 300.0
"""How long an erasure request waits for intake (the key, or its own record of a case
awaiting triage) or the log (the case) before it is dead-lettered."""
ERASURE_PATIENCE_STEPS = 600


@dataclass(frozen=True)
class Swept:
    """What one sweep recorded."""

    overdue: int = 0
    asked_again: int = 0
    closed: int = 0


class RoutingService(ServiceRuntime[RoutingSettings]):
    name = "routing"

    def __init__(self, settings: RoutingSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        self._policy = settings.policy(self.city.current, version=self.city.version)
        # the sweep's rows of every case (`sweeps.case_rows`), filled and kept current by a
        # follower once started (each snapshot this process saves, at once)
        self.kept_rows = KeptRows(sweeps.case_rows())
        self.streams = CaseStreams(
            self.db["cases"], self.events, self.clock, producer=self.name,
            index_fields=sweeps.index_fields,
            saved=self.kept_rows.saved,
        )
        self.desk = Desk(self.streams, self.clock, lambda: self.policy)
        self.replies = self.db["department_replies"]
        """The department replies refused, by cause (a reply taken is in the case's log)."""
        # Who sent a reply is where it arrived: each replies topic is one department's. A
        # department added while routing runs is routed to at once, and its replies are read
        # within seconds of its onboarding (`zaiban topics ensure`): `DepartmentTopics`.
        self.replies_topics = DepartmentTopics(settings, self.name, self.city,
                                               self.topics.department_replies,
                                               self._subscribe_replies)
        self.reply_senders = self.replies_topics.department_of
        self.department_topics = {
            department.code: Outlet(
                self.broker, self.topics.department_cases(department.code),
                schema=departments.DepartmentCase,
                title=f"routing: cases for {department.code}",
                description=described(Topics.department_cases))
            for department in self.city.current.departments
        }
        self.read_case_events(self.on_case_events,
                              title="routing: keep the write model, react, announce")
        self.keys = key_store(self.mongo, settings, opens=False)  # tombstones only
        self.broker.subscriber(
            self.topics.erasures, group_id=f"{self.group_id}-erasures",
            auto_offset_reset="earliest", title="routing: record erasures of cases it holds",
            description=described(Topics.erasures), decoder=read_as(ERASURES, self.dead_letters),
        )(typed(self._on_erasure))
        self.router.include_router(command_routes(self.desk, self.tokens))
        self.router.include_router(city_routes(live=self.city, log_=self.city_log,
                                               tokens=self.tokens, clock=self.clock))

    @property
    def policy(self) -> Policy:
        """What the deciders decide with now: the city as this instance runs it (it changes
        while routing runs), and routing's settings."""
        if self._policy.config_version != self.city.version:
            self._policy = self.settings.policy(self.city.current, version=self.city.version)
        return self._policy

    # -- lifecycle --------------------------------------------------------------

    async def on_start(self) -> None:
        await self.streams.ensure_indexes(("status", "due_at", "resolved_at", "department",
                                           "closes_unanswered_at", "response_due_at"))
        # say it rather than guess silently: what working days are beyond the known years
        calendar = work_calendar(self.policy.city.calendar)
        log.info("working_days_known_until", year=calendar.known_until,
                 beyond={"weekends": "monday to friday count as working days",
                         "refuse": "deadlines in working days are refused"}[
                             calendar.rules.outside_known_years],
                 change_in="calendar.yaml")

        # the sweep's rows of every case, before this instance says it is ready
        self.kept_rows.follower = await self.follow_rows(self.kept_rows.index,
                                                         self.streams.collection)

    @property
    def rows(self) -> RowIndex:
        """The sweep's rows of every case's snapshot (`sweeps.case_rows`)."""
        return self.kept_rows.index

    async def start(self) -> None:
        await super().start()
        # Only once the broker runs: both may append to the log.
        self.background(lambda: self.streams.relay(self.settings.relay_every_s))
        if self.settings.routing_reacts:
            self.every(self.settings.sweep_every_s, self.sweep)
        self.every(FOLLOW_EVERY_S, self.replies_topics.follow)

    async def stop(self) -> None:
        # the outbox entries of the batches Kafka holds, removed while the store is open (cut
        # short, they are published again by the relay: the same events, skipped)
        await self.streams.drain()
        await super().stop()

    # -- the case event log -----------------------------------------------------

    async def on_case_events(self, deliveries: list[Delivery]) -> None:
        """Each case of the batch on its own, several side by side (`per_case`)."""
        await per_case(deliveries, self._on_case)

    async def _on_case(self, deliveries: list[Delivery]) -> None:
        """One case's events of a batch: fold them first, then react: reactions see the
        latest state routing knows."""
        first = deliveries[0].envelope
        with bound(case_id=first.case_id, event_id=str(first.event_id)):
            await self.streams.fold_all([delivery.envelope for delivery in deliveries])
        if not self.settings.routing_reacts:
            return
        for delivery in deliveries:
            envelope = delivery.envelope
            if envelope.is_history:
                continue
            with bound(case_id=envelope.case_id, event_id=str(envelope.event_id),
                       correlation_id=envelope.correlation_id):
                if envelope.type == ev.CaseAccepted.TYPE:
                    await self._react_to_acceptance(envelope)
                if envelope.type in departments.ANNOUNCED:
                    await self._announce(envelope)

    async def _react_to_acceptance(self, accepted: Envelope) -> None:
        # Dated at the acceptance: the deadline promised to the resident, and the timeline,
        # do not depend on how far behind the log this consumer happens to be.
        at = accepted.occurred_at
        try:
            await self.streams.execute(
                accepted.case_id,
                lambda case: dispatching.on_accepted(case, accepted, at, self.policy),
                cause=str(accepted.event_id),
                correlation_id=accepted.correlation_id,
                at=at,
            )
        except Refused as refused:
            log.warning("acceptance_not_routed", reason=refused.reason)

    async def _announce(self, envelope: Envelope) -> None:
        """Tell the department(s) a case is theirs (or no longer): its integration topic."""
        case = await self.streams.as_of(envelope.case_id, envelope.seq)
        if case is None:
            return
        for message in departments.messages_for(envelope, case):
            body, key = message.model_dump_json().encode(), envelope.key()
            outlet = self.department_topics.get(message.department)
            if outlet is not None:
                await outlet.send(body, key=key)
            else:  # not on the bus when routing started: its topic, if it can be written
                try:
                    await self.events.publish(self.topics.department_cases(message.department),
                                              body, key=key)
                except (KafkaError, TimeoutError) as error:
                    # Not onboarded yet (no topic, no right): the case stays the
                    # department's; the stream goes on.
                    log.warning("department_not_on_bus", department=message.department,
                                error=describe_error(error))
                    continue
            log.info("department_notified", department=message.department,
                     action=message.action)

    # -- department replies -----------------------------------------------------

    def _subscribe_replies(self, topics: Sequence[str], persistent: bool) -> Any:
        # By name (not a pattern): a name is what a broker's ACL grants; and a pattern would
        # see a new topic only at the next metadata refresh (5 minutes by default).
        return subscribe_records(
            self.broker, topics, group_id=f"{self.group_id}-replies", kind=READ_REPLY,
            message=Annotated[cmd.DepartmentReply, Field(title="DepartmentReply")],
            dead_letters=self.dead_letters, handle=self.handle_reply,
            case_of=lambda reply: reply.case_id, persistent=persistent,
            health=self.store_writes,
            title="routing: department replies", description=described(Topics.department_replies))

    async def handle_reply(self, reply: Reply, record: ConsumerRecord[Any, Any]) -> None:
        """Run a department's reply as the command its row stands for, once, given by the
        department whose replies topic it came on; dead-letter what cannot run (an unreadable
        reply was dead-lettered by the decoder, `read_as`), a reply naming another department
        among it. Reply ids are each sender's own: a reply refused under one department's
        name takes nothing from another's.

        A copy of a reply taken is known by the case, which records nothing for it
        (`Case.replies`): no record of its own is read before each reply and written after
        it. A refused reply is recorded in `department_replies`, where a copy refused again
        is found and not dead-lettered twice."""
        sender = self.reply_senders[record.topic]
        cause = reply_cause(sender, reply.reply_id)
        with bound(case_id=reply.case_id, correlation_id=cause):
            try:
                recorded = await self.desk.reply(REPLIES[type(reply)], reply, sender=sender)
            except Refused as refused:
                if await self.replies.find_one({"_id": cause}, projection={"_id": 1}):
                    log.info("reply_repeated", reply_id=reply.reply_id, outcome="refused")
                    return
                await self.dead_letters.put(record, f"refused ({refused.kind}): {refused.reason}")
                await self.replies.update_one(
                    {"_id": cause},
                    {"$set": {"case_id": reply.case_id, "department": sender,
                              "reply_id": reply.reply_id, "action": reply.action,
                              "outcome": "refused", "at": self.clock.now()}},
                    upsert=True,
                )
                return
            if not recorded:
                log.info("reply_repeated", reply_id=reply.reply_id, outcome="recorded")

    # -- erasures ----------------------------------------------------------------

    async def _on_erasure(self, command: cmd.ErasePersonalData, message: KafkaMessage) -> None:
        try:
            await self.record_erasure(command, records_of(message)[0])
        except Exception as error:
            report_failure(log, "erasure_not_recorded_will_retry", error,
                           case_id=command.case_id)
            await asyncio.sleep(RETRY_PAUSE_S)
            raise

    async def record_erasure(self, command: cmd.ErasePersonalData,
                             record: ConsumerRecord[Any, Any] | None = None) -> None:
        """Record `PersonalDataErased` for a case routing holds, once intake has destroyed its
        key. A case still awaiting triage is intake's to record: routing only waits to see
        it recorded (or the case accepted, when it is routing's after all).

        The wait holds the erasures that follow on the partition (erasures are few); past
        `ERASURE_PATIENCE_S` — intake away that long, or a case routing never learns of —
        the request is dead-lettered with what it waited for (intake, which reads the same
        request, still records the erasure of a case it holds when it is back)."""
        case_id = command.case_id
        waiting_for = "the case"
        with bound(case_id=case_id, correlation_id=command.request_id):
            for look in range(ERASURE_PATIENCE_STEPS):
                case = await self.streams.get(case_id)
                if case is not None and case.erased:
                    return
                if case is not None and not privacy.recorded_by_intake(case):
                    if await self.keys.destroyed(case_id) is not None:
                        await self.streams.execute(
                            case_id,
                            lambda now: [] if privacy.recorded_by_intake(now)
                            else privacy.erase(now, command.by, command.reason),
                            cause=f"erase/{case_id}", correlation_id=command.request_id)
                        log.info("erasure_recorded")
                        return
                    waiting_for = "intake to destroy the key"
                elif case is not None:
                    waiting_for = "intake to record it (the case awaits triage)"
                if look == ERASURE_PATIENCE_STEPS // 10:
                    log.warning("erasure_waiting", waiting_for=waiting_for)
                await asyncio.sleep(ERASURE_PATIENCE_S / ERASURE_PATIENCE_STEPS)
            reason = (f"erasure of {case_id} not recorded: waited {ERASURE_PATIENCE_S:g}s "
                      f"for {waiting_for}")
            if record is None:
                raise TimeoutError(reason)
            await self.dead_letters.put(record, reason)

    # -- deadlines --------------------------------------------------------------

    async def _found(self, query: dict[str, Any], limit: int) -> list[Case]:
        """The cases whose rows `query` matches (in memory: `sweeps.py`), as they stand now."""
        found = self.rows.find(query, sort=(("_id", 1),), limit=limit, count=False)
        cases = [await self.streams.get(case_id) for case_id in found.ids]
        return [case for case in cases if case is not None]

    async def sweep(self) -> Swept:
        """Record what passing deadlines mean now; safe to run anywhere, any number of times.
        Only the cases routing writes (`ownership.py`): a case awaiting triage is intake's,
        and so is its triage deadline (`services/intake/deadlines.py`)."""
        now = self.clock.now()
        batch = self.settings.sweep_batch
        overdue = asked_again = closed = 0
        for case in await self._found(sweeps.past_due_query(now), batch):
            overdue += await self.streams.sweep(
                case.case_id, lambda c: supervision.overdue(c, self.clock.now()),
                supervision.overdue_cause(case),
            )
        policy = self.policy
        for case in await self._found(sweeps.unanswered_query(now), batch):
            closed += await self.streams.sweep(
                case.case_id, lambda c: feedback.unanswered(c, self.clock.now()),
                feedback.unanswered_cause(case),
            )
        for case in await self._found(sweeps.ask_again_query(now, policy.feedback_reminder),
                                      batch):
            asked_again += await self.streams.sweep(
                case.case_id, lambda c: feedback.ask_again(c, self.clock.now(), policy),
                feedback.ask_again_cause(case),
            )
        if overdue or asked_again or closed:
            log.info("swept", overdue=overdue, asked_again=asked_again, closed=closed)
        return Swept(overdue=overdue, asked_again=asked_again, closed=closed)
