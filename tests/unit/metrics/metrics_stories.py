"""Case histories for the metrics stories, told with the story kit
(`services/lifecycle/history.py`).

`History(case_id).given(at, *events)` records one case step by step at chosen
times. `city_of_cases` makes
many cases through the lifecycle — submitted -> accepted -> routed ->
acknowledged -> resolved (-> feedback -> closed) — with plausible times,
spread over categories, districts, channels and departments, so that exactly
`resolved` of `received` cases end resolved. `lean_cases` does the same with
as few events as a resolution needs (submitted, resolved), for big counts.

Imported as `unit.metrics.metrics_stories` (the tests/ folder is on sys.path).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from contracts import case_events as ev
from contracts.envelope import Envelope
from contracts.facts import Actor, Channel, Location, Priority, Role
from services.lifecycle.history import History, desk, in_log_order

CST = timezone(timedelta(hours=8), "Asia/Shanghai")
OFFICER = Actor(role=Role.OFFICER, staff_id="officer-1")
SYSTEM = Actor(role=Role.SYSTEM)

CATEGORIES = ("traffic-signals", "roads", "water", "power", "gas", "heating", "consumer",
              "rights", "inquiry")
DISTRICTS = ("zhongyuan", "erqi", "guancheng", "jinshui", "shangjie", "huiji", "zhengdong",
             "gaoxin", "jingkai", "hangkonggang")
CHANNELS = (Channel.WEB, Channel.APP, Channel.HOTLINE, Channel.WEIBO, Channel.WECHAT)
DEPARTMENT_OF = {"traffic-signals": "signal-co", "roads": "roads-office", "water": "water-co",
                 "power": "power-co", "gas": "gas-co", "heating": "heating-co",
                 "consumer": "market-regulation", "rights": "human-resources",
                 "inquiry": "newsroom"}


def at(month_day: str, hour: int = 9, minute: int = 0) -> datetime:
    """A moment in 2026, Zhengzhou time: at("10-06", 9, 12)."""
    month, dom = (int(part) for part in month_day.split("-"))
    return datetime(2026, month, dom, hour, minute, tzinfo=CST)


def submitted(category: str = "traffic-signals", district: str = "jinshui",
              channel: Channel = Channel.WEB,
              priority: Priority = Priority.GENERAL) -> ev.CaseSubmitted:
    return ev.CaseSubmitted(
        category=category,
        description="路口的红绿灯不亮了，过马路很危险。",
        location=Location(district=district, street="沙口路"),
        channel=channel,
        priority=priority,
        tracking_code_hash="0" * 64,
    )


def accepted(category: str = "traffic-signals", district: str = "jinshui",
             priority: Priority = Priority.GENERAL,
             corrected: dict[str, str] | None = None) -> ev.CaseAccepted:
    return ev.CaseAccepted(officer=OFFICER, category=category, district=district,
                           priority=priority, corrected=corrected or {})


def routed(to: str, due_at: datetime, reason: str = "accepted") -> ev.CaseRouted:
    return ev.CaseRouted.model_validate(dict(
        department=to, due_at=due_at, priority=Priority.GENERAL, rule="test", reason=reason,
        by=SYSTEM))


def acknowledged(by: str) -> ev.CaseAcknowledged:
    return ev.CaseAcknowledged(by=desk(by))


def resolved(by: str, on_time: bool = True) -> ev.CaseResolved:
    return ev.CaseResolved(by=desk(by), resolution="已修复。", on_time=on_time)


def feedback(satisfied: bool = True, fixed: bool = True, rating: int = 5) -> ev.FeedbackGiven:
    return ev.FeedbackGiven(fixed=fixed, satisfied=satisfied, rating=rating)


def reopened(to: str, due_at: datetime, was_on_time: bool | None) -> ev.CaseReopened:
    return ev.CaseReopened(department=to, priority=Priority.UTILITIES, due_at=due_at,
                           was_on_time=was_on_time)


def closed(reason: str = "confirmed") -> ev.CaseClosed:
    return ev.CaseClosed.model_validate({"reason": reason})


# --- many cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What the figures must say about a generated city of cases."""

    received: int
    resolved: int
    on_time: int
    feedback: int
    satisfied: int
    events: int


def case_number(index: int, prefix: str = "ZBT") -> str:
    return f"{prefix}{index:07d}"


def _dimensions(rng: random.Random) -> tuple[str, str, Channel]:
    return rng.choice(CATEGORIES), rng.choice(DISTRICTS), rng.choice(CHANNELS)


def city_of_cases(received: int, resolved_count: int, *, seed: int = 4314,
                  prefix: str = "ZBF") -> tuple[list[Envelope], Expected]:
    """`received` cases over the 60 days up to 2026-10-12, `resolved_count` of them resolved.

    Resolved cases go submitted -> accepted -> routed -> acknowledged ->
    resolved, and four in five of those answer feedback and close. The others
    stop somewhere on the way: rejected at triage, waiting for triage,
    accepted, routed or acknowledged.
    """
    rng = random.Random(seed)
    chosen = set(rng.sample(range(received), resolved_count))
    envelopes: list[Envelope] = []
    on_time = answers = satisfied_count = 0
    start = at("08-13", 0, 0)
    for index in range(received):
        category, district, channel = _dimensions(rng)
        lead = DEPARTMENT_OF[category]
        when = start + timedelta(minutes=rng.randrange(60 * 24 * 58))
        story = History(case_number(index, prefix)).given(
            when, submitted(category, district, channel))
        stop = None if index in chosen else rng.choice(
            ("rejected", "submitted", "accepted", "routed", "acknowledged"))
        if stop == "submitted":
            envelopes += story.envelopes
            continue
        when += timedelta(minutes=rng.randrange(5, 240))
        if stop == "rejected":
            story.given(when, ev.CaseRejected(officer=OFFICER, reason="不属于受理范围"))
            envelopes += story.envelopes
            continue
        story.given(when, accepted(category, district))
        if stop == "accepted":
            envelopes += story.envelopes
            continue
        when += timedelta(minutes=rng.randrange(1, 30))
        due = when + timedelta(days=7)
        story.given(when, routed(lead, due))
        if stop == "routed":
            envelopes += story.envelopes
            continue
        when += timedelta(minutes=rng.randrange(10, 60 * 24))
        story.given(when, acknowledged(lead))
        if stop == "acknowledged":
            envelopes += story.envelopes
            continue
        when += timedelta(minutes=rng.randrange(30, 60 * 24 * 9))
        in_time = when <= due
        on_time += in_time
        story.given(when, resolved(lead, on_time=in_time))
        if rng.random() < 0.8:
            happy = rng.random() < 0.85
            answers += 1
            satisfied_count += happy
            when += timedelta(hours=rng.randrange(1, 48))
            story.given(when, feedback(satisfied=happy), closed())
        envelopes += story.envelopes
    return envelopes, Expected(received, resolved_count, on_time, answers, satisfied_count,
                               len(envelopes))


def lean_story(case_id: str, category: str, district: str, channel: Channel,
               submitted_at: datetime, resolved_at: datetime | None) -> History:
    """A case with as few events as the counts need: submitted, and maybe resolved."""
    story = History(case_id).given(submitted_at, submitted(category, district, channel))
    if resolved_at is not None:
        story.given(resolved_at, resolved(DEPARTMENT_OF[category]))
    return story


def lean_cases(received: int, resolved_count: int, *, seed: int = 30148,
               prefix: str = "ZBL", over_days: int = 180) -> tuple[list[Envelope], Expected]:
    """`received` cases with as few events as the counts need, `resolved_count` resolved,
    submitted over `over_days` days from 2026-04-01.

    Each kind of case is told once (`lean_story`) and retold by copying for the
    others (`History.retold`); a unit test checks both give the same.
    """
    rng = random.Random(seed)
    chosen = set(rng.sample(range(received), resolved_count))
    envelopes: list[Envelope] = []
    start = at("04-01", 0, 0)
    kinds: dict[tuple[str, str, Channel, bool], History] = {}
    for index in range(received):
        category, district, channel = _dimensions(rng)
        when = start + timedelta(minutes=rng.randrange(60 * 24 * over_days))
        done = when + timedelta(hours=rng.randrange(1, 24 * 10)) if index in chosen else None
        kind = (category, district, channel, done is not None)
        if kind not in kinds:
            kinds[kind] = lean_story("ZB-KIND", category, district, channel, at("01-01"),
                                     at("01-02") if done else None)
        times = [when] if done is None else [when, done]
        envelopes += kinds[kind].retold(case_number(index, prefix), times)
    return envelopes, Expected(received, resolved_count, resolved_count, 0, 0, len(envelopes))


def interleaved(envelopes: list[Envelope]) -> Iterator[Envelope]:
    """The envelopes in the order they happened (each case's stay in order)."""
    return iter(in_log_order(envelopes))
