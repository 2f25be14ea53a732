"""The demo city: a few hundred cases of the last six weeks, and the reference case.

Histories are told with the lifecycle's story kit (`services/lifecycle/history.py`):
by the same decisions the services make, only at times of our choosing, and
recorded by the producer `history:demo`: routing keeps them as the past and
does not route, escalate or close anything because of them. Loaded once, into
an empty log; after that the log is the city's own.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from contracts import case_commands as cmd
from contracts.envelope import HISTORY_PRODUCER_PREFIX, Envelope
from contracts.facts import Actor, CaseStatus, Channel, Role
from contracts.topics import Topics
from services.common.catalogue import load_city
from services.common.kafka import ADMIN, COMPRESSION, kafka_options
from services.common.keys import KeyRing, key_store
from services.common.settings import CommonSettings
from services.common.store import make_client
from services.intake.numbers import ALPHABET
from services.lifecycle import dispatching, handling, reporting, returning, triage
from services.lifecycle.history import Chronicle
from services.lifecycle.policy import Policy

PRODUCER = f"{HISTORY_PRODUCER_PREFIX}demo"
REFERENCE_CASE = "ZB261006-WFF1-0001"

OFFICER = Actor(role=Role.OFFICER, staff_id="officer-demo")
REPORTER = Actor(role=Role.REPORTER, staff_id="reporter-zhang")


# --- the reference case (BRIEF.md) ---------------------------------------------

def reference_case(chronicle: Chronicle) -> str:
    """The traffic lights at the Wangfufen vegetable market, as the article tells it."""
    story = chronicle.of(REFERENCE_CASE)
    day = lambda d, h, m=0: datetime(2026, 10, d, h, m, tzinfo=UTC) - timedelta(hours=8)  # noqa: E731
    story.submit(day(6, 8, 40), cmd.SubmitCase.model_validate({
        "category": "traffic-signals",
        "description": "沙口路王府坟菜市场门口的红绿灯不亮了，买菜的老人和孩子过马路很危险，希望尽快修好。",
        "location": {"district": "zhongyuan", "street": "沙口路王府坟菜市场门口",
                     "address": "沙口路王府坟菜市场正门"},
        "attributes": {"signal_state": "dark"},
        "contact": {"name": "王女士", "phone": "13700000000"},
    }))
    story.accept(day(6, 10, 15), cmd.AcceptCase(reporter_id="reporter-zhang",
                                                note="安排记者现场了解"), by=OFFICER)
    story.when(day(7, 9, 30), reporting.record_site_visit, cmd.RecordSiteVisit(
        note="记者到现场查看：菜市场门口四组信号灯均不亮，已联系信号灯维护单位。"), by=REPORTER)
    story.when(day(7, 10), dispatching.route, cmd.RouteCase(department="signal-co"), by=REPORTER)
    story.when(day(7, 15), handling.acknowledge, cmd.AcknowledgeCase(note="已派维修人员排查"),
               by=story.lead)
    story.when(day(8, 18), reporting.link_story, cmd.LinkStory.model_validate({
        "title": "王府坟菜市场门口红绿灯何时能点亮？", "column": "inquiry",
        "url": "https://news.example.org/zhengzaiban/wangfufen-traffic-lights"}), by=REPORTER)
    story.when(day(12, 9), handling.resolve, cmd.ResolveCase(
        resolution="已更换信号机电源模块，四组信号灯恢复正常。"), by=story.lead)
    story.when(day(12, 10, 30), reporting.record_site_visit, cmd.RecordSiteVisit(
        note="记者回访：四组信号灯全部正常工作。"), by=REPORTER)
    story.give_feedback(day(12, 16), cmd.GiveFeedback(fixed=True, satisfied=True, rating=5,
                                                      comment="灯亮了，谢谢记者和维修师傅！"))
    return REFERENCE_CASE


# --- the city's other cases ------------------------------------------------------

STREETS = ("金水路", "花园路", "中原路", "建设路", "嵩山路", "大学路", "桐柏路", "文化路",
           "农业路", "紫荆山路", "经三路", "商都路", "航海路", "郑汴路", "黄河路", "陇海路")

PROBLEMS: dict[str, tuple[str, ...]] = {
    "traffic-signals": ("{street}与{cross}交叉口的信号灯一直闪黄灯，车辆抢行很危险。",
                        "{street}路口红灯时间太长，早高峰排队到上一个路口。"),
    "roads": ("{street}人行道上有一个井盖缺失，晚上看不清，已经有人崴脚。",
              "{street}靠近{cross}的路面塌陷了一个大坑，下雨后积水严重。"),
    "water": ("{street}小区从昨天晚上开始停水，没有任何通知。", "{street}一带自来水发黄，有异味。"),
    "power": ("{street}小区频繁停电，一天停了三次。", "{street}路边电线杆上的电线垂下来，离地很近。"),
    "gas": ("{street}楼道里闻到很重的燃气味，担心泄漏。",),
    "heating": ("{street}小区暖气不热，室内只有十四度，家里有老人孩子。",
                "{street}供暖管道漏水，楼道里都是水。"),
    "consumer": ("在{street}一家健身房办了预付卡，现在门店关了联系不上。",
                 "{street}超市买到过期食品，商家拒绝退换。"),
    "rights": ("在{street}工地干活，工资拖欠了三个月一直不给。",
               "{street}小区物业擅自涨价，业主不认可。"),
    "inquiry": ("{street}附近的地铁口什么时候开通？", "听说{street}要拓宽改造，什么时候开工？"),
}

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"


@dataclass(frozen=True)
class Fate:
    """How far a case's life goes, if there is time for it before today."""

    name: str
    weight: int


FATES = (Fate("confirmed", 58), Fate("unanswered", 12), Fate("reopened", 3), Fate("late", 8),
         Fate("returned", 4), Fate("rejected", 3), Fate("merged", 2), Fate("open", 10))


def case_number(at: datetime, rng: random.Random) -> str:
    chars = "".join(rng.choice(ALPHABET) for _ in range(8))
    return f"ZB{(at + timedelta(hours=8)).strftime('%y%m%d')}-{chars[:4]}-{chars[4:]}"


def random_case(chronicle: Chronicle, rng: random.Random, now: datetime,
                earlier: list[str]) -> None:
    policy = chronicle.policy
    category = rng.choice(policy.city.categories)
    district = rng.choice(policy.city.districts)
    street, cross = rng.sample(STREETS, 2)
    at = now - timedelta(days=rng.uniform(0.2, 42))
    case_id = case_number(at, rng)
    if case_id in chronicle.histories:
        return
    lat, lon = district.center
    answers = {a.code: a.values[0].key for a in category.attributes
               if a.required and a.values}
    story = chronicle.of(case_id)
    story.submit(at, cmd.SubmitCase.model_validate({
        "category": category.code,
        "description": rng.choice(PROBLEMS[category.code]).format(street=street, cross=cross),
        "location": {"district": district.code, "street": f"{street}{rng.randint(1, 300)}号附近",
                     "lat": round(lat + rng.uniform(-0.02, 0.02), 5),
                     "lon": round(lon + rng.uniform(-0.02, 0.02), 5)},
        "channel": rng.choice([Channel.WEB, Channel.WEB, Channel.APP, Channel.APP, Channel.HOTLINE,
                               Channel.WECHAT, Channel.WEIBO]).value,
        "attributes": answers,
        "contact": {"name": f"{rng.choice(SURNAMES)}先生" if rng.random() < 0.5
                    else f"{rng.choice(SURNAMES)}女士"} if rng.random() < 0.8 else None,
    }))
    fate = rng.choices(FATES, weights=[f.weight for f in FATES])[0].name

    def later(hours: float) -> datetime | None:
        nonlocal at
        at = at + timedelta(hours=hours * rng.uniform(0.5, 1.5))
        return at if at < now else None

    if (when := later(3)) is None:
        return
    if fate == "rejected":
        rejection = cmd.RejectCase(reason="不属于平台受理范围，请拨打110")
        story.when(when, triage.reject, rejection, by=OFFICER)
        return
    if fate == "merged" and earlier:
        original = chronicle.histories[rng.choice(earlier)].case
        if original.require_facts().status not in {CaseStatus.MERGED, CaseStatus.REJECTED}:
            command = cmd.MergeCase(into_case_id=original.case_id)
            story.when(when, partial(triage.merge, into=original), command, by=OFFICER)
            return
    story.accept(when, cmd.AcceptCase(), by=OFFICER)
    if story.facts.department is None:
        return
    if fate == "returned" and (when := later(10)) is not None:
        story.when(when, returning.return_case, cmd.ReturnCase(reason="不属于本单位职责范围"),
                   by=story.lead)
        if story.facts.department is None:
            return
    if (when := later(6)) is None:
        return
    story.when(when, handling.acknowledge, cmd.AcknowledgeCase(), by=story.lead)
    if fate == "open" and rng.random() < 0.6:
        return
    if (when := later(20)) is None:
        return
    story.when(when, handling.note_progress,
               cmd.NoteProgress(note="已安排人员到现场处理，预计近期完成。"), by=story.lead)
    facts = story.facts
    assert facts.due_at is not None and facts.routed_at is not None  # with its department
    allowed = facts.due_at - facts.routed_at
    hours = allowed.total_seconds() / 3600 * (1.6 if fate == "late" else 0.3)
    if fate == "open" or (when := later(hours)) is None:
        story.sweep(now)
        return
    story.sweep(when)
    if fate == "late" and rng.random() < 0.5:
        story.when(when, reporting.link_story, cmd.LinkStory.model_validate({
            "title": f"{street}的问题为何迟迟没有解决？", "column": "supervision",
            "url": f"https://news.example.org/zhengzaiban/{case_id.lower()}"}), by=REPORTER)
    story.when(when, handling.resolve,
               cmd.ResolveCase(resolution="问题已处理完毕，现场已恢复正常。"), by=story.lead)
    if (when := later(20)) is None:
        return
    if fate == "unanswered":
        for clock in (policy.feedback_reminder, policy.feedback_window):  # asked again, closed
            if when + clock < now:
                story.sweep(when + clock)
        return
    if fate == "reopened":
        story.give_feedback(when, cmd.GiveFeedback(fixed=False, satisfied=False, rating=2,
                                                   comment="没过两天又坏了"))
        return
    satisfied = rng.random() < 0.9
    story.give_feedback(when, cmd.GiveFeedback(
        fixed=True, satisfied=satisfied,
        rating=rng.choice([4, 5, 5]) if satisfied else rng.choice([2, 3])))


def generate(policy: Policy, secret: SecretStr, *, now: datetime, cases: int = 300,
             seed: int = 2026, keys: KeyRing | None = None) -> Chronicle:
    """The demo city's past: the reference case and `cases` others (its `envelopes` in log
    order: each case's in order, across cases like the weeks it covers). The residents'
    personal data is sealed as intake seals it, with case keys made in `keys`."""
    rng = random.Random(seed)
    chronicle = Chronicle(policy, PRODUCER, secret, seal=(keys or KeyRing()).seal)
    reference_case(chronicle)
    for _ in range(cases):
        random_case(chronicle, rng, now, list(chronicle.histories)[-40:])
    return chronicle


# --- loading ----------------------------------------------------------------------

async def log_is_empty(settings: CommonSettings) -> bool:
    topic = Topics(settings.topic_prefix).case_events
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                **kafka_options(settings, ADMIN))
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return True
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                **kafka_options(settings, ADMIN))
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            return True
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return all(offset == 0 for offset in ends.values())
    finally:
        await consumer.stop()


async def publish(settings: CommonSettings, envelopes: Sequence[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=20, compression_type=COMPRESSION,
                                **kafka_options(settings, ADMIN))
    await producer.start()
    try:
        topic = Topics(settings.topic_prefix).case_events
        sent = [await producer.send(topic, e.to_bytes(), key=e.key()) for e in envelopes]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def demo_history(settings: CommonSettings, cases: int = 300,
                 keys: KeyRing | None = None) -> Chronicle:
    from services.routing.settings import RoutingSettings

    city = load_city(settings.config_dir)
    routing = RoutingSettings.model_validate(settings.model_dump())
    return generate(routing.policy(city), settings.secret(), now=datetime.now(UTC), cases=cases,
                    keys=keys)


async def keep_keys(settings: CommonSettings, keys: KeyRing) -> None:
    """Put the demo cases' keys in the key store, before their events reach the log."""
    client = make_client(settings)
    try:
        await keys.keep(key_store(client, settings))
    finally:
        await client.close()


def load_demo_if_new(settings: CommonSettings, cases: int = 300) -> int:
    """Publish the demo history if the case log is empty. Returns the events published."""
    if not asyncio.run(log_is_empty(settings)):
        return 0
    keys = KeyRing()
    envelopes = demo_history(settings, cases, keys).envelopes
    asyncio.run(keep_keys(settings, keys))
    asyncio.run(publish(settings, envelopes))
    return len(envelopes)
