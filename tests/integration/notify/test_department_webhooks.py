"""Departments by webhook on the real stack: a case accepted by an officer is routed by
routing onto the signal company's topic, and notify POSTs it to the company's URL — a
receiver on loopback — signed, once; retried while the receiver fails, dead-lettered when it
says the URL is gone, and shown to supervisors while it fails."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from helpers import TEST_SECRET, client_for, eventually, read_events, read_topic
from notifyfixtures import PHONE, Receiver, accepted_signal_case, free_port, on_loopback
from servicefixtures import token

from contracts.facts import Role
from contracts.topics import Topics
from examples.webhook_receiver import acknowledger, make_server
from services.common.auth import issue_token
from services.common.http import build_app
from services.common.runtime import running
from services.common.settings import CommonSettings
from services.notify.service import NotifyService
from services.notify.settings import NotifySettings
from services.routing.service import RoutingService
from services.routing.settings import RoutingSettings
from zaiban.departments import register_webhook
from zaiban.dlq import read_letters, redrive

pytestmark = pytest.mark.stack

@contextlib.asynccontextmanager
async def routing_and_notify(
        settings: CommonSettings, **overrides: Any,
) -> AsyncIterator[tuple[RoutingService, NotifyService]]:
    notify = NotifyService(NotifySettings.from_common(settings, **{
        "notify_sweep_s": 0.2, "notify_backoff_s": 0.3, "notify_backoff_max_s": 1.0,
        "notify_send_timeout_s": 5.0, **overrides}))
    routing = RoutingService(RoutingSettings.from_common(settings, sweep_every_s=0.5,
                                                         relay_every_s=1.0))
    async with running(routing, notify):
        yield routing, notify


async def troubles(notify: NotifyService, headers: dict[str, str]) -> Any:
    async with client_for(build_app([notify], title="notify")) as http:
        return await http.get("/api/admin/webhooks", headers=headers)


async def test_a_routed_case_reaches_the_departments_url_signed_and_its_answer_comes_back(
        settings: CommonSettings) -> None:
    old = await register_webhook(settings, "signal-co", "http://127.0.0.1:1/moved")
    port, api_port = free_port(), free_port()
    secret = await register_webhook(settings, "signal-co", f"http://127.0.0.1:{port}/")
    assert isinstance(secret, str) and secret != old  # moved: signed with a new secret only
    taken: list[dict[str, Any]] = []
    desk_token = issue_token(TEST_SECRET, "signal-desk", Role.DEPARTMENT, "signal-co")
    acknowledge = acknowledger(f"http://127.0.0.1:{api_port}", desk_token)

    def handle(case: dict[str, Any]) -> None:
        acknowledge(case)  # over HTTP, with the department's token
        taken.append(case)

    server = make_server(port, secret, handle)  # the example itself, as a department runs it
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        async with routing_and_notify(settings) as (routing, notify), on_loopback(
                build_app([routing], title="routing"), api_port):
            case_id = await accepted_signal_case(settings)
            await eventually(lambda: asyncio.sleep(0, taken), timeout=25,
                             what="the case at the signal company's receiver")
            [record] = await read_topic(settings.kafka_bootstrap, Topics(
                settings.topic_prefix).department_cases("signal-co"), min_count=1)
            ledger = await notify.ledger.all()
            events = await read_events(settings, case_id=case_id, min_count=4)
    finally:
        server.shutdown()
        server.server_close()
    [case] = taken
    assert case == json.loads(record)  # the topic's record, as it is
    assert (case["case_id"], case["action"], case["role"]) == (case_id, "assigned", "lead")
    assert case["personal_data"] is True and PHONE not in record.decode()  # read with a token
    [delivery] = ledger
    assert (delivery["_id"], delivery["status"], delivery["attempts"]) == (
        f"{case['message_id']}:webhook:signal-co", "sent", 1)
    acknowledged = events[-1]
    assert acknowledged.type == "CaseAcknowledged"
    assert acknowledged.facts.department == "signal-co"


async def test_a_receiver_failing_twice_gets_the_case_once_after_retries(
        settings: CommonSettings) -> None:
    receiver = Receiver(answers=[500, 500])
    secret = await register_webhook(settings, "signal-co", receiver.url)
    assert isinstance(secret, str)
    receiver.secret = secret
    async with receiver.serving(), routing_and_notify(settings) as (_, notify):
        await accepted_signal_case(settings)
        await eventually(lambda: asyncio.sleep(0, receiver.accepted), timeout=25,
                         what="the case accepted after two failures")
        [record] = await read_topic(settings.kafka_bootstrap, Topics(
            settings.topic_prefix).department_cases("signal-co"), min_count=1)
        # the record read again (a redelivery, a restart) plans nothing new
        await notify.plan_webhook(*await _as_read(notify, settings, record))
        await asyncio.sleep(1.5)  # longer than the backoff and the sweep: nothing more comes
        [delivery] = await notify.ledger.all()
    assert len(receiver.requests) == 3 and len(receiver.accepted) == 1
    keys = {r.headers["idempotency-key"] for r in receiver.requests}
    assert keys == {json.loads(record)["message_id"]}  # every attempt: one key to dedupe by
    assert (delivery["status"], delivery["attempts"]) == ("sent", 3)


async def _as_read(notify: NotifyService, settings: CommonSettings, value: bytes) -> Any:
    from aiokafka import ConsumerRecord

    from services.notify.service import READ_CASE

    topic = Topics(settings.topic_prefix).department_cases("signal-co")
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic=topic, partition=0, offset=0, timestamp=0, timestamp_type=0, key=None,
        value=value, checksum=None, serialized_key_size=0, serialized_value_size=len(value),
        headers=())
    return READ_CASE.validate_json(value), record


async def test_a_gone_url_ends_in_a_dead_letter_on_the_console_and_a_redrive_sends_it(
        settings: CommonSettings) -> None:
    receiver = Receiver(answers=[410])
    secret = await register_webhook(settings, "signal-co", receiver.url)
    assert isinstance(secret, str)
    receiver.secret = secret
    async with receiver.serving(), routing_and_notify(settings) as (_, notify):
        case_id = await accepted_signal_case(settings)

        async def dead() -> Any:
            answer = await troubles(notify, token(Role.SUPERVISOR))
            found = answer.json()["deliveries"]
            return found if found and found[0]["status"] == "dead" else None

        [shown] = await eventually(dead, timeout=25, what="the dead delivery on the console")
        tried = len(receiver.requests)
        as_department = await troubles(notify, token(Role.DEPARTMENT, "signal-co"))
        unsigned = await troubles(notify, {})
        listed = (await troubles(notify, token(Role.ADMIN))).json()["webhooks"]
        letters = await read_topic(settings.kafka_bootstrap, Topics(
            settings.topic_prefix).dead_letter("notify"), min_count=1)

        # the department's URL is back: the operator puts the dead letter back
        await redrive(settings, await read_letters(settings, "notify"))
        await eventually(lambda: asyncio.sleep(0, receiver.accepted), timeout=25,
                         what="the case at the receiver once redriven")
        cleared = (await troubles(notify, token(Role.SUPERVISOR))).json()["deliveries"]
        [delivery] = await notify.ledger.all()
    assert (shown["department"], shown["case_id"], shown["attempts"]) == ("signal-co", case_id, 1)
    assert shown["last_error"] == "HTTP 410" and shown["next_try"] is None
    assert tried == 1  # a 410 is not tried again
    assert (as_department.status_code, unsigned.status_code) == (403, 401)
    assert listed == [{"department": "signal-co", "url": receiver.url}]
    record, *again = await read_topic(settings.kafka_bootstrap, Topics(
        settings.topic_prefix).department_cases("signal-co"), min_count=2)
    assert again == [record]  # redriven: the same record once more, for a Kafka reader a repeat
    [letter] = [json.loads(v) for v in letters]
    assert letter["reason"] == "notify webhook: HTTP 410"
    assert json.loads(letter["payload"]) == json.loads(record)  # what did not arrive
    assert PHONE not in json.dumps(letter)
    # redriven: the same delivery, revived, sent once; nothing left failing
    assert (delivery["status"], delivery["attempts"], len(receiver.requests)) == ("sent", 2, 2)
    assert receiver.accepted[0].body == record and cleared == []


async def test_a_receiver_asking_to_slow_down_is_shown_failing_with_its_next_try(
        settings: CommonSettings) -> None:
    receiver = Receiver(answers=[429])  # too many requests: later, not never
    secret = await register_webhook(settings, "signal-co", receiver.url)
    assert isinstance(secret, str)
    receiver.secret = secret
    async with receiver.serving(), routing_and_notify(
            settings, notify_backoff_s=60.0, notify_backoff_max_s=600.0) as (_, notify):
        case_id = await accepted_signal_case(settings)

        async def failing() -> Any:
            found = (await troubles(notify, token(Role.SUPERVISOR))).json()["deliveries"]
            return found or None

        [shown] = await eventually(failing, timeout=25, what="the failing delivery")
    assert (shown["case_id"], shown["status"], shown["attempts"]) == (case_id, "failing", 1)
    assert shown["last_error"] == "HTTP 429"
    wait = datetime.fromisoformat(shown["next_try"]) - datetime.fromisoformat(shown["planned_at"])
    assert timedelta(seconds=55) < wait < timedelta(seconds=70)  # the backoff's first wait
    assert len(receiver.requests) == 1
