"""Area alerts on the real stack: someone follows a district by email — confirms by the link
first (double opt-in), then hears of its new and resolved cases (public data only), and
leaves with one click. The address is kept sealed, and shredded when they leave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from helpers import client_for, eventually, publish_envelopes
from notifyfixtures import MailBox, consenting
from unit.tracking.tracking_stories import EMAIL, NAME, PHONE, RING, SIGNAL_CO, accepted, day

from contracts import case_events as ev
from services.common.clock import ManualClock
from services.common.runtime import running
from services.common.settings import CommonSettings
from services.common.store import make_client
from services.composition import app_of
from services.lifecycle.history import History
from services.notify.service import NotifyService
from services.notify.settings import NotifySettings
from services.notify.subscriptions import key_of

pytestmark = pytest.mark.stack

FOLLOWER = "neighbour@example.net"


@asynccontextmanager
async def notifying(settings: CommonSettings, box: MailBox) -> AsyncIterator[NotifyService]:
    own = NotifySettings.from_common(
        settings, smtp_url=box.url(), notify_max_age_h=24 * 3650, notify_sweep_s=0.2,
        notify_public_url="https://zb.example", notify_mail_from="zaiban <alerts@zb.example>")
    service = NotifyService(own, ManualClock(day("10-06", 12)))
    async with running(service):
        yield service


def a_case(case_id: str, district: str, *, resolved: bool = False) -> History:
    story = (History(case_id)
             .given(day("10-06", 9), consenting(case_id, agreed=False))
             .given(day("10-06", 10), accepted(district=district)))
    if resolved:
        story.given(day("10-06", 11), ev.CaseResolved(by=SIGNAL_CO, resolution="已修复",
                                                      on_time=True))
    return story


def link_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def mails(box: MailBox, count: int, what: str) -> list[Any]:
    async def probe() -> list[Any] | None:
        found = box.messages()
        return found if len(found) >= count else None

    return await eventually(probe, timeout=20, what=what)


async def test_a_follower_confirms_hears_of_the_districts_cases_and_leaves_in_one_click(
        settings: CommonSettings) -> None:
    with MailBox() as box:
        async with notifying(settings, box) as service, client_for(app_of(service)) as http:
            asked = await http.post("/api/notify/subscriptions", json={
                "email": FOLLOWER, "district": "jinshui", "language": "en"})
            assert asked.status_code == 202, asked.text
            [confirmation] = await mails(box, 1, "the confirmation")
            assert confirmation.rcpt_to == [FOLLOWER]
            assert confirmation.message["Subject"] == "Please confirm your alerts for Jinshui"
            [confirm_url] = [w for w in confirmation.text.split() if "/confirm?" in w]

            # not confirmed yet: a new case of the district reaches nobody
            await publish_envelopes(settings, a_case("ZB261006-ALR0-0001", "jinshui").envelopes,
                                    keys=RING)
            await asyncio.sleep(1.0)
            assert len(box.messages()) == 1
            shown = await http.get(link_path(confirm_url))
            assert shown.status_code == 200 and "Jinshui" in shown.text  # looking confirms nothing
            assert (await http.post(link_path(confirm_url))).status_code == 200

            # confirmed: new and resolved cases of the district, not those of another
            await publish_envelopes(settings, a_case("ZB261006-ALR0-0002", "jinshui",
                                                     resolved=True).envelopes, keys=RING)
            await publish_envelopes(settings, a_case("ZB261006-ALR0-0003", "zhongyuan").envelopes,
                                    keys=RING)
            _, new, resolved = await mails(box, 3, "the new case and its resolution")
            await asyncio.sleep(1.0)
            assert len(box.messages()) == 3
            subjects = sorted(str(m.message["Subject"]) for m in (new, resolved))
            assert subjects == ["[Jinshui] New request ZB261006-ALR0-0002: Traffic signals",
                                "[Jinshui] Resolved ZB261006-ALR0-0002: Traffic signals"]
            for alert in (new, resolved):
                assert alert.rcpt_to == [FOLLOWER]
                assert "https://zb.example/cases/ZB261006-ALR0-0002?lang=en" in alert.text
                assert "code=" not in alert.text  # the resident's code is theirs alone
                for private in (NAME, PHONE, EMAIL):
                    assert private not in alert.text

            # the follower's address is nowhere in clear in notify's store
            client = make_client(settings)
            try:
                db = client[settings.database("notify")]
                for name in await db.list_collection_names():
                    async for doc in db[name].find({}):
                        assert FOLLOWER not in str(doc), name
            finally:
                await client.close()

            # one click (RFC 8058) and the subscription is gone, its key shredded
            stop = link_path(str(new.message["List-Unsubscribe"]).strip("<>"))
            left = await http.post(stop, content=b"List-Unsubscribe=One-Click")
            assert left.status_code == 200
            [subscription_id] = [part for part in stop.split("/") if len(part) == 32]
            assert await service.subscriptions.get(subscription_id) is None
            assert await service.keys.destroyed(key_of(subscription_id)) is not None
            assert (await http.post(stop)).status_code == 200  # again: still gone, not an error
            await publish_envelopes(settings, a_case("ZB261006-ALR0-0004", "jinshui").envelopes,
                                    keys=RING)
            await asyncio.sleep(1.0)
    assert len(box.messages()) == 3


async def test_asking_twice_makes_one_subscription_and_bad_requests_are_refused(
        settings: CommonSettings) -> None:
    with MailBox() as box:
        async with notifying(settings, box) as service, client_for(app_of(service)) as http:
            body = {"email": FOLLOWER, "category": "traffic-signals", "language": "zh-Hant"}
            assert (await http.post("/api/notify/subscriptions", json=body)).status_code == 202
            assert (await http.post("/api/notify/subscriptions", json=body)).status_code == 202
            [confirmation] = await mails(box, 1, "one confirmation")
            assert confirmation.message["Subject"] == "請確認訂閱：「交通號誌燈」類"
            assert await service.subscriptions.collection.count_documents({}) == 1

            for wrong, says in (
                    ({"email": FOLLOWER, "district": "atlantis"}, "unknown district"),
                    ({"email": FOLLOWER, "district": "jinshui", "category": "roads"},
                     "one of them"),
                    ({"email": "not-an-address", "district": "jinshui"}, "email"),
                    ({"email": FOLLOWER}, "one of them")):
                answer = await http.post("/api/notify/subscriptions", json=wrong)
                assert answer.status_code == 422 and says in answer.text, (wrong, answer.text)
            forged = await http.get(f"/notify/subscriptions/{'0' * 32}/confirm?s=forged")
            assert forged.status_code == 403
        await asyncio.sleep(0.5)
    assert len(box.messages()) == 1


async def test_without_a_mail_server_area_alerts_are_refused_plainly(
        settings: CommonSettings) -> None:
    service = NotifyService(NotifySettings.from_common(settings, smtp_url=None),
                            ManualClock(day("10-06", 12)))
    try:
        async with client_for(app_of(service)) as http:
            answer = await http.post("/api/notify/subscriptions", json={
                "email": FOLLOWER, "district": "jinshui"})
    finally:
        await service.mongo.close()
    assert answer.status_code == 503 and "ZAIBAN_SMTP_URL" in answer.text
