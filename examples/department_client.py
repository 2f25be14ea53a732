"""A department's own system on zaiban's bus, in Python: the example of the README's
"How a department connects".

It connects with the client configuration `zaiban departments onboard <code> --out
dept.properties` made (Kafka client properties: over TLS, SASL_SSL, trusting the CA the file
carries), reads the department's cases from its cases
topic in its own consumer group, and answers on its replies topic: it acknowledges (签收)
each case assigned to it as the lead department and, given `--resolve "note"`, reports it
resolved as well (a real system would do that once the work is done). Offsets are committed
after the answers are sent, so a case is answered at least once; an answer sent twice
carries the same `reply_id` and is recorded once.

    pip install aiokafka cramjam
    python department_client.py dept.properties --resolve "已修复"

It needs nothing of zaiban: aiokafka (with cramjam, its codecs: the topics' batches are
compressed with zstd) and the standard library. The messages are described
by contracts/schemas/ (`DepartmentCase` in the AsyncAPI document, `commands/DepartmentReply.json`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


def read_properties(path: Path) -> dict[str, str]:
    """A Kafka client-properties file, as `zaiban departments onboard` writes it: `key=value`
    lines, `#` comments, a value continued on the next line after a trailing backslash, and
    the escapes `\\n` and `\\\\` (the subset of Java's properties format it uses)."""
    found: dict[str, str] = {}
    logical = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip() if not logical else line.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2:  # an odd number of backslashes: the value goes on
            logical += line[:-1]
            continue
        key, _, value = (logical + line).partition("=")
        logical = ""
        found[key.strip()] = re.sub(r"\\(.)", _unescaped, value.strip())
    return found


def _unescaped(escape: re.Match[str]) -> str:
    return {"n": "\n", "t": "\t", "r": "\r"}.get(escape.group(1), escape.group(1))


def kafka_options(config: Mapping[str, str]) -> dict[str, Any]:
    """The properties as aiokafka's keyword arguments."""
    protocol = config.get("security.protocol", "PLAINTEXT")
    options: dict[str, Any] = {"bootstrap_servers": config["bootstrap.servers"],
                               "security_protocol": protocol}
    if protocol.startswith("SASL_"):
        jaas = config["sasl.jaas.config"]  # ScramLoginModule required username="…" password="…";
        options.update(sasl_mechanism=config["sasl.mechanism"],
                       sasl_plain_username=_quoted(jaas, "username"),
                       sasl_plain_password=_quoted(jaas, "password"))
    if protocol.endswith("SSL"):  # the CA in the file (PEM), else the system's CAs
        options["ssl_context"] = ssl.create_default_context(
            cadata=config.get("ssl.truststore.certificates"),
            cafile=config.get("ssl.truststore.location"))
    return options


def _quoted(jaas: str, name: str) -> str:
    found = re.search(rf'\b{name}="([^"]*)"', jaas)
    if found is None:
        raise ValueError(f"sasl.jaas.config has no {name}")
    return found.group(1)


def answers(case: Mapping[str, Any], department: str,
            resolution: str | None = None) -> list[dict[str, Any]]:
    """What this system says about one message of its cases topic (`DepartmentCase`)."""
    if case["action"] == "erased":
        # the resident's personal data was erased: delete any copy of it kept here
        return []
    if case["action"] != "assigned" or case["role"] != "lead":
        return []  # withdrawn, or assisting another department: nothing to answer
    said = {"case_id": case["case_id"], "department": department}
    replies = [{**said, "action": "acknowledge", "note": "已签收",
                "reply_id": f"{case['message_id']}/acknowledge"}]
    if resolution:
        replies.append({**said, "action": "resolve", "resolution": resolution,
                        "reply_id": f"{case['message_id']}/resolve"})
    return replies


async def run(config: Mapping[str, str], *, resolution: str | None = None,
              stop: asyncio.Event | None = None) -> None:
    """Take the department's cases and answer them, until `stop` is set (or forever)."""
    department = config["zaiban.department"]
    options = kafka_options(config)
    consumer = AIOKafkaConsumer(
        config["zaiban.cases.topic"], group_id=config["group.id"],
        auto_offset_reset=config.get("auto.offset.reset", "earliest"),
        enable_auto_commit=False, **options)
    producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **options)
    await consumer.start()
    await producer.start()
    try:
        while stop is None or not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    case = json.loads(record.value)
                    sent = answers(case, department, resolution)
                    for reply in sent:
                        await producer.send_and_wait(
                            config["zaiban.replies.topic"], json.dumps(reply).encode(),
                            key=case["case_id"].encode())
                    print(f"{department}: {case['case_id']} {case['action']} "
                          f"({case['role']}, {case['reason']}): "
                          f"{', '.join(r['action'] for r in sent) or 'nothing to answer'}",
                          flush=True)
            if batches:
                await consumer.commit()  # only once answered: at least once
    finally:
        await producer.stop()
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="A department's own system on zaiban's bus.")
    parser.add_argument("properties", type=Path,
                        help="the client configuration from `zaiban departments onboard`")
    parser.add_argument("--resolve", metavar="NOTE",
                        help="report each case resolved with this note, after acknowledging it")
    arguments = parser.parse_args()
    try:
        asyncio.run(run(read_properties(arguments.properties), resolution=arguments.resolve))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
