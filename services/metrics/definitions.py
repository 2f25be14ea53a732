"""The published figures: what each one counts, named in zh-Hans, zh-Hant and en.

`FIGURES` is served as it stands by `GET /api/stats/definitions`; every other
module of the metrics service computes what is written here. The figures are
defined in the words of the case's evolve (`services/lifecycle/case.py`), whose
facts travel with every event:

- *first response*: the first acknowledgement, progress note or resolution by
  the handling department (`facts.first_response_at`);
- *resolved* (辦結): the case has a resolution in force (`facts.resolved_at`
  is set: status resolved, or closed after a resolution); a reopen takes it
  back until the next resolution;
- *on time*: resolved no later than the deadline in force when it was
  resolved (`CaseResolved.on_time`, kept as `facts.resolved_on_time`).

Breakdowns
----------
A case counts under its *current* category, district, channel and department
(the department responsible for it now; `_none` before it is routed or while
it waits to be re-routed), and under the day it was *submitted* (city time).
Every breakdown therefore partitions the cases, and its rows sum to the total.
Feedback counts under the case's dimensions when the answer was given.
Durations (first response, resolution) are kept by every dimension except the
day.

Periods
-------
Every figure may be asked for a period (`periods.py`): the figures of the cases
*submitted* in it (city time), as they are now. A case submitted on 09-30 and
resolved on 10-02 is a resolution of September's figures; a later reopen or
answer changes September's figures too. By day, a period's rows are its days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Figure:
    """One published figure: its name in three languages and what exactly it counts."""

    code: str
    zh_hans: str
    zh_hant: str
    en: str
    definition: str

    def name(self, language: str) -> str:
        return {"zh-Hans": self.zh_hans, "zh-Hant": self.zh_hant}.get(language, self.en)


FIGURES: tuple[Figure, ...] = (
    Figure("received", "收到诉求", "收到訴求", "Received",
           "Cases submitted (CaseSubmitted), through any channel, whatever became of them "
           "later (rejected and merged cases included). Every figure counts cases by the day "
           "they were submitted (city time): asked for a period (?period=, ?from=&to=), the "
           "figures are those of the cases submitted in it, as they are now."),
    Figure("accepted", "受理", "受理", "Accepted",
           "Cases an information officer accepted at triage (CaseAccepted)."),
    Figure("rejected", "不予受理", "不予受理", "Rejected",
           "Cases rejected at triage (CaseRejected)."),
    Figure("merged", "合并", "合併", "Merged",
           "Cases merged into another case as duplicates (CaseMerged)."),
    Figure("open", "在办", "在辦", "Being handled",
           "Cases neither resolved nor finished: submitted, accepted, awaiting dispatch, "
           "routed or acknowledged now."),
    Figure("resolved", "办结", "辦結", "Resolved",
           "Cases with a resolution in force: resolved (CaseResolved), or closed after a "
           "resolution. A reopen (CaseReopened) takes the resolution back until the next one."),
    Figure("resolution_rate", "办结率", "辦結率", "Resolution rate",
           "resolved / received."),
    Figure("on_time", "按时办结", "按時辦結", "Resolved on time",
           "Resolved cases whose resolution in force came no later than the deadline in "
           "force when it was resolved (CaseResolved.on_time)."),
    Figure("on_time_rate", "按时办结率", "按時辦結率", "On-time rate",
           "on_time / resolved."),
    Figure("feedback", "评价", "評價", "Feedback answers",
           "Answers residents gave to a resolution (FeedbackGiven); a case reopened and "
           "resolved again may be answered again, and each answer counts."),
    Figure("satisfied", "满意", "滿意", "Satisfied",
           "Feedback answers saying the fix held and the resident is satisfied "
           "(FeedbackGiven.satisfied, which every answer must state: none is assumed). "
           "Fixed but not satisfied (a dispute, sent to supervision) and not fixed are "
           "answers that are not satisfied, whatever a supervisor rules later."),
    Figure("satisfaction_rate", "满意率", "滿意率", "Satisfaction rate",
           "satisfied / feedback: of the answers residents gave, the share that said "
           "satisfied. A case closed without an answer (CaseClosed no_answer, after the "
           "resident was asked again) gave no answer and is in neither count: it is never "
           "taken as satisfied."),
    Figure("unanswered", "逾期未评价", "逾期未評價", "Closed unanswered",
           "Cases closed because their resident did not answer the resolution, even when "
           "asked again (CaseClosed no_answer). Not in the satisfaction rate, either way."),
    Figure("resolved_ever", "曾办结", "曾辦結", "Ever resolved",
           "Cases resolved at least once: resolved now, or reopened since."),
    Figure("reopened", "重新办理", "重新辦理", "Reopened",
           "Cases reopened at least once because the resident said the fix did not hold, or "
           "a supervisor upheld their dispute (CaseReopened)."),
    Figure("reopen_rate", "重新办理率", "重新辦理率", "Reopen rate",
           "reopened / resolved_ever."),
    Figure("first_response", "首次响应用时", "首次回應用時", "Time to first response",
           "first_response_at - submitted_at, for cases with a first response: the first "
           "acknowledgement, progress note or resolution by the handling department. "
           "Median and 90th percentile (nearest rank), estimated within one histogram bucket."),
    Figure("resolution_time", "办结用时", "辦結用時", "Time to resolution",
           "resolved_at - submitted_at of the resolution in force, for resolved cases. "
           "Median and 90th percentile (nearest rank), estimated within one histogram bucket."),
    Figure("resolved_on", "当日办结", "當日辦結", "Resolved that day",
           "By day only: resolutions in force that were recorded on that day (city time)."),
)

# The groups a figure is counted in (see Breakdowns above).
Dimension = Literal["category", "district", "channel", "department", "day"]
DIMENSIONS: tuple[Dimension, ...] = ("category", "district", "channel", "department", "day")
NO_DEPARTMENT = "_none"
"""The department of a case no department is responsible for (not routed yet, or returned)."""
