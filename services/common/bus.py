"""The Kafka side of every service: the broker, the event log, dead letters, the audit trail,
the revocations of staff access.

Every topic a service reads or writes is declared on its broker with its message type:
subscribers by their handler's argument (`CaseEvents`, `SubmitCase`, ...), and what a
service writes by a publisher declared with a schema (`EventLog`, `DeadLetters`,
`Outlet`), which is also what it sends through. FastStream builds the service's
AsyncAPI document from these declarations (services/common/asyncapi.py).

Each record is read once, by our own code, in the subscriber's decoder
(`read_case_events`, `read_as`): FastStream's own decoding and validation of every
record would be a quarter of a projection's time (profiled by `zaiban bench
projections`). A record that cannot be read is dead-lettered there.

Delivery is at least once: a subscriber's offset is committed only after its
handler returned (FastStream's `AckPolicy.NACK_ON_ERROR`; the default,
ack-first, would lose messages on a crash). A message that can never be
processed goes to the service's dead-letter topic with the reason and where it
came from, and the stream goes on. A failure that may pass (the store is
away, busy or out of disk space) is retried after a pause instead, nothing
committed past it: the pause doubles while the store stays unable to write
(`Retrying`), each try logs a warning (not an error), and the service's /readyz
says it cannot write until a try succeeds.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import typing
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
)
from faststream import AckPolicy, BaseMiddleware, StreamMessage
from faststream.exceptions import AckMessage, NackMessage
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from contracts.audit import PersonalDataRead
from contracts.envelope import Envelope
from contracts.registry import UnreadableEvent, read_event
from contracts.revocations import TokenRevoked
from contracts.schemas import CaseEventEnvelope
from contracts.topics import Topics
from services.common.commits import Progress, committed_later
from services.common.held import Held
from services.common.kafka import COMPRESSION, broker_security, principal_of
from services.common.logging import COMMIT_LOST_TO_A_REBALANCE, bound, get_logger
from services.common.revocations import Revocations
from services.common.settings import CommonSettings, GatheringSettings
from services.common.store import Unavailable, WriteHealth, store_trouble

log = get_logger("zaiban.bus")

T = TypeVar("T")

RETRY_PAUSE_S = 1.0
RETRY_PAUSE_MAX_S = 8.0
"""The longest a consumer waits between tries while the store cannot write (its pause
doubles from RETRY_PAUSE_S): once there is room again, it goes on within this."""
CATCH_UP_TIMEOUT_S = 60.0
"""How long a service that checks tokens may take, when it starts, to read every
revocation of staff access made until then; past this it does not start."""
APPEND_TIMEOUT_S = 5.0
"""How long an append waits for Kafka to hold its events. With the broker away, aiokafka
would wait for it (a request hung until the broker came back); past this the caller is
told to try again (HTTP 503 with Retry-After). What was sent may still land: the batch
stays unpublished in its outbox and is published again with the same ids, which every
consumer skips."""


class Poison(Exception):
    """A message that can never be processed: it goes to the dead-letter topic."""


class _TopicsAreEnsured(logging.Filter):
    """FastStream says at each subscriber's start that it creates no topic (a WARNING): here
    that is the design, not news — `zaiban topics ensure` made them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Auto create topics is disabled")


def make_broker(settings: CommonSettings, service: str, *,
                principal: str | None = None) -> KafkaBroker:
    """A broker whose producer waits for all in-sync replicas and never duplicates on retry.

    It logs in as the service's own principal (`zaiban-<service>`, unless `principal` says
    otherwise), which may read, write and join only what this broker declares
    (services/common/kafka.py). It creates no topic: `zaiban topics ensure` made them, with
    their partitions and retention, and a service has no right to create one."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        security=broker_security(settings, principal or principal_of(service)),
        allow_auto_create_topics=False,
        client_id=f"zaiban-{service}",
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=256 * 1024,
        compression_type=COMPRESSION,
        request_timeout_ms=15_000,
        graceful_timeout=10.0,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        logger=broker_logger(service),
        log_level=logging.DEBUG,
        description="zaiban's Kafka: the case event log and the integration topics",
    )


def broker_logger(service: str) -> logging.Logger:
    logger = logging.getLogger(f"zaiban.{service}.broker")
    if not any(isinstance(f, _TopicsAreEnsured) for f in logger.filters):
        logger.addFilter(_TopicsAreEnsured())
    logger.addFilter(COMMIT_LOST_TO_A_REBALANCE)  # kept once: the same object
    return logger


# Errors after which aiokafka's idempotent producer never sends again: its sender task
# has died (e.g. the broker restarted and lost the producer's sequence state), and every
# later send fails the same way. Only a new producer (a new producer id) recovers.
PRODUCER_FATAL = (OutOfOrderSequenceNumber, ProducerFenced)

_renewals: dict[int, asyncio.Lock] = {}


def current_producer(broker: KafkaBroker) -> Any:
    """The aiokafka producer behind the broker (None before start)."""
    fast: Any = broker.config.broker_config.producer  # FastStream's wrapper around it
    return getattr(getattr(fast, "_producer", None), "producer", None)


async def renew_producer(broker: KafkaBroker, broken: Any) -> None:
    """Replace the broker's producer if it still is `broken` (once, however many callers saw it).

    What the broken producer had not delivered failed with its error; the callers
    answer "try again" (503) or leave their outbox batch unpublished, and the same
    events are sent again later with the same ids and seq, which consumers skip.
    """
    lock = _renewals.setdefault(id(broker), asyncio.Lock())
    async with lock:
        if broken is None or current_producer(broker) is not broken:
            return
        fast: Any = broker.config.broker_config.producer
        await fast.connect(AIOKafkaProducer(**broker._connection_kwargs),
                           serializer=fast.serializer, codec=fast.codec)
        try:
            await broken.stop()
        except Exception as error:  # it is broken: stopping it may fail the same way
            log.debug("broken_producer_stop_failed", error=describe_error(error))
        log.warning("producer_renewed")


async def renewing_on_fatal(broker: KafkaBroker, send: Callable[[], Awaitable[None]]) -> None:
    """Run `send`; if it kills the producer, put a new one in place and raise the error."""
    producer = current_producer(broker)
    try:
        await send()
    except PRODUCER_FATAL as error:
        log.warning("producer_failed_for_good", error=describe_error(error))
        await renew_producer(broker, producer)
        raise


def described(topic: Any) -> str | None:
    """What `contracts.topics` says of a topic (a `Topics` property or method)."""
    return getattr(topic, "__doc__", None)


class Outlet:
    """A topic this service writes: declared on the broker with the type of its messages
    (so the AsyncAPI document shows it), and sent through that declaration."""

    def __init__(self, broker: KafkaBroker, topic: str, *, schema: Any, title: str,
                 description: str | None) -> None:
        self.broker = broker
        self.topic = topic
        self.publisher = broker.publisher(topic, schema=schema, title=title,
                                          description=description)

    async def send(self, body: bytes, key: bytes | None = None) -> None:
        async def send() -> None:
            await self.publisher.publish(body, key=key)

        await renewing_on_fatal(self.broker, send)


class EventLog:
    """Appends case events to the log; returns once Kafka holds them durably.

    Made by a service that records events (`ServiceRuntime.events`), which so declares
    the log among the topics it writes."""

    def __init__(self, broker: KafkaBroker, topics: Topics, service: str) -> None:
        self.broker = broker
        self.topics = topics
        self.log = broker.publisher(topics.case_events, schema=CaseEventEnvelope,
                                    title=f"{service}: records case events",
                                    description=described(Topics.case_events))

    async def append(self, envelopes: Sequence[Envelope]) -> None:
        try:
            async with asyncio.timeout(APPEND_TIMEOUT_S):
                await renewing_on_fatal(self.broker, lambda: self._append(envelopes))
        except TimeoutError as error:
            raise KafkaTimeoutError(
                f"Kafka did not take the events within {APPEND_TIMEOUT_S:g}s") from error

    async def _append(self, envelopes: Sequence[Envelope]) -> None:
        # Send all, then wait for all: one producer keeps a case's order, and
        # idempotence keeps retries from reordering or repeating it. The record's time is
        # when the event was recorded by the service's measured clock, not by its host's
        # (services/common/clock.py): what Kafka's time-based lookups, retention and its
        # refusal of records from the future (message.timestamp.after.max.ms) go by.
        pending = [
            await self.log.publish(
                envelope.to_bytes(),
                key=envelope.key(),
                headers={"event-type": envelope.type, "case-id": envelope.case_id},
                correlation_id=envelope.correlation_id,
                timestamp_ms=round(envelope.recorded_at.timestamp() * 1000),
                no_confirm=True,
            )
            for envelope in envelopes
        ]
        await asyncio.gather(*pending)

    async def publish(self, topic: str, body: bytes, key: bytes | None = None) -> None:
        """Send to a topic not declared as an `Outlet` (see routing's department topics)."""

        async def send() -> None:
            await self.broker.publish(body, topic, key=key)

        await renewing_on_fatal(self.broker, send)


class NotAudited(Unavailable):
    """A read of personal data the audit trail could not take: it is not answered (the HTTP
    edge says 503 with Retry-After), never answered unaudited."""


class AuditTrail:
    """Records of staff reads of residents' personal data, on the audit topic (kept forever).

    `record` returns once Kafka holds the record (acks=all, as every producer here) or
    raises `NotAudited`: a service shows the data only after it returned. A record whose
    wait ran out may still land; a read then looks recorded that was refused, which errs
    on the side the trail is for."""

    def __init__(self, broker: KafkaBroker, topics: Topics, service: str) -> None:
        self.outlet = Outlet(broker, topics.audit, schema=PersonalDataRead,
                             title=f"{service}: records staff reads of personal data",
                             description=described(Topics.audit))

    async def record(self, read: PersonalDataRead) -> None:
        try:
            async with asyncio.timeout(APPEND_TIMEOUT_S):
                await self.outlet.send(read.model_dump_json().encode(), key=read.case_id.encode())
        except (KafkaError, TimeoutError) as error:
            with bound(case_id=read.case_id, correlation_id=read.correlation_id):
                log.warning("read_not_audited", read_id=str(read.read_id),
                            error=describe_error(error))
            raise NotAudited("the audit trail cannot record this read of personal data right "
                             "now, so it is not shown; try again shortly") from error


class RevocationLog:
    """Where a service records that staff access was taken back (`TokenRevoked`), for every
    instance to read (`RevocationFeed`). `record` returns once Kafka holds it (acks=all);
    Kafka away, it raises (KafkaError, TimeoutError), which the HTTP edge answers 503."""

    def __init__(self, broker: KafkaBroker, topics: Topics, service: str) -> None:
        self.outlet = Outlet(broker, topics.revocations, schema=TokenRevoked,
                             title=f"{service}: staff access taken back",
                             description=described(Topics.revocations))

    async def record(self, revoked: TokenRevoked) -> None:
        async with asyncio.timeout(APPEND_TIMEOUT_S):
            await self.outlet.send(revoked.model_dump_json().encode(), key=revoked.key())
        log.info("access_revoked", revocation_id=str(revoked.revocation_id),
                 token_id=revoked.token_id, subject=revoked.subject, by=revoked.by)


READ_REVOKED: TypeAdapter[TokenRevoked] = TypeAdapter(TokenRevoked)


FEED_FETCH_WAIT_MS = 100
"""How long the broker holds a whole topic's fetch waiting for a new record (aiokafka's default:
500). The broker answers one connection's requests in order, and a start asks the topic's
offsets on the connection its consumer fetches on: each ask waited behind a fetch of an empty
topic (no revocations, no change of the city) for the whole of it. At 500 ms a service took
1.6-1.7 s to start, at 100 ms 0.26-0.40 (tracking and routing on the local stack); a new record
(a revoked token) reaches every instance sooner too. The cost: ten fetches a second per feed,
about one percent of a core per idle service (1.7-2.0% measured before, 2.5-2.9% after)."""


class WholeTopic(Generic[T]):
    """A small topic each instance must know all of, not a share: read outside any consumer
    group, from its beginning, each time the service starts, and nothing is committed. A
    subclass registers its handler on `subscriber` (typed with its message) and calls
    `_passed` for each record it took. A record that cannot be read is logged (`unreadable`)
    and passed over, not dead-lettered: every instance of every service reads it, and would
    put it aside as often."""

    unreadable = "record_unreadable"

    def __init__(self, broker: KafkaBroker, topic: str, *, kind: TypeAdapter[T], service: str,
                 title: str, description: str | None) -> None:
        self.service = service
        self.topic = topic
        self.read_to: dict[int, int] = {}
        """Per partition, the offset after the last record read."""
        self._moved = asyncio.Event()
        self._kind = kind
        self.subscriber = broker.subscriber(
            topic, group_id=None, auto_offset_reset="earliest",
            fetch_max_wait_ms=FEED_FETCH_WAIT_MS,
            ack_policy=AckPolicy.ACK_FIRST,  # no group: nothing to commit
            title=title, description=description, decoder=self._read)

    async def _read(self, message: StreamMessage[Any]) -> T:
        [record] = records_of(message)
        try:
            return self._kind.validate_json(record.value or b"")
        except ValidationError as error:
            log.error(self.unreadable, partition=record.partition, offset=record.offset,
                      error=describe_error(error))
            self._passed(record)
            raise AckMessage() from error

    def _passed(self, record: ConsumerRecord[Any, Any]) -> None:
        self.read_to[record.partition] = record.offset + 1
        self._moved.set()

    async def _behind_after(self, timeout_s: float) -> int:
        """Wait until what the topic holds now has been read: how many partitions are still
        behind after `timeout_s` (0: all read)."""
        consumer = self.subscriber.consumer
        if consumer is None:
            raise RuntimeError("a topic is read once the broker has started")
        partitions = sorted(consumer.assignment())
        # asked together: each waits behind the fetch in flight (FEED_FETCH_WAIT_MS)
        starts, ends = await asyncio.gather(consumer.beginning_offsets(partitions),
                                            consumer.end_offsets(partitions))

        def behind() -> list[TopicPartition]:
            return [tp for tp in partitions
                    if self.read_to.get(tp.partition, starts[tp]) < ends[tp]]

        try:
            async with asyncio.timeout(timeout_s):
                while behind():
                    self._moved.clear()
                    await self._moved.wait()
        except TimeoutError:
            pass
        return len(behind())


def held_until(ready: asyncio.Event, *, but: Callable[[], Collection[str]]
               ) -> type[BaseMiddleware]:
    """A broker middleware holding each message a subscriber receives, before it is read,
    until `ready` is set — but those of the topics `but()` names (the feeds that set it).

    A service starts its broker, and every consumer with it, then waits until it has read
    its feeds whole (`WholeTopic.caught_up`): the city as it is now, the revocations. What
    its other consumers receive meanwhile waits here, so that nothing is decided with the
    configuration of the files while the changes made since are still on their way (a
    case routed by an old rule, a bus submission refused for a category added since)."""

    class HeldUntilReady(BaseMiddleware):
        async def on_receive(self) -> None:
            if ready.is_set():
                return
            records = records_in(self.msg)
            if not records or records[0].topic not in but():
                await ready.wait()

    return HeldUntilReady


class RevocationFeed(WholeTopic[TokenRevoked]):
    """Every revocation of staff access, read by this instance into `revocations`.

    Each instance must know all of them (`WholeTopic`: it is small, a line per revocation).
    `caught_up` returns once what the topic held when the service started has been read: a
    service answers no request before that (its runtime waits for it in `start`), and later
    revocations arrive within moments. An unreadable one names nobody we can refuse: an
    operator must look.
    """

    unreadable = "revocation_unreadable"

    def __init__(self, broker: KafkaBroker, topics: Topics, service: str) -> None:
        super().__init__(broker, topics.revocations, kind=READ_REVOKED, service=service,
                         title=f"{service}: staff access taken back, read by every instance",
                         description=described(Topics.revocations))
        self.revocations = Revocations()
        self.subscriber(typed(self._on_revoked))

    async def _on_revoked(self, revoked: TokenRevoked, message: KafkaMessage) -> None:
        self.revocations.add(revoked)
        self._passed(records_of(message)[0])

    async def caught_up(self, timeout_s: float = CATCH_UP_TIMEOUT_S) -> None:
        """Wait until every revocation on the topic now has been read (the broker started)."""
        behind = await self._behind_after(timeout_s)
        if behind:
            raise RuntimeError(
                f"{self.service} could not read the revocations of staff access within "
                f"{timeout_s:g}s ({behind} partitions behind): it would admit revoked "
                "tokens, so it does not start")
        log.info("revocations_read", service=self.service, known=len(self.revocations))


class DeadLetter(BaseModel):
    """A message a service could never process: why, and where it came from, with its bytes.

    `zaiban dlq` lists them and, once the cause is fixed, sends the payload to its source
    topic again."""

    reason: str
    service: str = Field(description="The service that could not process it.")
    source_topic: str
    partition: int
    offset: int
    key: str | None = Field(description="The record's key (the case id), if it had one.")
    payload: str = Field(description="The record's value, as text or in base64 (`payload_encoding`).")
    payload_encoding: Literal["utf-8", "base64"]
    failed_at: AwareDatetime


class DeadLetters:
    """Where one service puts what it can never process."""

    def __init__(self, broker: KafkaBroker, topics: Topics, service: str) -> None:
        self.service = service
        self.outlet = Outlet(broker, topics.dead_letter(service), schema=DeadLetter,
                             title=f"{service}: dead letters",
                             description=described(Topics.dead_letter))
        self.topic = self.outlet.topic

    async def put(self, record: ConsumerRecord[Any, Any], reason: str, *,
                  withhold: bool = False) -> None:
        """Put `record` aside with `reason`; with `withhold`, without its bytes (which hold
        what must not be copied, such as personal data in clear)."""
        raw: bytes = b"" if withhold else (record.value or b"")
        try:
            payload = raw.decode("utf-8")
            encoding: Literal["utf-8", "base64"] = "utf-8"
        except UnicodeDecodeError:
            payload, encoding = base64.b64encode(raw).decode(), "base64"
        letter = DeadLetter(
            reason=reason,
            service=self.service,
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key.decode("utf-8", "replace") if record.key else None,
            payload=payload,
            payload_encoding=encoding,
            failed_at=datetime.now(UTC),
        )
        await self.outlet.send(letter.model_dump_json().encode(), key=record.key)
        log.warning(
            "dead_lettered",
            reason=reason,
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )


def parse_envelope(raw: bytes) -> Envelope:
    """The envelope in `raw`, with its event readable at the current version, or Poison."""
    try:
        envelope = Envelope.from_bytes(raw)
        read_event(envelope)
    except (ValidationError, UnreadableEvent, ValueError) as error:
        raise Poison(describe_error(error)) from error
    return envelope


def describe_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()
        ]
        return "invalid: " + "; ".join(problems[:10])
    return str(error) or type(error).__name__


def records_of(message: StreamMessage[Any]) -> tuple[ConsumerRecord[Any, Any], ...]:
    return records_in(message.raw_message)


def records_in(raw: Any) -> tuple[ConsumerRecord[Any, Any], ...]:
    """The records of what a subscriber received: a batch's tuple, or one record."""
    return raw if isinstance(raw, tuple) else (raw,)


class Logged(Protocol):
    """What the plumbing reads of every record of the case log, however a consumer reads the
    rest: the case (the key, `per_case`) and the event (a failed batch's log line)."""

    @property
    def case_id(self) -> str: ...

    @property
    def event_id(self) -> object: ...


E = TypeVar("E", bound=Logged)

Reading = Callable[[bytes], E]
"""How a consumer reads a record of the case log: `parse_envelope` (the whole envelope, its
event validated), or only what it uses (the figures: `services/metrics/reading.py`); a
record it cannot read raises `Poison`."""


@dataclass(frozen=True)
class Delivered(Generic[E]):
    """A record of the case log as its consumer read it, and where in the log it was (for
    offset-fenced writers)."""

    envelope: E
    topic: str
    partition: int
    offset: int


Delivery = Delivered[Envelope]
"""A record read whole (`parse_envelope`): what most consumers handle."""


CASES_AT_ONCE = 32
"""How many cases of a batch a consumer works on at once (`per_case`)."""


async def per_case(deliveries: Sequence[Delivery],
                   handle: Callable[[list[Delivery]], Awaitable[None]],
                   at_once: int = CASES_AT_ONCE) -> None:
    """`handle` each case's deliveries of a batch, in log order within the case, up to
    `at_once` cases side by side: the cases of a batch are independent, and a consumer that
    took them one after another paid every store round trip of each in series (routing's
    fold and reactions: ~20 per case, which bounded the whole lifecycle at a few cases a
    second). Every case's work ends before this returns; then the first failure, if any,
    is raised (the batch comes again, and what was done is skipped by its seq and ids)."""
    await per_key(deliveries, lambda delivery: delivery.envelope.case_id, handle, at_once)


X = TypeVar("X")


async def per_key(items: Sequence[X], key: Callable[[X], str],
                  handle: Callable[[list[X]], Awaitable[None]],
                  at_once: int = CASES_AT_ONCE) -> None:
    """`handle` the items of each `key`, in their order, up to `at_once` keys side by side
    (`per_case`, for any batch whose items are independent but for their key's)."""
    keyed: dict[str, list[X]] = {}
    for item in items:
        keyed.setdefault(key(item), []).append(item)
    slots = asyncio.Semaphore(at_once)

    async def one(group: list[X]) -> None:
        async with slots:
            await handle(group)

    await every_one(*(one(group) for group in keyed.values()))


async def every_one(*work: Awaitable[Any]) -> None:
    """Run `work` side by side until each has ended, then raise the first failure, if any
    (`asyncio.gather` raises at the first, and leaves the rest running unwatched)."""
    for outcome in await asyncio.gather(*work, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome


class CaseEvents(BaseModel):
    """A batch of the case event log, in log order, as a subscriber's handler receives it.

    On Kafka each record is one `CaseEventEnvelope`, which is what the AsyncAPI document
    shows (`model_json_schema`). The decoder (`read_case_events`) has read every record
    already, so FastStream only checks that the handler is given this type."""

    model_config = ConfigDict(frozen=True)

    deliveries: list[Delivered[Any]]

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return CaseEventEnvelope.model_json_schema(*args, **kwargs)


def read_case_events(dead_letters: DeadLetters, read: Reading[E]
                     ) -> Callable[[StreamMessage[Any]], Awaitable[CaseEvents]]:
    """A decoder for a batch of the case event log: each record read once, with `read`; an
    unreadable one is dead-lettered and the rest are handled."""

    async def decode(message: StreamMessage[Any]) -> CaseEvents:
        deliveries: list[Delivered[E]] = []
        for record in records_of(message):
            try:
                envelope = read(record.value or b"")
            except Poison as poison:
                await dead_letters.put(record, str(poison))
                continue
            deliveries.append(Delivered(envelope, record.topic, record.partition, record.offset))
        return CaseEvents.model_construct(deliveries=deliveries)

    return decode


Handler = TypeVar("Handler", bound=Callable[..., Any])


def typed(handler: Handler) -> Handler:
    """`handler` with its annotations evaluated here, in its own module, before FastStream
    reads them.

    Under `from __future__ import annotations` every annotation is a string, and FastStream
    (through fast_depends) evaluates such strings in the handler's module overlaid with the
    locals of the frames on the stack when it starts: run from `zaiban up`, the CLI's local
    `cmd` shadowed `contracts.case_commands as cmd`, and routing did not start."""
    function = getattr(handler, "__func__", handler)
    function.__annotations__ = typing.get_type_hints(function, include_extras=True)
    return handler


class ReadRecords(BaseModel):
    """A batch of a topic of commands as its handler receives it: each record read, with the
    record itself (where a refusal is dead-lettered from, in the order of its partition);
    what could not be read its decoder has put aside already. Made for one kind of record
    (`batch_of`), whose schema is what the AsyncAPI document shows for each record."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    read: list[tuple[Any, ConsumerRecord[Any, Any]]]


def batch_of(message: Any) -> type[ReadRecords]:
    """The batch type of records whose value is `message` (a model, or an annotated type
    with its title: `Annotated[Model, Field(title=...)]`)."""
    schema = TypeAdapter(message)

    class Batch(ReadRecords):
        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return schema.json_schema(*args, **kwargs)

    return Batch


Unreadable = Callable[[ConsumerRecord[Any, Any], ValidationError], Awaitable[Any]]
"""What a consumer does with a record that does not read as its kind (a dead letter, and for
a submission a refusal on the receipts topic as well)."""


def read_batch_as(kind: TypeAdapter[T], batch: type[ReadRecords], put_aside: Unreadable
                  ) -> Callable[[StreamMessage[Any]], Awaitable[ReadRecords]]:
    """A decoder for a batch of a topic of commands: each record read once as `kind`; one
    that is not is `put_aside` and left out (the stream goes on)."""

    async def read(message: StreamMessage[Any]) -> ReadRecords:
        found: list[tuple[Any, ConsumerRecord[Any, Any]]] = []
        for record in records_of(message):
            try:
                found.append((kind.validate_json(record.value or b""), record))
            except ValidationError as error:
                await put_aside(record, error)
        return batch.model_construct(read=found)

    return read


def read_as(kind: TypeAdapter[T], dead_letters: DeadLetters
            ) -> Callable[[StreamMessage[Any]], Awaitable[T]]:
    """A decoder for a topic of commands (one record at a time): the record read once as
    `kind`; one that is not is dead-lettered with the reason, and acknowledged."""

    async def read(message: StreamMessage[Any]) -> T:
        [record] = records_of(message)
        try:
            return kind.validate_json(record.value or b"")
        except ValidationError as error:
            await dead_letters.put(record, describe_error(error))
            raise AckMessage() from error  # put aside: the stream goes on

    return read


def subscribe_records(
    broker: KafkaBroker,
    topics: Sequence[str],
    *,
    group_id: str,
    kind: TypeAdapter[T],
    message: Any,
    dead_letters: DeadLetters,
    handle: Callable[[T, ConsumerRecord[Any, Any]], Awaitable[None]],
    title: str,
    description: str | None,
    case_of: Callable[[T], str],
    persistent: bool = True,
    health: WriteHealth | None = None,
    max_records: int = 100,
) -> Any:
    """Feed the records of `topics` (read by name, from the first) to `handle`, each read as
    `kind` (one that is not is dead-lettered with the reason, `read_batch_as`), at least once: a batch at a
    time, the records of one case (`case_of`) one after another in their order, up to
    `CASES_AT_ONCE` cases side by side (one after another, each record waited on the store
    round trips of the one before, and on a commit of its own: a department answering on
    the bus fell 229 replies behind in `bench lifecycle`). If `handle` fails, the batch
    comes again after a pause, once every case of it has ended: `handle` must find what it
    did already. `message` is the value's annotation as the AsyncAPI document names it
    (`Annotated[Model, Field(title=...)]`, or the model). Returns the subscriber; one not
    `persistent` is made while the broker runs and started by the caller (`following.py`).
    `health` hears whether the store took the writes."""

    retrying = Retrying("batch", group_id, health)
    batch_type = batch_of(message)

    async def dead_lettered(record: ConsumerRecord[Any, Any], error: ValidationError) -> None:
        await dead_letters.put(record, describe_error(error))

    async def in_turn(records: list[tuple[Any, ConsumerRecord[Any, Any]]]) -> None:
        for value, record in records:
            await handle(value, record)

    async def on_batch(batch: Any) -> None:
        try:
            await per_key(batch.read, lambda read: case_of(read[0]), in_turn)
        except Exception as error:
            first = batch.read[0][1]
            await retrying.failed(error, topic=first.topic, offset=first.offset,
                                  size=len(batch.read))
            raise
        retrying.succeeded()

    # the annotation FastStream reads, evaluated here (see `typed`)
    on_batch.__annotations__ = {"batch": batch_type, "return": None}
    subscriber = broker.subscriber(*topics, group_id=group_id, auto_offset_reset="earliest",
                                   batch=True, max_records=max_records, title=title,
                                   description=description, persistent=persistent,
                                   decoder=read_batch_as(kind, batch_type, dead_lettered))
    subscriber(on_batch)
    return subscriber


class Retrying:
    """A consumer's patience: how it reports a failed try and how long it waits before the
    next (its offset stays where it was, so the same records come again).

    A store that cannot take the writes (away, busy, out of disk space: `store_trouble`)
    is waited for: a warning per try with the reason (a full disk is no bug; an error per
    second per consumer would bury the one that is), a pause doubling up to
    RETRY_PAUSE_MAX_S, and `health` told, which /readyz shows. Any other failure is logged
    with its traceback and tried again after RETRY_PAUSE_S."""

    def __init__(self, what: str, group: str, health: WriteHealth | None = None) -> None:
        self.what = what
        self.group = group
        self.health = health
        self.refusals = 0
        """Tries in a row the store refused."""

    def pause_s(self) -> float:
        return min(RETRY_PAUSE_S * 2 ** max(self.refusals - 1, 0), RETRY_PAUSE_MAX_S)

    async def failed(self, error: Exception, **where: Any) -> None:
        """Report `error` and wait; the caller then raises it (the records come again)."""
        trouble = store_trouble(error)
        if trouble is None:
            log.exception(f"{self.what}_failed_will_retry", group=self.group, **where)
            await asyncio.sleep(RETRY_PAUSE_S)
            return
        self.refusals += 1
        if self.health is not None:
            self.health.refused(trouble, by=f"{self.group}:{self.what}")
        pause = self.pause_s()
        log.warning(f"{self.what}_waits_for_store", group=self.group, reason=trouble.reason,
                    tries=self.refusals, retry_in_s=pause, error=describe_error(error)[:300],
                    **where)
        await asyncio.sleep(pause)
        # the same as raising `error` under NACK_ON_ERROR, without FastStream's error log
        raise NackMessage() from error

    def succeeded(self) -> None:
        if self.refusals:
            log.warning(f"{self.what}_store_writes_again", group=self.group,
                        after_tries=self.refusals)
        self.refusals = 0
        if self.health is not None:
            self.health.wrote(by=f"{self.group}:{self.what}")


BatchHandler = Callable[[list[Delivered[E]]], Awaitable[None]]


def subscribe_envelopes(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    dead_letters: DeadLetters,
    handle: BatchHandler[E],
    read: Reading[E],
    max_records: int = 500,
    title: str | None = None,
    health: WriteHealth | None = None,
    gathering: GatheringSettings | None = None,
    held: Held | None = None,
) -> Progress:
    """Feed the case event log to `handle` in batches, in order, at least once; returns what
    records the batches handled, committed a moment at a time (`commits.py`), for the service
    to close when it stops.

    Unreadable events are dead-lettered one by one; the rest of the batch is
    handled. If `handle` fails, the whole batch comes again after a pause, so
    handlers must be idempotent (they are: they skip seq they have seen).
    `health` hears whether the store took the writes (`Retrying`). A consumer whose
    cost is per batch more than per record gathers larger ones (`gathering`): the broker
    holds each fetch until `gather_bytes` are there or `gather_ms` have passed. `held`
    hears which partitions this member holds, and what its batches handled of them.
    """
    retrying = Retrying("batch", group_id, health)

    subscriber = broker.subscriber(
        topic,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20,  # catching up: fewer, larger fetches
        fetch_min_bytes=gathering.gather_bytes if gathering else 1,  # Kafka's defaults
        fetch_max_wait_ms=gathering.gather_ms if gathering else 500,
        title=title or f"{group_id}:{topic}",
        description=described(Topics.case_events),
        decoder=read_case_events(dead_letters, read),
        listener=held,
    )
    # its progress committed a moment at a time, not after every batch (`commits.py`)
    committing = committed_later(group_id)
    subscriber.parser.msg_class = committing

    @subscriber
    @typed
    async def on_events(batch: CaseEvents) -> None:
        deliveries = batch.deliveries
        if not deliveries:
            return
        try:
            await handle(deliveries)
            if held is not None:
                held.handled(deliveries)
        except Exception as error:
            first = deliveries[0].envelope
            with bound(case_id=first.case_id, event_id=str(first.event_id)):
                await retrying.failed(error, size=len(deliveries))
            raise
        finally:
            # FastStream keeps the message, and so its decoded batch, in a context variable,
            # and a copy of this context can outlive the batch by far (a connection opened
            # while handling it keeps one): the envelopes go now, not with the last copy
            deliveries.clear()
        retrying.succeeded()

    return committing.progress
