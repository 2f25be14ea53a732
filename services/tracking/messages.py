"""The words of the timeline in the reader's language: zh-Hans, zh-Hant, en.

One dict per language, keyed by message id; `render.py` fills the `{fields}`
with names from the city's catalogue. Only tracking writes these sentences —
its API (which the web pages show as they come) and Open311's status notes
and notices — so they live here; which language a reader gets is the kit's
one negotiation (`services/common/i18n.py`), and the web's own words are in
`services/web/i18n/*.json`. Adding a language means adding a dict here (and its
names in `deploy/config/*.yaml`).
"""

from __future__ import annotations

from services.common.catalogue import Language

ZH_HANS: dict[str, str] = {
    # timeline entries, one per event type (and variant)
    "entry.CaseSubmitted": "市民通过{channel}提交诉求（{category}，{district}）",
    "entry.CaseSubmitted.entered": "{actor}代市民登记诉求（{category}，{district}）",
    "entry.CaseAccepted": "信息员已受理",
    "entry.CaseAccepted.corrected": "信息员已受理，并更正了案件信息（{category}，{district}）",
    "entry.CaseRejected": "不予受理：{reason}",
    "entry.CaseMerged": "与案件 {into} 重复，已合并办理",
    "entry.CaseRouted": "已转交 {department} 处理",
    "entry.CaseRouted.returned": "已改派 {department} 处理",
    "entry.CaseRouted.reopened": "已重新交 {department} 处理",
    "entry.CaseAcknowledged": "{actor} 已接单",
    "entry.CaseReturned": "{actor} 退回此案：{reason}",
    "entry.CaseReassigned": "督办改派 {department} 处理：{reason}",
    "entry.ProgressNoted": "处理进展（{actor}）：{note}",
    "entry.SiteVisited": "{actor}到现场查看：{note}",
    "entry.StoryPublished": "发布报道《{title}》",
    "entry.ReporterAssigned": "已安排记者跟进",
    "entry.CaseOverdue": "已超过办理时限",
    "entry.CaseEscalated": "转入督办：{reason}",
    "entry.CaseResolved": "{actor} 已办结：{resolution}",
    "entry.FeedbackGiven.satisfied": "市民确认问题已解决，表示满意（{rating} 星）",
    "entry.FeedbackGiven.unsatisfied": "市民确认问题已解决，但不满意（{rating} 星）",
    "entry.FeedbackGiven.not_fixed": "市民反馈问题未解决（{rating} 星）",
    "entry.ResidentAskedAgain": "已再次请市民评价办理结果（{closes} 前未回复将自动结案）",
    "entry.DisputeSettled.closed": "督办员复核市民异议，维持办理结果：{note}",
    "entry.DisputeSettled.reopened": "督办员复核市民异议，要求重新办理：{note}",
    "entry.CaseReopened.disputed": "督办要求 {department} 重新办理",
    "entry.CaseReopened": "问题未解决，已重新交 {department} 处理",
    "entry.CaseReopened.nobody": "问题未解决，案件重新办理",
    "entry.CaseClosed.confirmed": "市民已确认，结案",
    "entry.CaseClosed.no_answer": "市民逾期未回复，自动结案",
    "entry.PersonalDataErased.request": "应要求删除了市民的个人信息",
    "entry.PersonalDataErased.retention": "保存期满，市民的个人信息已删除",
    "entry.unknown": "案件有新进展",
    # who acted
    "role.resident": "市民",
    "role.officer": "信息员",
    "role.department": "承办单位",
    "role.reporter": "记者",
    "role.supervisor": "督办员",
    "role.admin": "管理员",
    "role.system": "系统",
    # where a case stands
    "status.submitted": "已提交",
    "status.accepted": "已受理",
    "status.awaiting_dispatch": "待分派",
    "status.routed": "已转办",
    "status.acknowledged": "办理中",
    "status.resolved": "已办结",
    "status.closed": "已结案",
    "status.rejected": "不予受理",
    "status.merged": "已合并",
    # how it came in
    "channel.web": "网站",
    "channel.app": "客户端",
    "channel.hotline": "热线",
    "channel.weibo": "微博",
    "channel.wechat": "微信",
    "channel.open311": "Open311 接口",
    "channel.bus": "合作平台",
    # priority classes
    "priority.emergency": "紧急",
    "priority.utilities": "水电气暖",
    "priority.general": "一般",
    "priority.complex": "复杂",
    # story columns
    "column.inquiry": "帮打听",
    "column.supervision": "郑在督办",
    "column.news": "新闻",
    # why a case went to supervision
    "escalation.overdue": "逾期未办结",
    "escalation.disputed": "市民对处理结果有异议",
    "escalation.manual": "督办员决定督办",
}

ZH_HANT: dict[str, str] = {
    "entry.CaseSubmitted": "市民透過{channel}提交訴求（{category}，{district}）",
    "entry.CaseSubmitted.entered": "{actor}代市民登記訴求（{category}，{district}）",
    "entry.CaseAccepted": "信息員已受理",
    "entry.CaseAccepted.corrected": "信息員已受理，並更正了案件資訊（{category}，{district}）",
    "entry.CaseRejected": "不予受理：{reason}",
    "entry.CaseMerged": "與案件 {into} 重複，已合併辦理",
    "entry.CaseRouted": "已轉交 {department} 處理",
    "entry.CaseRouted.returned": "已改派 {department} 處理",
    "entry.CaseRouted.reopened": "已重新交 {department} 處理",
    "entry.CaseAcknowledged": "{actor} 已接單",
    "entry.CaseReturned": "{actor} 退回此案：{reason}",
    "entry.CaseReassigned": "督辦改派 {department} 處理：{reason}",
    "entry.ProgressNoted": "處理進展（{actor}）：{note}",
    "entry.SiteVisited": "{actor}到現場查看：{note}",
    "entry.StoryPublished": "發布報道《{title}》",
    "entry.ReporterAssigned": "已安排記者跟進",
    "entry.CaseOverdue": "已超過辦理時限",
    "entry.CaseEscalated": "轉入督辦：{reason}",
    "entry.CaseResolved": "{actor} 已辦結：{resolution}",
    "entry.FeedbackGiven.satisfied": "市民確認問題已解決，表示滿意（{rating} 星）",
    "entry.FeedbackGiven.unsatisfied": "市民確認問題已解決，但不滿意（{rating} 星）",
    "entry.FeedbackGiven.not_fixed": "市民反饋問題未解決（{rating} 星）",
    "entry.ResidentAskedAgain": "已再次請市民評價辦理結果（{closes} 前未回覆將自動結案）",
    "entry.DisputeSettled.closed": "督辦員覆核市民異議，維持辦理結果：{note}",
    "entry.DisputeSettled.reopened": "督辦員覆核市民異議，要求重新辦理：{note}",
    "entry.CaseReopened.disputed": "督辦要求 {department} 重新辦理",
    "entry.CaseReopened": "問題未解決，已重新交 {department} 處理",
    "entry.CaseReopened.nobody": "問題未解決，案件重新辦理",
    "entry.CaseClosed.confirmed": "市民已確認，結案",
    "entry.CaseClosed.no_answer": "市民逾期未回覆，自動結案",
    "entry.PersonalDataErased.request": "應要求刪除了市民的個人資料",
    "entry.PersonalDataErased.retention": "保存期滿，市民的個人資料已刪除",
    "entry.unknown": "案件有新進展",
    "role.resident": "市民",
    "role.officer": "信息員",
    "role.department": "承辦單位",
    "role.reporter": "記者",
    "role.supervisor": "督辦員",
    "role.admin": "管理員",
    "role.system": "系統",
    "status.submitted": "已提交",
    "status.accepted": "已受理",
    "status.awaiting_dispatch": "待分派",
    "status.routed": "已轉辦",
    "status.acknowledged": "辦理中",
    "status.resolved": "已辦結",
    "status.closed": "已結案",
    "status.rejected": "不予受理",
    "status.merged": "已合併",
    "channel.web": "網站",
    "channel.app": "客戶端",
    "channel.hotline": "熱線",
    "channel.weibo": "微博",
    "channel.wechat": "微信",
    "channel.open311": "Open311 介面",
    "channel.bus": "合作平台",
    "priority.emergency": "緊急",
    "priority.utilities": "水電氣暖",
    "priority.general": "一般",
    "priority.complex": "複雜",
    "column.inquiry": "幫打聽",
    "column.supervision": "鄭在督辦",
    "column.news": "新聞",
    "escalation.overdue": "逾期未辦結",
    "escalation.disputed": "市民對處理結果有異議",
    "escalation.manual": "督辦員決定督辦",
}

EN: dict[str, str] = {
    "entry.CaseSubmitted": "Submitted via {channel} ({category}, {district})",
    "entry.CaseSubmitted.entered": "Entered by {actor} for a resident ({category}, {district})",
    "entry.CaseAccepted": "Accepted by an information officer",
    "entry.CaseAccepted.corrected": (
        "Accepted by an information officer, with corrections ({category}, {district})"
    ),
    "entry.CaseRejected": "Not accepted: {reason}",
    "entry.CaseMerged": "Merged into case {into} (a duplicate)",
    "entry.CaseRouted": "Routed to {department}",
    "entry.CaseRouted.returned": "Re-routed to {department}",
    "entry.CaseRouted.reopened": "Sent back to {department}",
    "entry.CaseAcknowledged": "{actor} acknowledged the case",
    "entry.CaseReturned": "{actor} returned the case: {reason}",
    "entry.CaseReassigned": "Reassigned to {department} by supervision: {reason}",
    "entry.ProgressNoted": "Progress from {actor}: {note}",
    "entry.SiteVisited": "Site visit by {actor}: {note}",
    "entry.StoryPublished": "Story published: “{title}”",
    "entry.ReporterAssigned": "A reporter is following the case",
    "entry.CaseOverdue": "The deadline has passed",
    "entry.CaseEscalated": "Escalated to supervision: {reason}",
    "entry.CaseResolved": "Resolved by {actor}: {resolution}",
    "entry.FeedbackGiven.satisfied": (
        "The resident confirmed the fix and is satisfied ({rating}/5)"
    ),
    "entry.FeedbackGiven.unsatisfied": (
        "The resident confirmed the fix but is not satisfied ({rating}/5)"
    ),
    "entry.FeedbackGiven.not_fixed": "The resident says it is not fixed ({rating}/5)",
    "entry.ResidentAskedAgain": (
        "The resident was asked again for their answer (closes {closes} without one)"
    ),
    "entry.DisputeSettled.closed": (
        "Supervision reviewed the resident's dispute and upheld the resolution: {note}"
    ),
    "entry.DisputeSettled.reopened": (
        "Supervision reviewed the resident's dispute and sent the case back: {note}"
    ),
    "entry.CaseReopened.disputed": "Sent back to {department} by supervision",
    "entry.CaseReopened": "Not fixed: sent back to {department}",
    "entry.CaseReopened.nobody": "Not fixed: the case is handled again",
    "entry.CaseClosed.confirmed": "Closed after the resident confirmed",
    "entry.CaseClosed.no_answer": "Closed: the resident did not answer in time",
    "entry.PersonalDataErased.request": "The resident's personal data was erased on request",
    "entry.PersonalDataErased.retention": "The resident's personal data was erased: its retention period ended",
    "entry.unknown": "The case was updated",
    "role.resident": "the resident",
    "role.officer": "an information officer",
    "role.department": "the department",
    "role.reporter": "a reporter",
    "role.supervisor": "a supervisor",
    "role.admin": "an administrator",
    "role.system": "the system",
    "status.submitted": "Submitted",
    "status.accepted": "Accepted",
    "status.awaiting_dispatch": "Awaiting dispatch",
    "status.routed": "Routed",
    "status.acknowledged": "In progress",
    "status.resolved": "Resolved",
    "status.closed": "Closed",
    "status.rejected": "Not accepted",
    "status.merged": "Merged",
    "channel.web": "the website",
    "channel.app": "the app",
    "channel.hotline": "the hotline",
    "channel.weibo": "Weibo",
    "channel.wechat": "WeChat",
    "channel.open311": "Open311",
    "channel.bus": "a partner system",
    "priority.emergency": "Emergency",
    "priority.utilities": "Utilities",
    "priority.general": "General",
    "priority.complex": "Complex",
    "column.inquiry": "Inquiry column",
    "column.supervision": "Supervision column",
    "column.news": "News",
    "escalation.overdue": "overdue",
    "escalation.disputed": "the resident disputes the result",
    "escalation.manual": "on a supervisor's decision",
}

MESSAGES: dict[Language, dict[str, str]] = {"zh-Hans": ZH_HANS, "zh-Hant": ZH_HANT, "en": EN}


def message(language: Language, key: str) -> str:
    """The text for `key` in `language`, falling back to simplified Chinese, then the key."""
    return MESSAGES[language].get(key) or ZH_HANS.get(key) or key

