"""kill -9 and the notifications: exactly one message per event and channel?

Notify runs as a real process (`zaiban serve notify`) against the real stack, mailing a real
SMTP server on loopback (aiosmtpd, a little slow to answer, so kills land inside sends).
Cases' events are published while the process is killed with SIGKILL at random moments and
started again. Then every message the resident should get arrived (lost: none), and the
copies that arrived more than once (duplicates, same Message-ID) are counted and each one
explained: its delivery had an attempt cut short by a kill — the window between the
server's acceptance and the ledger's mark, which the ledger measures (`mark_ms`).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from faults.processes import Fleet
from helpers import eventually, publish_envelopes
from notifyfixtures import MailBox, consenting
from unit.tracking.tracking_stories import EMAIL, RING, SIGNAL_CO, accepted, routed

from contracts import case_events as ev
from services.common.settings import CommonSettings
from services.common.store import make_client
from services.lifecycle.history import History
from services.notify.channels import message_id

CASES = int(os.environ.get("ZAIBAN_FAULT_NOTIFY_CASES", "30"))
KILLS = int(os.environ.get("ZAIBAN_FAULT_NOTIFY_KILLS", "4"))
MAIL_FROM = "zaiban <notify@zb.example>"
TOLD = 4  # accepted, routed, resolved, closed


def a_life(index: int, at: datetime) -> History:
    case_id = f"ZB261130-KIL{index // 1000}-{index % 1000:04d}"
    return (History(case_id)
            .given(at, consenting(case_id))
            .given(at, accepted())
            .given(at, routed("signal-co", at + timedelta(days=7)))
            .given(at, ev.CaseResolved(by=SIGNAL_CO, resolution="修好了", on_time=True))
            .given(at, ev.CaseClosed(reason="no_answer")))


async def ledger(settings: CommonSettings) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    client = make_client(settings)
    try:
        db = client[settings.database("notify")]
        return ([d async for d in db["deliveries"].find({})],
                [a async for a in db["attempts"].find({})])
    finally:
        await client.close()


async def test_killing_notify_loses_no_message_and_every_repeat_is_one_a_kill_cut_short(
        settings: CommonSettings, tmp_path: Path) -> None:
    started = time.monotonic()
    rng = random.Random(15)
    lives = [a_life(i, datetime.now(UTC)) for i in range(CASES)]
    expected = {message_id(f"{e.event_id}:email", MAIL_FROM)
                for life in lives for e in life.envelopes
                if e.type not in ("CaseSubmitted",)}
    assert len(expected) == CASES * TOLD
    with MailBox(delay_s=0.1) as box:
        async with Fleet(settings, tmp_path / "logs", names=("notify",),
                         ZAIBAN_SMTP_URL=box.url(), ZAIBAN_NOTIFY_MAIL_FROM=MAIL_FROM,
                         ZAIBAN_NOTIFY_LEASE_S="3", ZAIBAN_NOTIFY_SEND_TIMEOUT_S="2",
                         ZAIBAN_NOTIFY_SWEEP_S="0.5", ZAIBAN_NOTIFY_BACKOFF_S="0.5",
                         ZAIBAN_LOG_LEVEL="INFO") as fleet:
            notify = fleet["notify"]

            published = asyncio.Event()

            async def publish() -> None:  # two cases at a time, over the whole run
                for start in range(0, CASES, 2):
                    batch = [e for life in lives[start:start + 2] for e in life.envelopes]
                    await publish_envelopes(settings, batch, keys=RING)
                    await asyncio.sleep(rng.uniform(1.0, 2.0))
                published.set()

            async def kill() -> None:
                # each kill lands while notify is mailing: once the server has taken a new
                # message since the last start, at a random moment of the next sends
                while notify.kills < KILLS:
                    seen, quiet_since = len(box.messages()), time.monotonic()
                    while len(box.messages()) == seen:  # until the server takes a new one
                        if published.is_set() and time.monotonic() - quiet_since > 5:
                            return  # all published and all sent: nothing left to cut short
                        await asyncio.sleep(0.02)
                    await asyncio.sleep(rng.uniform(0.0, 0.25))
                    notify.kill()
                    await asyncio.sleep(rng.uniform(0.0, 0.5))
                    notify.start()
                    await notify.ready()

            await asyncio.gather(publish(), kill())

            async def all_arrived() -> bool:
                return expected <= {m.message_id for m in box.messages()}

            await eventually(all_arrived, timeout=45, every=0.5,
                             what="every message at the SMTP server")
            await asyncio.sleep(1.0)  # anything still on its way
            deliveries, attempts = await ledger(settings)
            errors = notify.logged_errors()

    arrived = Counter(m.message_id for m in box.messages())
    lost = expected - set(arrived)
    duplicates = {mid: n - 1 for mid, n in arrived.items() if n > 1}
    strangers = set(arrived) - expected
    assert not lost and not strangers
    assert {d["status"] for d in deliveries} == {"sent"} and len(deliveries) == len(expected)
    # a repeat comes only from a delivery whose earlier attempt was cut short by a kill
    cut_short = {message_id(d["_id"], MAIL_FROM): d["uncertain"] for d in deliveries
                 if d["uncertain"]}
    assert all(mid in cut_short and n <= cut_short[mid] for mid, n in duplicates.items()), (
        duplicates, cut_short)
    assert not errors, errors[:5]
    assert notify.kills >= 3, "the kills did not happen while notify was mailing"
    # its logs (JSON, at info) say which case, event and channel; never the address
    logged = [json.loads(line) for path in sorted((tmp_path / "logs").glob("notify-*.log"))
              for line in path.read_text().splitlines() if line.startswith("{")]
    sent = [line for line in logged if line.get("event") == "message_sent"]
    assert len(sent) >= len(expected) - notify.kills  # a kill may take a line with it
    assert all(line["case_id"] and line["event_id"] and line["channel"] == "email"
               for line in sent)
    assert EMAIL not in json.dumps(logged, ensure_ascii=False)

    windows = sorted(a["mark_ms"] for a in attempts if "mark_ms" in a)
    figures = {
        "test": "kill -9 of notify while it mails", "cases": CASES,
        "messages_expected": len(expected), "kills": notify.kills,
        "received": sum(arrived.values()), "distinct": len(arrived), "lost": len(lost),
        "duplicates": sum(duplicates.values()),
        "attempts_cut_short": sum(cut_short.values()),
        "mark_window_ms": {"p50": round(statistics.median(windows), 2),
                           "p99": round(windows[int(len(windows) * 0.99) - 1], 2),
                           "max": round(windows[-1], 2)},
        "seconds": round(time.monotonic() - started, 1)}
    print("\nNOTIFY FAULT FIGURES", json.dumps(figures))
    (tmp_path / "figures.json").write_text(json.dumps(figures))
