"""The notifications service, wired: the case event log in, messages to residents out.

It reads the case event log as consumer group `<prefix>zaiban-notify` and, for each event
a resident is told of (`messages.tells`) whose resident left a contact and agreed to be
told, plans one delivery per chosen channel in its ledger (`ledger.py`: keyed by event id
and channel, so a redelivered event plans nothing new). The offsets are committed once the
plan is stored; the messages go from the ledger, apart from the log:

- a dispatcher takes the deliveries that are due (at once after a plan, and every
  ZAIBAN_NOTIFY_SWEEP_S), claims an attempt, opens the resident's contact with the key
  store (an erased case's key is gone: nothing more goes), renders the message in the
  resident's language and sends it, then marks it sent;
- an SMS due between 22:00 and 08:00 city time waits until 08:00 (`schedule.held_until`);
- a failed attempt is tried again after a growing wait; after ZAIBAN_NOTIFY_MAX_ATTEMPTS,
  or at once when retrying cannot help, it goes to the dead-letter topic (no address in it);
- every message ends with a signed stop link (`stops.py`), answered by this service.

Anyone may also follow a district or a category by email (`subscriptions.py`: double
opt-in, one-click leaving): each case of the area accepted or resolved is mailed to them.

Logs name the case, the event and the channel, never the address.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiokafka import ConsumerRecord
from prometheus_client import Counter, Histogram
from pydantic import TypeAdapter
from pymongo.errors import PyMongoError

from contracts.departments import DepartmentCase
from contracts.personal import NotifyChannel, ResidentContact, Sealed
from contracts.topics import Topics
from services.common.bus import Delivery as Read
from services.common.bus import described, subscribe_records
from services.common.clock import Clock
from services.common.following import FOLLOW_EVERY_S, DepartmentTopics
from services.common.keys import BrokenSeal, key_store, open_sealed
from services.common.limits import RateLimiter, per_client
from services.common.logging import bound, get_logger
from services.common.runtime import ServiceRuntime
from services.common.store import ensure_collections
from services.lifecycle.codes import tracking_code_for
from services.notify.channels import (
    Outgoing,
    Sender,
    SendFailed,
    SmtpSender,
    TwilioSms,
    WebhookSms,
)
from services.notify.ledger import Delivery, Ledger, planned, planned_confirmation
from services.notify.messages import (
    Links,
    Message,
    render,
    render_alert,
    render_confirmation,
    tells,
)
from services.notify.schedule import backoff, held_until
from services.notify.settings import NotifySettings
from services.notify.stops import stop_routes, stop_url
from services.notify.subscriptions import (
    Subscription,
    Subscriptions,
    area_name,
    subscription_link,
    subscription_routes,
)
from services.notify.webhooks import (
    Webhooks,
    planned_webhook,
    post_case,
    webhook_routes,
)

log = get_logger("zaiban.notify")

READ_CASE = TypeAdapter(DepartmentCase)
DUE_AT_ONCE = 100
"""Deliveries taken from the ledger at a time."""
ALERTED = ("CaseAccepted", "CaseResolved")
"""The events of a case its area's subscribers hear of: new (accepted), resolved."""

MESSAGES = Counter("zaiban_notify_messages_total",
                   "Messages to residents by channel and outcome: planned, sent, failed "
                   "(will be retried), dead (dead-lettered), dropped (erased, stopped), held "
                   "(quiet hours)", ["channel", "outcome"])
MARK_SECONDS = Histogram("zaiban_notify_mark_seconds",
                         "From the provider's acceptance of a message to its mark as sent "
                         "(a crash inside this window sends it again)",
                         buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5))


def senders_of(settings: NotifySettings) -> dict[NotifyChannel, Sender]:
    """The channels this deployment sends by, from its settings."""
    senders: dict[NotifyChannel, Sender] = {}
    timeout = settings.notify_send_timeout_s
    if settings.smtp_url is not None:
        senders["email"] = SmtpSender(settings.smtp_url.get_secret_value(),
                                      settings.notify_mail_from, timeout_s=timeout,
                                      ca_file=settings.smtp_ca_file)
    secret = settings.sms_secret.get_secret_value() if settings.sms_secret else ""
    if settings.sms_provider == "twilio":
        senders["sms"] = TwilioSms(settings.sms_url, settings.sms_account, secret,
                                   settings.sms_from, timeout_s=timeout)
    elif settings.sms_provider == "webhook":
        senders["sms"] = WebhookSms(settings.sms_url, secret, timeout_s=timeout)
    return senders


class NotifyService(ServiceRuntime[NotifySettings]):
    name = "notify"

    def __init__(self, settings: NotifySettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        self.tz = ZoneInfo(self.city.current.city.timezone)
        self.ledger = Ledger(self.db)
        self.keys = key_store(self.mongo, settings)
        self.senders = senders_of(settings)
        self.lease = timedelta(seconds=settings.notify_lease_s)
        self._due = asyncio.Event()
        self.read_case_events(self.plan, title="notify: residents told of their case")
        self.router.include_router(stop_routes(settings.secret(), self.record_stop))
        self.subscriptions = Subscriptions(self.db["subscriptions"], self.keys, settings.secret())
        asking = RateLimiter(settings.submit_rate_per_minute, settings.submit_burst)
        self.router.include_router(subscription_routes(
            self.subscriptions, self.city, settings.secret(), self.clock.now,
            ask_confirmation=self.ask_confirmation,
            admit=per_client(asking, "subscription requests",
                             trusted_proxy_hops=settings.trusted_proxy_hops),
            mails="email" in self.senders))
        self.webhooks = Webhooks(self.db["webhooks"], settings.secret())
        # The department is where a case arrived: each cases topic is one department's (one
        # added while notify runs is read once onboarded: `DepartmentTopics`).
        self.department_cases = DepartmentTopics(settings, self.name, self.city,
                                                 self.topics.department_cases,
                                                 self._subscribe_department_cases)
        self.department_topics = self.department_cases.department_of
        self.router.include_router(webhook_routes(self.ledger, self.webhooks, self.tokens))

    async def on_start(self) -> None:
        await ensure_collections(self.db, ["cases", "deliveries", "pending", "attempts",
                                           "stops", "subscriptions", "webhooks"])
        await self.ledger.ensure_indexes()
        if made := await self.ledger.keep_pending():
            log.info("pending_deliveries_entered", deliveries=made)
        log.info("notify_channels", channels=sorted(self.senders))
        self.background(self.dispatching)
        self.every(3600, lambda: self.subscriptions.forget_unconfirmed(self.clock.now()))

    async def start(self) -> None:
        await super().start()
        # Only once the broker runs: a topic followed is read by a consumer started then.
        self.every(FOLLOW_EVERY_S, self.department_cases.follow)

    # -- the departments' cases in: webhooks ---------------------------------------------

    def _subscribe_department_cases(self, topics: Sequence[str], persistent: bool) -> Any:
        # By name, as routing reads the replies topics.
        return subscribe_records(
            self.broker, topics, group_id=f"{self.group_id}-webhooks",
            kind=READ_CASE, message=DepartmentCase, dead_letters=self.dead_letters,
            handle=self.plan_webhook, case_of=lambda case: case.case_id,
            title="notify: departments' cases, POSTed to their webhooks",
            description=described(Topics.department_cases), persistent=persistent,
            health=self.store_writes)

    async def plan_webhook(self, case: DepartmentCase,
                           record: ConsumerRecord[Any, Any]) -> None:
        """Plan the POST of one case to its department's webhook, if it has one and the case
        came after it was registered (a record read again plans nothing new)."""
        department = self.department_topics[record.topic]
        webhook = await self.webhooks.get(department)
        if webhook is None or case.occurred_at < webhook.since:
            return
        now = self.clock.now()
        planned_now = await self.ledger.plan([planned_webhook(
            department, str(case.message_id), case.case_id, record.value or b"",
            occurred_at=case.occurred_at, now=now, topic=record.topic,
            partition=record.partition, offset=record.offset)],
            now=now, max_attempts=self.settings.notify_max_attempts)
        if planned_now:
            MESSAGES.labels("webhook", "planned").inc()
            self._due.set()

    # -- the log in: plans ---------------------------------------------------------------

    async def plan(self, reads: list[Read]) -> None:
        rows: list[dict[str, Any]] = []
        for read in reads:
            envelope = read.envelope
            if envelope.type == "CaseSubmitted":
                await self.ledger.remember_case(envelope)
            elif envelope.type == "PersonalDataErased":
                dropped = await self.ledger.forget_case(envelope.case_id)
                MESSAGES.labels("any", "dropped").inc(dropped)
            elif envelope.type in ALERTED and not envelope.is_history:
                rows += await self.alerts_of(read)
            if tells(envelope):
                rows += await self.deliveries_of(read)
        if await self.ledger.plan(rows, now=self.clock.now(),
                                  max_attempts=self.settings.notify_max_attempts):
            self._due.set()

    async def deliveries_of(self, read: Read) -> list[dict[str, Any]]:
        """The messages that tell this event, one per channel the resident chose."""
        envelope, now = read.envelope, self.clock.now()
        if now - envelope.occurred_at > timedelta(hours=self.settings.notify_max_age_h):
            return []  # the past, read by a new consumer group: told long ago or never
        contact = await self.contact_of(envelope.case_id)
        if contact is None or await self.ledger.stopped(envelope.case_id):
            return []
        case = await self.ledger.case(envelope.case_id) or {}
        rows = []
        for channel in contact.reach:
            if channel not in self.senders:
                continue
            held = held_until(now, self.tz, self.settings.notify_quiet_start_h,
                              self.settings.notify_quiet_end_h) if channel == "sms" else None
            rows.append(planned(envelope, channel, language=case.get("language", "zh-Hans"),
                                due_at=held or now, now=now, topic=read.topic,
                                partition=read.partition, offset=read.offset))
            MESSAGES.labels(channel, "planned").inc()
        return rows

    async def alerts_of(self, read: Read) -> list[dict[str, Any]]:
        """An alert of a new or resolved case to each confirmed subscriber of its area."""
        envelope, now = read.envelope, self.clock.now()
        too_old = now - envelope.occurred_at > timedelta(hours=self.settings.notify_max_age_h)
        if too_old or "email" not in self.senders:
            return []
        return [planned(envelope, "email", language=subscription.language, due_at=now, now=now,
                        topic=read.topic, partition=read.partition, offset=read.offset,
                        subscription=subscription.subscription_id)
                for subscription in await self.subscriptions.following(
                    envelope.facts.district, envelope.facts.category)]

    async def ask_confirmation(self, subscription: Subscription) -> None:
        """Plan the double opt-in's email."""
        if await self.ledger.plan(
                [planned_confirmation(subscription.subscription_id, subscription.language,
                                      self.clock.now())]):
            self._due.set()

    async def contact_of(self, case_id: str) -> ResidentContact | None:
        """The resident's contact, opened now; None if none was left or it was erased."""
        case = await self.ledger.case(case_id)
        if case is None or not case.get("personal"):
            return None
        try:
            personal = await open_sealed(self.keys, Sealed.model_validate(case["personal"]))
        except BrokenSeal as error:
            with bound(case_id=case_id):
                log.error("contact_does_not_open", error=str(error))
            return None
        return personal.contact if personal is not None else None

    # -- the ledger out: messages --------------------------------------------------------

    async def dispatching(self) -> None:
        while True:
            try:
                for _ in range(50):  # more may be due: on at once, for a while
                    if await self.dispatch() < DUE_AT_ONCE:
                        break
            except PyMongoError as error:  # the store is away for a while: try again later
                log.warning("dispatch_waits_for_the_store", error=str(error)[:200])
            except Exception:
                log.exception("dispatch_failed_will_retry")
            self._due.clear()
            try:
                await asyncio.wait_for(self._due.wait(), self.settings.notify_sweep_s)
            except TimeoutError:
                pass

    async def dispatch(self) -> int:
        """Send what is due now; how many were looked at."""
        looked_at, due = await self.ledger.looked_at(self.clock.now(), limit=DUE_AT_ONCE)
        for delivery in due:
            with bound(case_id=delivery.case_id, event_id=delivery.event_id,
                       channel=delivery.channel):
                await self.deliver(delivery)
        return looked_at

    async def deliver(self, delivery: Delivery) -> None:
        if delivery.channel == "webhook":
            await self.post_to_department(delivery)
            return
        now = self.clock.now()
        settings = self.settings
        if delivery.channel == "sms":
            held = held_until(now, self.tz, settings.notify_quiet_start_h,
                              settings.notify_quiet_end_h)
            if held is not None:
                await self.ledger.reschedule(delivery, held)
                MESSAGES.labels("sms", "held").inc()
                log.info("sms_held_for_the_night", until=held.isoformat())
                return
        if delivery.subscription is None and await self.ledger.stopped(delivery.case_id):
            await self.ledger.drop(delivery, "stopped")
            MESSAGES.labels(delivery.channel, "dropped").inc()
            return
        number = await self.ledger.claim(delivery, now, self.lease, settings.notify_max_attempts)
        if number == "held":
            return
        if number == "exhausted":
            await self.dead(delivery, None, "attempts used up (the last ones were cut short)")
            return
        addressed = await self.addressed(delivery)
        if isinstance(addressed, str):
            await self.ledger.drop(delivery, addressed, number)
            MESSAGES.labels(delivery.channel, "dropped").inc()
            log.info("message_dropped", reason=addressed)
            return
        to, message, stop = addressed
        notice = delivery.notice
        outgoing = Outgoing(delivery_id=delivery.delivery_id, to=to, message=message,
                            language=notice.language, stop_url=stop, at=now)
        try:
            async with asyncio.timeout(settings.notify_send_timeout_s):
                provider_id = await self.senders[delivery.channel].send(outgoing)
        except (SendFailed, TimeoutError) as error:
            failure = error if isinstance(error, SendFailed) else SendFailed("timed out")
            await self.failed(delivery, number, failure)
            return
        accepted = time.perf_counter()
        window_ms = await self.ledger.sent(delivery, number, at=self.clock.now(),
                                           provider_id=provider_id, accepted=accepted)
        MARK_SECONDS.observe(window_ms / 1000)
        MESSAGES.labels(delivery.channel, "sent").inc()
        log.info("message_sent", type=notice.type, attempt=number,
                 uncertain_before=delivery.uncertain)

    async def post_to_department(self, delivery: Delivery) -> None:
        """One attempt at POSTing a case to its department's webhook (`webhooks.py`)."""
        assert delivery.department is not None
        settings = self.settings
        number = await self.ledger.claim(delivery, self.clock.now(), self.lease,
                                         settings.notify_max_attempts)
        if number == "held":
            return
        if number == "exhausted":
            await self.dead(delivery, None, "attempts used up (the last ones were cut short)")
            return
        webhook = await self.webhooks.get(delivery.department)
        if webhook is None:  # the department went back to Kafka alone
            await self.ledger.drop(delivery, "no webhook", number)
            MESSAGES.labels("webhook", "dropped").inc()
            return
        try:
            async with asyncio.timeout(settings.notify_send_timeout_s):
                answer = await post_case(webhook.url, self.webhooks.secret_of(webhook),
                                         delivery.department, delivery.event_id,
                                         (delivery.envelope or "").encode(),
                                         timeout_s=settings.notify_send_timeout_s)
        except (SendFailed, TimeoutError) as error:
            failure = error if isinstance(error, SendFailed) else SendFailed("timed out")
            await self.failed(delivery, number, failure)
            return
        await self.ledger.sent(delivery, number, at=self.clock.now(), provider_id=answer,
                               accepted=time.perf_counter())
        MESSAGES.labels("webhook", "sent").inc()
        log.info("case_posted_to_department", department=delivery.department, attempt=number)

    async def addressed(self, delivery: Delivery) -> tuple[str, Message, str] | str:
        """Where the message goes, what it says and its stop link; or why it goes nowhere."""
        notice = delivery.notice
        secret = self.settings.secret()
        base = self.settings.notify_public_url.rstrip("/")
        case_page = f"{base}/cases/{notice.case_id}?lang={notice.language}"
        if delivery.subscription is not None:
            subscription = await self.subscriptions.get(delivery.subscription)
            to = await self.subscriptions.address_of(delivery.subscription)
            if subscription is None or to is None:
                return "unsubscribed"
            area = area_name(self.city.current, subscription.kind, subscription.code,
                             notice.language)
            stop = subscription_link(base, secret, subscription.subscription_id, "stop",
                                     notice.language)
            if notice.type == "SubscriptionConfirm":
                confirm = subscription_link(base, secret, subscription.subscription_id,
                                            "confirm", notice.language)
                return to, render_confirmation(area, notice.language, confirm, stop), stop
            links = Links(case=case_page, answer=case_page, stop=stop)
            return to, render_alert(notice, area, self.city.current, links), stop
        contact = await self.contact_of(delivery.case_id)
        if contact is None:
            return "erased"
        if delivery.channel not in contact.reach:
            return "no consent"
        code = tracking_code_for(secret, delivery.case_id)
        stop = stop_url(base, secret, delivery.case_id, notice.language)
        links = Links(case=case_page, answer=f"{base}/cases/{delivery.case_id}?code={code}"
                                             f"&lang={notice.language}", stop=stop)
        return (contact.address_of(delivery.channel),
                render(notice, self.city.current, self.tz, links),
                stop)

    async def failed(self, delivery: Delivery, number: int, failure: SendFailed) -> None:
        settings = self.settings
        if failure.permanent or number >= (delivery.limit or settings.notify_max_attempts):
            await self.dead(delivery, number, failure.reason)
            return
        retry_at = self.clock.now() + backoff(number, settings.notify_backoff_s,
                                              settings.notify_backoff_max_s)
        await self.ledger.failed(delivery, number, reason=failure.reason, retry_at=retry_at)
        MESSAGES.labels(delivery.channel, "failed").inc()
        log.warning("message_failed_will_retry", attempt=number, reason=failure.reason,
                    retry_at=retry_at.isoformat())

    async def dead(self, delivery: Delivery, number: int | None, reason: str) -> None:
        if number is not None:
            await self.ledger.failed(delivery, number, reason=reason, retry_at=None)
        else:
            await self.ledger.mark_dead(delivery, reason)
        if delivery.envelope is None:  # a confirmation: the subscriber may ask again
            log.warning("message_dead", reason=reason)
            return
        value, key = delivery.as_record_value(), delivery.case_id.encode()
        source = delivery.source
        record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
            topic=source.get("topic", self.topics.case_events),
            partition=source.get("partition", -1), offset=source.get("offset", -1),
            timestamp=0, timestamp_type=0, key=key, value=value, checksum=None,
            serialized_key_size=len(key), serialized_value_size=len(value), headers=())
        await self.dead_letters.put(record, f"notify {delivery.channel}: {reason}")
        MESSAGES.labels(delivery.channel, "dead").inc()
        log.warning("message_dead_lettered", reason=reason)

    # -- the stop link -------------------------------------------------------------------

    async def record_stop(self, case_id: str) -> None:
        new = await self.ledger.stop(case_id, self.clock.now())
        with bound(case_id=case_id):
            log.info("messages_stopped", new=new)
