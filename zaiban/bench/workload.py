"""The load: what residents submit, and case histories written by the real deciders.

Submissions are valid `SubmitCase` bodies from the city's own catalogue, so
intake does its full work on each. Histories are lives of cases told with the
lifecycle's story kit (`services/lifecycle/history.py`: the same decisions the
services make) at chosen times, by the producer `history:bench` (routing keeps
them as the past and reacts to none).

A history is `cases` cases received over the months since April, of which
`resolved` are taken through the whole lifecycle — submitted, accepted,
routed by the dispatch rules, acknowledged, progress noted, resolved, and
confirmed by the resident (closed) — and the others stop on the way
(submitted, routed, or acknowledged). So a read model that sees all of it
must say: received `cases`, resolved `resolved` (辦結), the rate their ratio.

A varied history (`varied_history`, for the lists and searches of `bench reads`) is
`cases` cases over the year up to a given day, each with a fate drawn at random: every
status (rejected and merged at triage, accepted for a reporter, returned to the officers,
routed, acknowledged, resolved, disputed, closed), reporters (`ReporterAssigned`) and
handlers (`HandlerAssigned`) on some, cases under supervision by hand, and open cases whose
deadlines ran out marked overdue as the deadline sweeps would mark them. Descriptions say
common things in whole sentences (红绿灯, 路灯, 井盖, 暖气, some with Latin letters and
digits), so a search finds words inside them.

Writing 200,000 events through pydantic takes a while, so histories are
generated on every core and kept under `.zaiban/bench/cache/` (as the bytes
the log will hold): a second run with the same sizes starts publishing at once.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from contracts import case_commands as cmd
from contracts.envelope import HISTORY_PRODUCER_PREFIX
from contracts.facts import Actor, CaseStatus, Role
from contracts.topics import Topics
from services.common.catalogue import CityConfig, load_city
from services.common.kafka import ADMIN, COMPRESSION, kafka_options
from services.common.keys import KeyRing
from services.common.settings import REPO_ROOT, CommonSettings
from services.intake.numbers import ALPHABET
from services.lifecycle import (
    assigning,
    handling,
    reporting,
    returning,
    supervision,
    triage,
)
from services.lifecycle.history import Chronicle
from services.lifecycle.history import History as Story
from services.lifecycle.policy import Policy
from zaiban.demo import OFFICER, PROBLEMS, STREETS, SURNAMES

PRODUCER = f"{HISTORY_PRODUCER_PREFIX}bench"
HISTORY_SECRET = SecretStr("zaiban-bench-histories-only-not-a-real-secret")
CACHE = REPO_ROOT / ".zaiban" / "bench" / "cache"
VARIED_FORMAT = 1  # likewise, for varied histories
FORMAT = 3  # bump when the bytes of generated histories change (2: causes `bench/...`,
#            3: personal data sealed, CaseSubmitted v2)
SINCE = datetime(2026, 4, 1, tzinfo=UTC)
SPAN = timedelta(days=180)

Record = tuple[bytes, bytes]
"""(key, value) of one log record: the case id, the envelope's JSON."""


# --- what residents submit -------------------------------------------------------------


def routable(city: CityConfig) -> list[tuple[str, str]]:
    """(category, district) pairs the dispatch rules send somewhere."""
    return [(c.code, d.code) for c in city.categories for d in city.districts
            if city.rule_for(c.code, d.code) is not None]


def submission(city: CityConfig, rng: random.Random, *, category: str | None = None,
               district: str | None = None, channel: str | None = None) -> dict[str, Any]:
    """A valid submission body, as a resident's browser would send it."""
    chosen = city.category(category) if category else rng.choice(city.categories)
    assert chosen is not None
    place = city.district(district) if district else rng.choice(city.districts)
    assert place is not None
    street, cross = rng.sample(STREETS, 2)
    lat, lon = place.center
    problems = PROBLEMS.get(chosen.code) or ("{street}附近有问题需要处理。",)
    return {
        "category": chosen.code,
        "description": rng.choice(problems).format(street=street, cross=cross),
        "location": {"district": place.code, "street": f"{street}{rng.randint(1, 300)}号附近",
                     "lat": round(lat + rng.uniform(-0.02, 0.02), 5),
                     "lon": round(lon + rng.uniform(-0.02, 0.02), 5)},
        "channel": channel or rng.choice(["web", "app"]),
        "attributes": {a.code: a.values[0].key for a in chosen.attributes
                       if a.required and a.values},
        "contact": {"name": f"{rng.choice(SURNAMES)}女士", "phone": f"137{rng.randint(0, 10**8):08d}"}
        if rng.random() < 0.7 else None,
    }


def submissions(city: CityConfig, count: int, seed: int = 8) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [submission(city, rng) for _ in range(count)]


# --- histories ----------------------------------------------------------------------------

STAGES = ("submitted", "routed", "acknowledged")
"""Where the unresolved cases stop, in turn."""


@dataclass(frozen=True)
class History:
    """Records for the log, in the order they happened, and what they add up to."""

    records: list[Record]
    cases: int
    resolved: int

    @property
    def events(self) -> int:
        return len(self.records)


def is_resolved(index: int, cases: int, resolved: int) -> bool:
    """Spread `resolved` of `cases` evenly over the indexes 0..cases-1."""
    return (index + 1) * resolved // cases > index * resolved // cases


def case_id_for(index: int, at: datetime) -> str:
    """A well-formed case number, unique by index (40 bits of it, in the case alphabet)."""
    chars = "".join(ALPHABET[(index >> (5 * i)) & 31] for i in range(8))[::-1]
    return f"ZB{(at + timedelta(hours=8)).strftime('%y%m%d')}-{chars[:4]}-{chars[4:]}"


def _policy(settings: CommonSettings) -> tuple[CityConfig, Policy]:
    from services.routing.settings import RoutingSettings

    city = load_city(settings.config_dir)
    routing = RoutingSettings.model_validate(settings.model_dump())
    return city, routing.policy(city)


def live_one(chronicle: Chronicle, index: int, cases: int, resolved: int,
             pairs: Sequence[tuple[str, str]], rng: random.Random) -> None:
    """One case's life: all of it if it is among the resolved, else up to a stage."""
    at = SINCE + SPAN * index / cases
    category, district = pairs[index % len(pairs)]
    story = chronicle.of(case_id_for(index, at))
    body = submission(chronicle.policy.city, rng, category=category, district=district,
                      channel=rng.choice(["web", "app", "hotline", "wechat", "weibo"]))
    story.submit(at, cmd.SubmitCase.model_validate(body))
    done = is_resolved(index, cases, resolved)
    # the n-th unresolved case stops at the n-th stage, in turn
    stage = None if done else STAGES[(index - index * resolved // cases) % len(STAGES)]
    if stage == "submitted":
        return
    at += timedelta(hours=rng.uniform(0.2, 6))
    story.accept(at, cmd.AcceptCase(), by=OFFICER)
    if stage == "routed":
        return
    lead = story.lead
    at += timedelta(hours=rng.uniform(0.5, 8))
    story.when(at, handling.acknowledge, cmd.AcknowledgeCase(), by=lead)
    if stage == "acknowledged":
        return
    at += timedelta(hours=rng.uniform(1, 20))
    story.when(at, handling.note_progress,
               cmd.NoteProgress(note="已安排人员到现场处理，预计近期完成。"), by=lead)
    at += timedelta(hours=rng.uniform(1, 30))
    story.when(at, handling.resolve, cmd.ResolveCase(resolution="问题已处理完毕，现场已恢复正常。"),
               by=lead)
    at += timedelta(hours=rng.uniform(1, 48))
    satisfied = rng.random() < 0.9
    story.give_feedback(at, cmd.GiveFeedback(
        fixed=True, satisfied=satisfied,
        rating=rng.choice([4, 5, 5]) if satisfied else rng.choice([2, 3])))


# --- a varied history: what the lists and searches need --------------------------------------

REPORTERS = tuple(f"reporter-{n:02d}" for n in range(1, 7))
"""The newsroom's reporters (their staff ids: the subjects of their tokens)."""
HANDLERS = tuple(f"handler-{n}" for n in range(1, 4))
"""Each department's handlers (staff ids, the same in every department)."""
SUPERVISOR = Actor(role=Role.SUPERVISOR, staff_id="supervisor-bench")
YEAR = timedelta(days=365)

SAYINGS: tuple[str, ...] = (
    "{street}与{cross}路口的红绿灯坏了，早晚高峰车辆乱成一团。",
    "{street}靠近{cross}的路灯晚上一直不亮，走夜路很不安全。",
    "{street}人行道上的井盖松动了，踩上去咣当响，怕有人掉下去。",
    "{street}小区今年的暖气不热，家里只有十五度，老人受不了。",
    "{street}公交站的LED显示屏坏了，一直显示乱码。",
    "{street}地铁3号线B口的电梯停运两周了，推婴儿车很不方便。",
    "{street}上有辆车牌豫A的货车长期占用消防通道。",
    "{street}附近共享单车乱停，挡住了盲道。",
    "{street}的红绿灯和路灯都是坏的，晚上过马路看不清。",
)
"""Bench descriptions, each with a common word in a sentence (and a few Latin letters and
digits), told beside the catalogue's own (`demo.PROBLEMS`)."""

FATES: tuple[tuple[str, int], ...] = (
    ("submitted", 6), ("rejected", 3), ("merged", 2), ("with reporter", 4), ("returned", 3),
    ("routed", 8), ("acknowledged", 12), ("resolved", 5), ("disputed", 2), ("closed", 55))
"""How far a varied case's life goes, and how often (weights)."""


def varied_one(chronicle: Chronicle, index: int, cases: int, since: datetime, until: datetime,
               pairs: Sequence[tuple[str, str]], rng: random.Random) -> None:
    """One case of a varied history (see the module doc): its life up to its fate, every
    step before `until`."""
    at = since + (until - since) * index / cases
    category, district = rng.choice(pairs)
    story = chronicle.of(case_id_for(index, at))
    body = submission(chronicle.policy.city, rng, category=category, district=district,
                      channel=rng.choice(["web", "app", "hotline", "wechat", "weibo"]))
    if rng.random() < 0.6:
        street, cross = rng.sample(STREETS, 2)
        body["description"] = rng.choice(SAYINGS).format(street=street, cross=cross)
    story.submit(at, cmd.SubmitCase.model_validate(body))
    fate = rng.choices([name for name, _ in FATES], weights=[w for _, w in FATES])[0]
    steps = _Steps(story, at, until, rng)
    if fate == "submitted" or not steps.next(2):
        steps.maybe_overdue()
        return
    if fate == "rejected":
        story.when(steps.at, triage.reject, cmd.RejectCase(reason="不属于平台受理范围"),
                   by=OFFICER)
        return
    if fate == "merged":
        earlier = [h for h in list(chronicle.histories.values())[-30:-1]
                   if h.facts.status not in (CaseStatus.MERGED, CaseStatus.REJECTED)]
        if earlier:
            original = rng.choice(earlier).case
            story.when(steps.at, partial(triage.merge, into=original),
                       cmd.MergeCase(into_case_id=original.case_id), by=OFFICER)
            return
    reporter = rng.choice(REPORTERS)
    if fate == "with reporter":
        story.accept(steps.at, cmd.AcceptCase(reporter_id=reporter), by=OFFICER)
        steps.maybe_escalate()
        return
    story.accept(steps.at, cmd.AcceptCase(), by=OFFICER)
    if story.facts.department is None:
        return
    if rng.random() < 0.15 and steps.next(4):
        story.when(steps.at, reporting.assign_reporter,
                   cmd.AssignReporter(reporter_id=reporter), by=OFFICER)
    if fate == "returned" and steps.next(8):
        story.when(steps.at, returning.return_case, cmd.ReturnCase(reason="不属于本单位职责范围"),
                   by=story.lead)
        if story.facts.department is None:
            return
    if rng.random() < 0.4 and steps.next(3):
        coordinator = Actor(role=Role.DEPARTMENT, department=story.facts.department,
                            staff_id=f"{story.facts.department}-coordinator")
        story.when(steps.at, partial(assigning.assign_handler, coordinator=True),
                   cmd.AssignHandler(handler=rng.choice(HANDLERS)), by=coordinator)
    if fate in ("routed", "returned") or not steps.next(6):
        steps.maybe_escalate()
        steps.maybe_overdue()
        return
    story.when(steps.at, handling.acknowledge, cmd.AcknowledgeCase(), by=story.lead)
    if fate == "acknowledged" or not steps.next(30):
        steps.maybe_escalate()
        steps.maybe_overdue()
        return
    story.when(steps.at, handling.resolve,
               cmd.ResolveCase(resolution="问题已处理完毕，现场已恢复正常。"), by=story.lead)
    if fate == "resolved" or not steps.next(24):
        return
    satisfied = fate != "disputed" and rng.random() < 0.95
    story.give_feedback(steps.at, cmd.GiveFeedback(
        fixed=True, satisfied=satisfied,
        rating=rng.choice([4, 5, 5]) if satisfied else rng.choice([2, 3])))


@dataclass
class _Steps:
    """A varied case's clock: each step some hours after the last, none after `until`."""

    story: Story
    at: datetime
    until: datetime
    rng: random.Random

    def next(self, hours: float) -> bool:
        """Move on about `hours` (half to one and a half of it); False past `until`."""
        self.at += timedelta(hours=hours * self.rng.uniform(0.5, 1.5))
        return self.at < self.until

    def maybe_escalate(self) -> None:
        """One open case in twelve is taken under supervision by hand."""
        if self.rng.random() < 1 / 12 and self.at < self.until:
            self.story.when(self.at, supervision.escalate, cmd.EscalateCase(), by=SUPERVISOR)

    def maybe_overdue(self) -> None:
        """Half the open cases are swept at `until`: those whose deadline passed are overdue
        (and go to supervision), as the deadline sweeps would have marked them."""
        if self.rng.random() < 0.5:
            self.story.sweep(self.until)


def _generate_part(config_dir: str, start: int, stop: int, cases: int, resolved: int,
                   seed: int, period: tuple[datetime, datetime] | None = None,
                   ) -> list[tuple[float, str, int, bytes]]:
    """Cases start..stop-1 (a worker process's share): (when, case, seq, envelope JSON).
    With a `period` (since, until), a varied history's cases (`varied_one`)."""
    settings = CommonSettings(config_dir=Path(config_dir), auth_secret=HISTORY_SECRET)
    city, policy = _policy(settings)
    # sealed as intake seals it (the projections carry the sealed bytes); keys thrown away
    chronicle = Chronicle(policy, PRODUCER, HISTORY_SECRET, seal=KeyRing().seal)
    pairs = routable(city)
    for index in range(start, stop):
        rng = random.Random(seed * 1_000_003 + index)
        if period is None:
            live_one(chronicle, index, cases, resolved, pairs, rng)
        else:
            varied_one(chronicle, index, cases, *period, pairs, rng)
    return [(e.occurred_at.timestamp(), e.case_id, e.seq, e.to_bytes())
            for story in chronicle.histories.values() for e in story.envelopes]


def _cache_path(cases: int, resolved: int, seed: int, period: tuple[datetime, datetime] | None
                ) -> Path:
    if period is None:
        return CACHE / f"histories-v{FORMAT}-{cases}-{resolved}-{seed}.bin.gz"
    since, until = (moment.strftime("%Y%m%d") for moment in period)
    return CACHE / f"varied-v{VARIED_FORMAT}-{cases}-{since}-{until}-{seed}.bin.gz"


def _read_cache(path: Path) -> list[Record]:
    records: list[Record] = []
    with gzip.open(path, "rb") as stream:
        for line in stream:
            key, _, value = line.rstrip(b"\n").partition(b"\t")
            records.append((key, value))
    return records


def _write_cache(path: Path, records: list[Record]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial_path = path.with_suffix(".partial")
    with gzip.open(partial_path, "wb", compresslevel=1) as stream:
        for key, value in records:
            stream.write(key + b"\t" + value + b"\n")
    partial_path.replace(path)


def history(settings: CommonSettings, cases: int, resolved: int, *, seed: int = 2026,
            progress: Callable[[int, int], None] | None = None, cache: bool = True) -> History:
    """Histories of `cases` cases, `resolved` of them resolved (see the module doc)."""
    if not 0 <= resolved <= cases:
        raise ValueError(f"resolved ({resolved}) must be between 0 and cases ({cases})")
    records = _told(settings, cases, resolved, seed, None, progress, cache)
    return History(records, cases, resolved)


def varied_history(settings: CommonSettings, cases: int, *, until: datetime,
                   seed: int = 2026, progress: Callable[[int, int], None] | None = None,
                   cache: bool = True) -> list[Record]:
    """The records of a varied history (see the module doc): `cases` cases submitted over the
    year up to `until`, in log order."""
    return _told(settings, cases, 0, seed, (until - YEAR, until), progress, cache)


def _told(settings: CommonSettings, cases: int, resolved: int, seed: int,
          period: tuple[datetime, datetime] | None,
          progress: Callable[[int, int], None] | None, cache: bool) -> list[Record]:
    """The records of a history told on every core (or read from the cache)."""
    path = _cache_path(cases, resolved, seed, period)
    if cache and path.exists():
        return _read_cache(path)
    workers = max(1, min(os.cpu_count() or 1, 8))
    chunk = max(1, min(2000, -(-cases // workers)))
    parts = [(start, min(start + chunk, cases)) for start in range(0, cases, chunk)]
    rows: list[tuple[float, str, int, bytes]] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_generate_part, str(settings.config_dir), start, stop, cases,
                               resolved, seed, period) for start, stop in parts]
        done = 0
        for (start, stop), future in zip(parts, futures, strict=True):
            rows += future.result()
            done += stop - start
            if progress is not None:
                progress(done, cases)
    # each case's events stay in order; across cases the log reads like the months it covers
    rows.sort(key=lambda row: (row[0], row[1], row[2]))
    records = [(case_id.encode(), value) for _, case_id, _, value in rows]
    if cache:
        _write_cache(path, records)
    return records


# --- putting records in the log ------------------------------------------------------------


async def publish(settings: CommonSettings, records: Sequence[Record], *, topic: str | None = None,
                  progress: Callable[[int], None] | None = None) -> None:
    """Append records to the case event log as fast as the producer batches them (acks=all)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=20,
                                max_batch_size=512 * 1024, compression_type=COMPRESSION,
                                **kafka_options(settings, ADMIN))
    await producer.start()
    try:
        target = topic or Topics(settings.topic_prefix).case_events
        pending = []
        for number, (key, value) in enumerate(records, 1):
            pending.append(await producer.send(target, value, key=key))
            if number % 5000 == 0:
                await asyncio.gather(*pending)
                pending.clear()
                if progress is not None:
                    progress(number)
        await asyncio.gather(*pending)
        if progress is not None:
            progress(len(records))
    finally:
        await producer.stop()
