"""What a resident is told when their case moves, in their language. Pure: no I/O.

A resident who agreed to be told hears of these events of their case, and of no other:
accepted or rejected (with the reason), routed or moved to another department (to whom,
by when), a reporter's public visit, a published story, resolved (with the one link to
answer "fixed? satisfied?": the case page with their tracking code), reopened, closed.
Each message says the case number, links to the case page, and ends with the link that
stops every further message about the case.

Every text here is public already (the timeline shows it); the contact is not in the
message: the channel adds the address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from contracts.envelope import Envelope
from services.common.catalogue import CityConfig, Language

TOLD = ("CaseAccepted", "CaseRejected", "CaseRouted", "CaseReassigned", "SiteVisited",
        "StoryPublished", "CaseResolved", "CaseReopened", "CaseClosed")
"""The events a resident is told of."""


def tells(envelope: Envelope) -> bool:
    """Whether the resident is told of this event (a visit only when it is public)."""
    if envelope.type not in TOLD or envelope.is_history:
        return False
    return envelope.type != "SiteVisited" or bool(envelope.data.get("public", True))


@dataclass(frozen=True)
class Links:
    case: str
    """The case page (public view)."""
    answer: str
    """The case page with the resident's tracking code: where they say fixed? satisfied?"""
    stop: str
    """The signed one-click link that stops every further message about the case."""


@dataclass(frozen=True)
class Notice:
    """One event to tell, as the ledger keeps it (public data only)."""

    case_id: str
    type: str
    data: dict[str, Any]
    occurred_at: datetime
    language: Language


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    """The email's body."""
    sms: str
    """The SMS: one line and the links it needs."""


_WORDS: dict[Language, dict[str, str]] = {
    "zh-Hans": {
        "subject": "您的诉求 {case}：{what}",
        "CaseAccepted": "已受理",
        "CaseRejected": "未予受理",
        "CaseRouted": "已转交 {department} 办理",
        "CaseReassigned": "已改由 {department} 办理",
        "SiteVisited": "记者已到现场",
        "StoryPublished": "记者发布了报道",
        "CaseResolved": "已办结，请您评价",
        "CaseReopened": "已重新办理",
        "CaseClosed": "已结案",
        "reason": "原因：{reason}",
        "due": "办理时限：{due} 前。",
        "note": "现场记录：{note}",
        "story": "《{title}》 {url}",
        "resolution": "办理结果：{resolution}",
        "answer": "问题解决了吗？您满意吗？请点此告诉我们：\n{url}",
        "closed_confirmed": "感谢您的确认。",
        "closed_no_answer": "我们未收到您的评价，案件已按时结案。",
        "follow": "查看办理进度：\n{url}",
        "stop": "不想再收到此案件的通知？点此退订：\n{url}",
        "sms_stop": "退订 {url}",
    },
    "zh-Hant": {
        "subject": "您的訴求 {case}：{what}",
        "CaseAccepted": "已受理",
        "CaseRejected": "未予受理",
        "CaseRouted": "已轉交 {department} 辦理",
        "CaseReassigned": "已改由 {department} 辦理",
        "SiteVisited": "記者已到現場",
        "StoryPublished": "記者發佈了報道",
        "CaseResolved": "已辦結，請您評價",
        "CaseReopened": "已重新辦理",
        "CaseClosed": "已結案",
        "reason": "原因：{reason}",
        "due": "辦理時限：{due} 前。",
        "note": "現場記錄：{note}",
        "story": "《{title}》 {url}",
        "resolution": "辦理結果：{resolution}",
        "answer": "問題解決了嗎？您滿意嗎？請點此告訴我們：\n{url}",
        "closed_confirmed": "感謝您的確認。",
        "closed_no_answer": "我們未收到您的評價，案件已按時結案。",
        "follow": "查看辦理進度：\n{url}",
        "stop": "不想再收到此案件的通知？點此退訂：\n{url}",
        "sms_stop": "退訂 {url}",
    },
    "en": {
        "subject": "Your request {case}: {what}",
        "CaseAccepted": "accepted",
        "CaseRejected": "not accepted",
        "CaseRouted": "sent to {department}",
        "CaseReassigned": "moved to {department}",
        "SiteVisited": "a reporter visited the site",
        "StoryPublished": "a story was published",
        "CaseResolved": "resolved, tell us",
        "CaseReopened": "being handled again",
        "CaseClosed": "closed",
        "reason": "Reason: {reason}",
        "due": "To be handled by {due}.",
        "note": "On site: {note}",
        "story": "“{title}” {url}",
        "resolution": "What was done: {resolution}",
        "answer": "Is it fixed? Are you satisfied? Tell us here: {url}",
        "closed_confirmed": "Thank you for confirming.",
        "closed_no_answer": "We did not hear from you, so the case was closed in time.",
        "follow": "Follow your request: {url}",
        "stop": "No more messages about this request: {url}",
        "sms_stop": "Stop: {url}",
    },
}


def _when(moment: str | datetime, tz: tzinfo) -> str:
    at = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def render(notice: Notice, city: CityConfig, tz: tzinfo, links: Links) -> Message:
    """The message telling `notice`, in its language."""
    words = _WORDS[notice.language]
    data = notice.data
    department_code = data.get("department") or data.get("to_department")
    department = ""
    if department_code:
        known = city.department(str(department_code))
        department = known.names.in_(notice.language) if known else str(department_code)
    what = words[notice.type].format(department=department)
    subject = words["subject"].format(case=notice.case_id, what=what)

    details: list[str] = []
    if notice.type in ("CaseRejected", "CaseReassigned") and data.get("reason"):
        details.append(words["reason"].format(reason=data["reason"]))
    if notice.type in ("CaseRouted", "CaseReassigned", "CaseReopened") and data.get("due_at"):
        details.append(words["due"].format(due=_when(data["due_at"], tz)))
    if notice.type == "SiteVisited":
        details.append(words["note"].format(note=data.get("note", "")))
    if notice.type == "StoryPublished":
        details.append(words["story"].format(title=data.get("title", ""),
                                             url=data.get("url", "")))
    if notice.type == "CaseResolved":
        details.append(words["resolution"].format(resolution=data.get("resolution", "")))
        details.append(words["answer"].format(url=links.answer))
    if notice.type == "CaseClosed":
        details.append(words["closed_confirmed" if data.get("reason") == "confirmed"
                             else "closed_no_answer"])

    follow = [] if notice.type == "CaseResolved" else [words["follow"].format(url=links.case)]
    text = "\n\n".join([subject, *details, *follow, "--", words["stop"].format(url=links.stop)])
    sms_parts = [subject]
    if notice.type == "CaseResolved":
        sms_parts.append(links.answer)
    elif notice.type == "CaseRejected" and data.get("reason"):
        sms_parts.append(words["reason"].format(reason=data["reason"]))
    elif notice.type in ("CaseRouted", "CaseReassigned", "CaseReopened") and data.get("due_at"):
        sms_parts.append(words["due"].format(due=_when(data["due_at"], tz)))
    sms_parts.append(words["sms_stop"].format(url=links.stop))
    return Message(subject=subject, text=text + "\n", sms=" ".join(sms_parts))


# --- area alerts (services/notify/subscriptions.py): public data only ----------------------

_ALERTS: dict[Language, dict[str, str]] = {
    "zh-Hans": {"confirm_subject": "请确认订阅：{area}",
                "confirm": "有人（希望是您）用此邮箱订阅了{area}的新诉求和已办结诉求。\n\n"
                           "确认订阅请打开：\n{url}\n\n如果不是您，请忽略本邮件，不会再收到任何邮件。",
                "new": "新诉求", "resolved": "已办结", "subject": "[{area}] {what} {case}：{category}",
                "body": "{what}：{case}\n类别：{category}\n区域：{district}\n\n查看：\n{url}",
                "stop": "退订此提醒：\n{url}"},
    "zh-Hant": {"confirm_subject": "請確認訂閱：{area}",
                "confirm": "有人（希望是您）用此電子郵件訂閱了{area}的新訴求和已辦結訴求。\n\n"
                           "確認訂閱請打開：\n{url}\n\n如果不是您，請忽略本郵件，不會再收到任何郵件。",
                "new": "新訴求", "resolved": "已辦結", "subject": "[{area}] {what} {case}：{category}",
                "body": "{what}：{case}\n類別：{category}\n區域：{district}\n\n查看：\n{url}",
                "stop": "退訂此提醒：\n{url}"},
    "en": {"confirm_subject": "Please confirm your alerts for {area}",
           "confirm": "Someone (you, we hope) asked for the new and resolved requests of {area} "
                      "at this address.\n\nTo confirm, open: {url}\n\nIf it was not you, ignore "
                      "this email: nothing more will come.",
           "new": "New request", "resolved": "Resolved", "subject": "[{area}] {what} {case}: "
                                                                    "{category}",
           "body": "{what}: {case}\nCategory: {category}\nDistrict: {district}\n\nSee: {url}",
           "stop": "Stop these alerts: {url}"},
}


def render_confirmation(area: str, language: Language, confirm: str, stop: str) -> Message:
    """The double opt-in's email: the link that confirms (and nothing else happens without)."""
    words = _ALERTS[language]
    subject = words["confirm_subject"].format(area=area)
    text = words["confirm"].format(area=area, url=confirm)
    return Message(subject=subject, text=f"{text}\n", sms="")


def render_alert(notice: Notice, area: str, city: CityConfig, links: Links) -> Message:
    """An area alert: a case of the area is new (accepted) or resolved; public facts only."""
    words = _ALERTS[notice.language]
    category = city.category(str(notice.data.get("category", "")))
    district = city.district(str(notice.data.get("district", "")))
    facts = {
        "what": words[str(notice.data.get("kind", "new"))], "case": notice.case_id,
        "category": category.names.in_(notice.language) if category else "",
        "district": district.names.in_(notice.language) if district else "",
    }
    subject = words["subject"].format(area=area, **facts)
    text = "\n\n".join([words["body"].format(url=links.case, **facts), "--",
                        words["stop"].format(url=links.stop)])
    return Message(subject=subject, text=f"{text}\n", sms="")
