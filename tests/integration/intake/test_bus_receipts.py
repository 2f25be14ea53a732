"""A frontend on the bus hears back: one receipt per submission on the receipts topic, keyed
by its submission id — the case number and the tracking code sealed for the frontend, or
the refusal and why — and nothing more when the submissions are delivered again."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from helpers import (
    WANGFUFEN_REQUEST,
    as_admin,
    client_for,
    eventually,
    publish_raw,
    read_events,
    running,
)
from pymongo.errors import AutoReconnect

from contracts.case_commands import SealedSubmission
from contracts.receipts import SubmissionReceipt
from contracts.topics import Topics
from services.common.http import build_app
from services.common.keys import DataKey, open_for, public_key_text, recipient_key, seal_for
from services.common.settings import CommonSettings
from services.composition import build
from services.lifecycle.codes import tracking_code_matches

pytestmark = pytest.mark.stack

PHONE = WANGFUFEN_REQUEST["contact"]["phone"]


async def receipts_by_key(settings: CommonSettings, count: int) -> dict[str, list[bytes]]:
    """Every record on the receipts topic, grouped by key (waits for `count` of them)."""
    topic = Topics(settings.topic_prefix).receipts
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **as_admin())
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: dict[str, list[bytes]] = {}
        seen = 0
        async with asyncio.timeout(30):
            while True:
                ends = await consumer.end_offsets(partitions)
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        found.setdefault((record.key or b"").decode(), []).append(record.value)
                        seen += 1
                positions = {tp: await consumer.position(tp) for tp in partitions}
                if seen >= count and all(positions[tp] >= ends[tp] for tp in partitions):
                    return found
    finally:
        await consumer.stop()


async def caught_up(settings: CommonSettings, group: str) -> None:
    """Wait until `group` has committed every record of the submissions topic."""
    topic = Topics(settings.topic_prefix).submissions
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **as_admin())
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                **as_admin())
    await admin.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        ends = await consumer.end_offsets(partitions)

        async def committed() -> bool:
            offsets = await admin.list_consumer_group_offsets(group)
            return all(tp in offsets and offsets[tp].offset >= ends[tp]
                       for tp in partitions if ends[tp])

        await eventually(committed, what=f"{group} past every submission", timeout=60)
    finally:
        await consumer.stop()
        await admin.close()


async def rewind(settings: CommonSettings, group: str) -> None:
    """Commit offset 0 of every partition of the submissions topic for `group`."""
    topic = Topics(settings.topic_prefix).submissions
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group,
                                enable_auto_commit=False, **as_admin())
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.commit({tp: 0 for tp in partitions})
    finally:
        await consumer.stop()


async def test_each_submission_on_the_bus_gets_one_receipt_keyed_by_its_id(
        settings: CommonSettings) -> None:
    topics = Topics(settings.topic_prefix)
    frontend = DataKey.new("city-app")  # the frontend's own X25519 key pair
    intake = build("intake", settings)
    async with running(intake):
        async with client_for(build_app([intake], title="intake")) as http:
            published = (await http.get("/api/bus/submission-key")).json()
        to_intake = recipient_key(published["public_key"])

        def sealed(body: dict[str, Any]) -> bytes:
            message = seal_for(to_intake, published["kid"], json.dumps(body).encode())
            return SealedSubmission(sealed=message).model_dump_json().encode()

        good = {**WANGFUFEN_REQUEST, "channel": "app", "submission_id": "app-7",
                "receipt_key": public_key_text(frontend)}
        anonymous = {k: v for k, v in WANGFUFEN_REQUEST.items() if k != "contact"}
        nowhere = {**anonymous, "submission_id": "app-8",
                   "location": {"district": "mars", "street": "沙口路"}}
        clear = {**WANGFUFEN_REQUEST, "submission_id": "app-9"}
        once = sealed(good)
        # the same record twice, and the same submission sealed again by a retrying frontend
        await publish_raw(settings.kafka_bootstrap, topics.submissions,
                          [once, once, sealed(good)], key=b"app-7")
        await publish_raw(settings.kafka_bootstrap, topics.submissions,
                          [json.dumps(nowhere).encode(), json.dumps(clear).encode()])
        await publish_raw(settings.kafka_bootstrap, topics.submissions, [b"\xff\xfenot json"],
                          key=b"app-10")

        found = await receipts_by_key(settings, 4)
        await caught_up(settings, intake.group_id)

    assert sorted(found) == ["app-10", "app-7", "app-8", "app-9"]
    assert all(len(records) == 1 for records in found.values()), found
    receipts = {key: SubmissionReceipt.model_validate_json(records[0])
                for key, records in found.items()}

    recorded = receipts["app-7"]
    [event] = await read_events(settings)
    assert (recorded.outcome, recorded.case_id) == ("recorded", event.case_id)
    assert recorded.submission_id == "app-7" and recorded.tracking_code is not None
    code = open_for(DataKey("app-7", frontend.secret), recorded.tracking_code).decode()
    assert tracking_code_matches(code, event.data["tracking_code_hash"])

    assert receipts["app-8"].outcome == "refused" and receipts["app-8"].case_id is None
    assert "body.location.district: unknown district 'mars'" in (receipts["app-8"].reason or "")
    assert "personal data in clear" in (receipts["app-9"].reason or "")
    assert receipts["app-10"].outcome == "refused"
    assert "Invalid JSON" in (receipts["app-10"].reason or "")
    everything = b"".join(records[0] for records in found.values())
    assert code.encode() not in everything and code.replace("-", "").encode() not in everything
    assert PHONE.encode() not in everything

    # every submission delivered again, as after a crash before the offsets were committed:
    # the group's offsets go back to the start, and a new intake reads the topic again
    await rewind(settings, intake.group_id)
    again = build("intake", settings)
    async with running(again):
        await caught_up(settings, again.group_id)
        # kept while a redelivery may come; forgotten after (ZAIBAN_BUS_RECEIPT_DAYS)
        assert await again.forget_old_receipts() == 0
        assert await again.receipts.forget(datetime.now(UTC) + timedelta(seconds=1)) == 4
    assert await receipts_by_key(settings, 4) == found  # the very same records, no more
    assert len(await read_events(settings)) == 1


async def test_a_store_failure_amid_a_batch_of_submissions_loses_none_and_answers_each_once(
        settings: CommonSettings) -> None:
    # the submissions of a batch are taken side by side: one failing brings the batch again,
    # once the others have ended, and those recorded already are found by their key
    topics = Topics(settings.topic_prefix)
    frontend = DataKey.new("city-app")
    intake = build("intake", settings)
    submit = intake.submissions.submit
    failed: list[str] = []

    async def failing_once(command: Any, **given: Any) -> Any:
        if command.submission_id == "app-22" and not failed:
            failed.append(command.submission_id)
            raise AutoReconnect("the store went away for a moment")
        return await submit(command, **given)

    intake.submissions.submit = failing_once  # type: ignore[method-assign]
    async with running(intake):
        async with client_for(build_app([intake], title="intake")) as http:
            published = (await http.get("/api/bus/submission-key")).json()
        to_intake = recipient_key(published["public_key"])
        bodies = [{**WANGFUFEN_REQUEST, "channel": "app", "submission_id": f"app-{n}",
                   "receipt_key": public_key_text(frontend)} for n in (21, 22, 23)]
        await publish_raw(settings.kafka_bootstrap, topics.submissions, [
            SealedSubmission(sealed=seal_for(to_intake, published["kid"],
                                             json.dumps(body).encode())).model_dump_json().encode()
            for body in bodies], key=b"one-partition")
        found = await receipts_by_key(settings, 3)
        await caught_up(settings, intake.group_id)

    assert failed == ["app-22"]
    assert sorted(found) == ["app-21", "app-22", "app-23"]
    assert all(len(records) == 1 for records in found.values()), found
    receipts = [SubmissionReceipt.model_validate_json(records[0]) for records in found.values()]
    assert {r.outcome for r in receipts} == {"recorded"}
    events = await read_events(settings)
    assert sorted(e.case_id for e in events) == sorted(r.case_id for r in receipts)
    assert len({e.case_id for e in events}) == 3
