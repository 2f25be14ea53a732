"""A frontend on the real broker, as an operator onboards it (`zaiban frontends onboard`): with
the configuration it was given it submits a resident's request sealed for intake, reads its
receipt in its own group and opens its tracking code — and may read or write nothing else;
offboarded, it cannot log in."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.conn import create_conn
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from helpers import (
    WANGFUFEN_REQUEST,
    client_for,
    read_events,
    read_in_group,
    running,
    write_one,
)
from typer.testing import CliRunner

from contracts.case_commands import SealedSubmission
from contracts.receipts import SubmissionReceipt
from contracts.topics import Topics
from examples import department_client
from services.common.http import build_app
from services.common.keys import DataKey, open_for, public_key_text, recipient_key, seal_for
from services.common.settings import CommonSettings
from services.composition import build
from services.lifecycle.codes import tracking_code_matches
from zaiban.cli import app as cli

pytestmark = pytest.mark.stack


async def test_a_frontend_submits_and_reads_its_receipt_and_nothing_else(
        settings: CommonSettings, tmp_path: Path) -> None:
    topics = Topics(settings.topic_prefix)
    environment = {"ZAIBAN_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                   "ZAIBAN_TOPIC_PREFIX": settings.topic_prefix}

    def zaiban(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["frontends", *args], env=environment)
        return result.exit_code, result.stdout, result.stderr

    out = tmp_path / "city-app.properties"
    code, said, warned = await asyncio.to_thread(zaiban, "onboard", "city-app", "--out",
                                                 str(out))
    assert code == 0, warned
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert said.splitlines() == [
        f"user frontend-city-app: writes {topics.submissions}, reads {topics.receipts} in "
        f"group {settings.topic_prefix}zaiban-frontend-city-app",
        f"client configuration of city-app written to {out} (readable by you only)"]
    config = department_client.read_properties(out)
    assert config["zaiban.receipts.topic"] == topics.receipts
    login = department_client.kafka_options(config)
    assert login["sasl_plain_username"] == "frontend-city-app"
    assert (await asyncio.to_thread(zaiban, "onboard", "Bad Name"))[0] == 1

    frontend = DataKey.new("city-app")
    intake = build("intake", settings)
    async with running(intake):
        async with client_for(build_app([intake], title="intake")) as http:
            published = (await http.get("/api/bus/submission-key")).json()
        body = {**WANGFUFEN_REQUEST, "channel": "app", "submission_id": "app-1",
                "receipt_key": public_key_text(frontend)}
        sealed = seal_for(recipient_key(published["public_key"]), published["kid"],
                          json.dumps(body).encode())
        producer = AIOKafkaProducer(enable_idempotence=True, acks="all", **login)
        await producer.start()
        try:
            await producer.send_and_wait(config["zaiban.submissions.topic"],
                                         SealedSubmission(sealed=sealed).model_dump_json().encode(),
                                         key=b"app-1")
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(config["zaiban.receipts.topic"], group_id=config["group.id"],
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    **login)
        await consumer.start()
        try:
            record: Any = await asyncio.wait_for(consumer.getone(), timeout=30)
            await consumer.commit()
        finally:
            await consumer.stop()

    receipt = SubmissionReceipt.model_validate_json(record.value)
    [event] = await read_events(settings)
    assert (record.key, receipt.outcome, receipt.case_id) == (b"app-1", "recorded", event.case_id)
    assert receipt.tracking_code is not None
    tracking_code = open_for(DataKey("app-1", frontend.secret), receipt.tracking_code).decode()
    assert tracking_code_matches(tracking_code, event.data["tracking_code_hash"])

    # nothing else: not the case events, not another group, not writing receipts
    login.pop("bootstrap_servers")

    bootstrap = settings.kafka_bootstrap
    with pytest.raises(TopicAuthorizationFailedError):
        await read_in_group(bootstrap, topics.case_events, config["group.id"], **login)
    with pytest.raises(GroupAuthorizationFailedError):
        await read_in_group(bootstrap, topics.receipts, f"{settings.topic_prefix}zaiban-intake",
                            **login)
    with pytest.raises(TopicAuthorizationFailedError):
        await write_one(bootstrap, topics.receipts, **login)

    code, said, _ = await asyncio.to_thread(zaiban, "offboard", "city-app")
    assert code == 0 and said.strip() == "city-app: user frontend-city-app and its ACLs deleted"
    host, port = settings.kafka_bootstrap.rsplit(":", 1)
    with pytest.raises(SaslAuthenticationFailed):  # its user is gone
        connection = await create_conn(host, int(port), **login)
        connection.close()
