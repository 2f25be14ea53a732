"""Case histories for the tracking stories, told with the story kit
(`services/lifecycle/history.py`: `History(case_id).given(at, *events)`).

The reference case (BRIEF.md): a resident reports on 10-06 that the traffic
lights at the gate of the Wangfufen vegetable market on Shakou Road are dark;
an officer accepts it the same day; on 10-07 a reporter visits the site and
passes it to the signal company, and a story is published; on 10-12 it is
resolved, the resident confirms and is satisfied, and the case closes.

Imported as `unit.tracking.tracking_stories` (the tests/ folder is on sys.path).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from contracts import case_events as ev
from contracts.facts import Actor, Channel, Location, Priority, Role
from contracts.personal import PersonalData, ResidentContact
from services.common.catalogue import load_city
from services.common.keys import KeyRing
from services.common.settings import REPO_ROOT
from services.lifecycle.codes import hash_tracking_code, tracking_code_for
from services.lifecycle.history import History
from services.tracking.timeline import CaseView, fold

CITY = load_city(REPO_ROOT / "deploy" / "config")
CST = timezone(timedelta(hours=8), "Asia/Shanghai")


def day(month_day: str, hour: int = 9, minute: int = 0) -> datetime:
    """A moment in 2026, Zhengzhou time: day("10-06", 9, 12)."""
    month, dom = (int(part) for part in month_day.split("-"))
    return datetime(2026, month, dom, hour, minute, tzinfo=CST)


# People in the stories. Their private details must never reach a public view.
NAME, PHONE, EMAIL = "李秀英", "13812345678", "li.xiuying@example.com"
PRIVATE_ADDRESS = "金水区文化路97号院3号楼2单元501"
OFFICER = Actor(role=Role.OFFICER, staff_id="officer-0007")
REPORTER = Actor(role=Role.REPORTER, staff_id="reporter-0042")
SUPERVISOR = Actor(role=Role.SUPERVISOR, staff_id="supervisor-0003")
SIGNAL_CO = Actor(role=Role.DEPARTMENT, department="signal-co", staff_id="signal-crew-11")
WATER_CO = Actor(role=Role.DEPARTMENT, department="water-co", staff_id="water-crew-5")
ROADS_OFFICE = Actor(role=Role.DEPARTMENT, department="roads-office", staff_id="roads-9")
SYSTEM = Actor(role=Role.SYSTEM)
STAFF_IDS = ("officer-0007", "reporter-0042", "supervisor-0003", "signal-crew-11",
             "water-crew-5", "roads-9")
PRIVATE_DETAILS = (NAME, PHONE, EMAIL, PRIVATE_ADDRESS, *STAFF_IDS)
"""What no public answer may ever contain: the resident's contact and private address, and
the staff's ids."""

STORY_TITLE = "王府坟菜市场门口红绿灯何时能点亮？"
STORY_URL = "https://news.example.org/zhengzaiban/2026/10/07/wangfufen-lights"


RING = KeyRing()
"""The data keys of the stories' cases, as intake keeps them in the key store."""


def opened(view: CaseView) -> PersonalData | None:
    """The view's personal data, opened as tracking opens it for a reader who may see it."""
    return RING.open(view.personal) if view.personal else None


def code_of(case_id: str) -> str:
    """The case's tracking code, as intake would give it (test secret)."""
    from helpers import TEST_SECRET

    return tracking_code_for(TEST_SECRET, case_id)


def submitted(case_id: str, *, category: str = "traffic-signals", district: str = "jinshui",
              street: str = "沙口路", address: str = "沙口路王府坟菜市场门口",
              description: str = "沙口路王府坟菜市场门口的红绿灯不亮了，过马路很危险。",
              priority: Priority = Priority.GENERAL, channel: Channel = Channel.WEB,
              entered_by: Actor | None = None) -> ev.CaseSubmitted:
    """As intake records it: the contact sealed, and so the place where it is private."""
    place = Location(district=district, street=street, address=address, lat=34.7995, lon=113.6390)
    entry = CITY.category(category)
    private = entry is None or not entry.address_public
    personal = PersonalData(contact=ResidentContact(name=NAME, phone=PHONE, email=EMAIL),
                            **(dict(address=address, lat=place.lat, lon=place.lon)
                               if private else {}))
    return ev.CaseSubmitted(
        category=category,
        description=description,
        location=place.model_copy(update=dict(address="", lat=None, lon=None)) if private
        else place,
        channel=channel,
        priority=priority,
        personal=RING.seal(case_id, personal),
        tracking_code_hash=hash_tracking_code(code_of(case_id)),
        media=(ev.MediaRef(url="https://media.example.org/p/dark-lights.jpg",
                           content_type="image/jpeg", size=123_456),),
        attributes={"signal_state": "dark"} if category == "traffic-signals" else {},
        entered_by=entered_by,
    )


def accepted(category: str = "traffic-signals", district: str = "jinshui",
             priority: Priority = Priority.GENERAL, **change: object) -> ev.CaseAccepted:
    return ev.CaseAccepted.model_validate(dict(
        officer=OFFICER, category=category, district=district, priority=priority, **change))


def routed(department: str, due_at: datetime, *, by: Actor = SYSTEM,
           reason: str = "accepted") -> ev.CaseRouted:
    return ev.CaseRouted.model_validate(dict(
        department=department, due_at=due_at, priority=Priority.GENERAL,
        rule="traffic-signals@*", reason=reason, by=by))


def reference_case(case_id: str = "ZB261006-WFF0-0001") -> History:
    """The reference case, 10-06 to 10-12, eight events."""
    return (
        History(case_id)
        .given(day("10-06", 9, 12), submitted(case_id))
        .given(day("10-06", 10, 5), accepted())
        .given(day("10-07", 9, 30), ev.SiteVisited(
            by=REPORTER, note="路口四个方向的信号灯全部不亮。"))
        .given(day("10-07", 10, 0), routed("signal-co", day("10-14", 10, 0), by=REPORTER))
        .given(day("10-07", 16, 0), ev.StoryPublished(
            by=REPORTER, title=STORY_TITLE, url=STORY_URL, column="inquiry"))
        .given(day("10-12", 11, 0), ev.CaseResolved(
            by=SIGNAL_CO, resolution="更换了信号控制机，四个方向的信号灯均已恢复。", on_time=True))
        .given(day("10-12", 18, 0), ev.FeedbackGiven(
            fixed=True, satisfied=True, rating=5, comment="灯亮了，谢谢记者和信号公司！"))
        .given(day("10-12", 18, 1), ev.CaseClosed(reason="confirmed"))
    )


REFERENCE_STEPS = [
    ("CaseSubmitted", "2026-10-06", "submitted"),
    ("CaseAccepted", "2026-10-06", "accepted"),
    ("SiteVisited", "2026-10-07", "accepted"),
    ("CaseRouted", "2026-10-07", "routed"),
    ("StoryPublished", "2026-10-07", "routed"),
    ("CaseResolved", "2026-10-12", "resolved"),
    ("FeedbackGiven", "2026-10-12", "resolved"),
    ("CaseClosed", "2026-10-12", "closed"),
]
"""What the public timeline of the reference case shows: type, local date, status after."""


def a_long_handling(case_id: str = "ZB261008-LONG-0003") -> History:
    """Every turn a case can take after triage, on one case."""
    return (
        History(case_id)
        .given(day("10-08", 8), submitted(case_id, category="roads", street="农业路"))
        .given(day("10-08", 9), accepted(category="water", district="jinshui",
                                         priority=Priority.UTILITIES,
                                         corrected={"category": "roads"},
                                         note="疑似水管爆裂，改为供水类",
                                         reporter_id="reporter-0042"))
        .given(day("10-08", 10), ev.ReporterAssigned(by=SUPERVISOR, reporter_id="reporter-0042"))
        .given(day("10-08", 11), routed("water-co", day("10-09", 11)))
        .given(day("10-08", 12), ev.CaseAcknowledged(by=WATER_CO, note="已派抢修班组"))
        .given(day("10-08", 13), ev.ProgressNoted(by=WATER_CO, note="已关闭阀门，正在开挖"))
        .given(day("10-08", 14), ev.ProgressNoted(by=WATER_CO, note="班组人手不足，明早继续",
                                                  public=False))
        .given(day("10-08", 15), ev.SiteVisited(by=REPORTER, note="现场围挡不规范", public=False))
        .given(day("10-08", 16), ev.CaseReturned(by=WATER_CO, reason="属于道路积水，非管网问题"))
        .given(day("10-08", 17), routed("roads-office", day("10-15", 17), reason="returned"))
        .given(day("10-09", 9), ev.CaseReassigned(by=SUPERVISOR, from_department="roads-office",
                                                  to_department="water-co",
                                                  due_at=day("10-10", 9),
                                                  reason="经核实为供水管网漏水"))
        .given(day("10-10", 9, 1), ev.CaseOverdue(due_at=day("10-10", 9), department="water-co"))
        .given(day("10-10", 9, 2), ev.CaseEscalated(reason="overdue", by=SUPERVISOR,
                                                    note="请供水公司今日办结"))
        .given(day("10-10", 15), ev.CaseResolved(by=WATER_CO, resolution="管道已修复",
                                                 on_time=False))
        .given(day("10-11", 9), ev.FeedbackGiven(fixed=False, satisfied=False, rating=2,
                                                 comment="还是在漏水"))
        .given(day("10-11", 9, 1), ev.CaseReopened(department="water-co",
                                                   priority=Priority.EMERGENCY,
                                                   due_at=day("10-11", 11), comment="还是在漏水",
                                                   was_on_time=False))
        .given(day("10-11", 10), ev.CaseResolved(by=ROADS_OFFICE, resolution="已彻底修复",
                                                 on_time=True))
        .given(day("10-18", 10), ev.CaseClosed(reason="no_answer"))
    )


def a_disputed_case(case_id: str = "ZB261006-DSP0-0007") -> History:
    """Resolved, unanswered a week (asked again), then fixed but not satisfied: a dispute;
    supervision sends it back, and the department resolves it again."""
    return (
        History(case_id)
        .given(day("10-06", 9), submitted(case_id))
        .given(day("10-06", 10), accepted())
        .given(day("10-06", 11), routed("signal-co", day("10-13", 11)))
        .given(day("10-08", 11), ev.CaseResolved(by=SIGNAL_CO, resolution="已更换灯泡",
                                                 on_time=True))
        .given(day("10-15", 11), ev.ResidentAskedAgain(resolved_at=day("10-08", 11),
                                                       closes_at=day("10-18", 11)))
        .given(day("10-16", 20), ev.FeedbackGiven(fixed=True, satisfied=False, rating=2,
                                                  comment="修了一周，没人回电话"))
        .given(day("10-16", 20), ev.CaseEscalated(reason="disputed", by=SYSTEM))
        .given(day("10-17", 9), ev.DisputeSettled(by=SUPERVISOR, outcome="reopened",
                                                  note="请信号公司回访市民并说明原因"))
        .given(day("10-17", 9), ev.CaseReopened(department="signal-co",
                                                priority=Priority.GENERAL,
                                                due_at=day("10-24", 9), was_on_time=True))
    )


def water_case(case_id: str = "ZB261008-WTR0-0002") -> History:
    """A water case: its exact address is private (catalogue: address_public false)."""
    return History(case_id).given(day("10-08", 8, 0), submitted(
        case_id, category="water", district="jinshui", street="文化路",
        address=PRIVATE_ADDRESS, description="家里停水两天了，水压一直很低。",
        priority=Priority.UTILITIES))


HANDLERS = ("signal-wang-01", "signal-li-02")
"""Handlers of signal-co (staff ids): staff see who handles a case, the public never."""


def a_handled_case(case_id: str = "ZB261006-HND0-0008") -> History:
    """Routed to signal-co, whose coordinator gives it to a handler, then hands it on."""
    return (
        History(case_id)
        .given(day("10-06", 9), submitted(case_id))
        .given(day("10-06", 10), accepted())
        .given(day("10-06", 11), routed("signal-co", day("10-13", 11)))
        .given(day("10-06", 12), ev.HandlerAssigned(by=SIGNAL_CO, handler=HANDLERS[0]))
        .given(day("10-06", 13), ev.CaseAcknowledged(by=SIGNAL_CO))
        .given(day("10-07", 9), ev.HandlerAssigned(by=SIGNAL_CO, handler=HANDLERS[1],
                                                   previous=HANDLERS[0]))
    )


def project(history: History) -> CaseView:
    """The case's view after its whole history (tracking's projection, as a replay builds it)."""
    view = fold(None, history.envelopes)
    assert view is not None
    return view
