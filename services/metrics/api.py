"""The figures over HTTP: summary, breakdowns (JSON and CSV), department ranking, definitions.

Every answer is computed from the stored counters at the time of the request
(a few documents, one per log partition), so it is as live as the projection.
Names of categories, districts, departments and channels come in the reader's
language (`?lang=zh-Hans|zh-Hant|en`, default zh-Hans). There is no personal
data here: the counters only know categories, places, channels, departments
and days.

    GET /api/stats/summary                       the headline figures
    GET /api/stats/breakdown/{dimension}         category|district|channel|department|day
    GET /api/stats/breakdown/{dimension}.csv     the same as CSV (UTF-8 with BOM, for Excel)
    GET /api/stats/ranking?by=resolution         departments ranked (on_time|satisfaction)
    GET /api/stats/definitions                   what every figure counts

Every figure, breakdown, CSV and the ranking may be asked for a period, by the
day each case was submitted (`periods.py`): `?period=2026-Q4`, or `?from=` and
`?to=` (a day, month, quarter or year each); without one, of all time. A
period that cannot be read is refused (422) naming its parameter. The ranking
leaves out departments with fewer than `ZAIBAN_METRICS_RANKING_MIN_CASES` cases
in the period, and lists them as skipped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from contracts.facts import Channel
from services.common.catalogue import CityConfig, Names
from services.common.cityconfig import LiveCity
from services.metrics.definitions import FIGURES, NO_DEPARTMENT, Dimension
from services.metrics.periods import Period, PeriodError, period_of
from services.metrics.report import RANK_ORDER, Figures, RankBy, Row, ranking, too_few_cases
from services.metrics.store import FigureStore

Language = Literal["zh-Hans", "zh-Hant", "en"]
Lang = Annotated[Language, Query(description="Language of the names: zh-Hans, zh-Hant or en.")]

CHANNEL_NAMES: dict[str, Names] = {
    Channel.WEB: Names(zh_hans="网站", zh_hant="網站", en="Web"),
    Channel.APP: Names(zh_hans="手机应用", zh_hant="手機應用", en="App"),
    Channel.HOTLINE: Names(zh_hans="热线电话", zh_hant="熱線電話", en="Hotline"),
    Channel.WEIBO: Names(zh_hans="微博", zh_hant="微博", en="Weibo"),
    Channel.WECHAT: Names(zh_hans="微信", zh_hant="微信", en="WeChat"),
    Channel.OPEN311: Names(zh_hans="Open311 接口", zh_hant="Open311 介面", en="Open311"),
    Channel.BUS: Names(zh_hans="系统接入", zh_hant="系統接入", en="Integration"),
}
UNASSIGNED = Names(zh_hans="尚未分派", zh_hant="尚未分派", en="Not assigned")


class Asked(BaseModel):
    """The period the figures are of: the cases submitted from `from` to `to` (both days
    included, city time); null on a side without a bound, both null for all time."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str | None = Field(default=None, alias="from")
    to: str | None = None

    @classmethod
    def of(cls, period: Period) -> Asked:
        return cls.model_validate(period.bounds())


PeriodField = Field(default_factory=Asked, description="The period the figures are of.")


class Summary(Row):
    """The headline figures of every case (submitted in the period)."""

    period: Asked = PeriodField

    positions: dict[str, int] = Field(
        default_factory=dict,
        description="Per partition of the case event log, the last record counted.")


class BreakdownRow(Row):
    code: str
    name: str


class Breakdown(Row):
    """The figures of each value of one dimension; the row fields at the top are the total."""

    dimension: str
    language: str
    rows: list[BreakdownRow]
    period: Asked = PeriodField


class RankedDepartment(BreakdownRow):
    rank: int


class Skipped(BaseModel):
    """A department the ranking leaves out."""

    code: str
    name: str
    received: int
    reason: str


class Ranking(BaseModel):
    """Departments ranked, best first."""

    by: str
    order: list[str]
    departments: list[RankedDepartment]
    period: Asked = PeriodField
    min_cases: int = Field(default=1, description="Departments with fewer cases received in "
                           "the period are not ranked (ZAIBAN_METRICS_RANKING_MIN_CASES).")
    skipped: list[Skipped] = Field(default_factory=list, description="The departments left out, "
                                   "and why.")


class Definition(BaseModel):
    code: str
    name: str
    definition: str


def namer(city: CityConfig, dimension: Dimension, language: str) -> Callable[[str], str]:
    """The name of a dimension's value in `language` (the code itself when it has none)."""

    def name(code: str) -> str:
        names: Names | None = None
        if dimension == "category":
            found = city.category(code)
            names = found.names if found else None
        elif dimension == "district":
            place = city.district(code)
            names = place.names if place else None
        elif dimension == "department":
            department = city.department(code)
            names = UNASSIGNED if code == NO_DEPARTMENT else department.names if department else None
        elif dimension == "channel":
            names = CHANNEL_NAMES.get(code)
        return names.in_(language) if names else code

    return name


def known_values(city: CityConfig, dimension: Dimension) -> list[str]:
    """The values a breakdown lists even with no case yet (days only appear with cases)."""
    match dimension:
        case "category":
            return [c.code for c in city.categories]
        case "district":
            return [d.code for d in city.districts]
        case "department":
            return [d.code for d in city.departments]
        case "channel":
            return [c.value for c in Channel]
    return []


CSV_COUNTS = ("received", "accepted", "rejected", "merged", "open", "resolved",
              "resolution_rate_pct", "on_time", "on_time_rate_pct", "feedback", "satisfied",
              "satisfaction_rate_pct", "unanswered", "resolved_ever", "reopened",
              "reopen_rate_pct")
CSV_DURATIONS = ("first_response_median_h", "first_response_p90_h",
                 "resolution_median_h", "resolution_p90_h")


def csv_of(breakdown: Breakdown) -> bytes:
    """The breakdown as CSV: UTF-8 with a byte-order mark, so Excel reads the Chinese names."""
    by_day = breakdown.dimension == "day"
    columns = ["code", "name", *CSV_COUNTS, *(("resolved_on",) if by_day else CSV_DURATIONS)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in breakdown.rows:
        values: dict[str, Any] = row.model_dump()
        if not by_day:
            for duration, prefix in ((row.first_response, "first_response"),
                                     (row.resolution_time, "resolution")):
                values[f"{prefix}_median_h"] = duration.median_h if duration else None
                values[f"{prefix}_p90_h"] = duration.p90_h if duration else None
        writer.writerow(["" if values[c] is None else values[c] for c in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def asked_period(
    period: Annotated[str | None, Query(
        max_length=40, description="The cases submitted in a day (2026-10-06), a month "
        "(2026-10), a quarter (2026-Q4) or a year (2026); not with from/to.")] = None,
    from_: Annotated[str | None, Query(
        alias="from", max_length=40,
        description="The first day of the period, or the first day of a month, quarter "
        "or year named as in `period`.")] = None,
    to: Annotated[str | None, Query(
        max_length=40, description="The last day of the period (included), or the last day "
        "of a month, quarter or year named as in `period`.")] = None,
) -> Period:
    """The period asked for; an unreadable one is refused (422) naming its parameter."""
    try:
        return period_of(period, from_, to)
    except PeriodError as error:
        raise RequestValidationError([{"loc": ("query", error.parameter), "msg": str(error),
                                       "type": "value_error"}]) from None


AskedPeriod = Annotated[Period, Depends(asked_period)]


def csv_name(dimension: str, period: Period) -> str:
    if period.all_time:
        return f"zaiban-{dimension}.csv"
    bounds = period.bounds()
    return f"zaiban-{dimension}-{bounds['from'] or 'start'}-{bounds['to'] or 'now'}.csv"


def install_routes(router: APIRouter, *, store: FigureStore, city: LiveCity,
                   seen: Callable[[Row], None] | None = None,
                   ranking_min_cases: int = 1) -> None:

    async def figures(period: Period) -> Figures:
        return Figures.of(await store.counters(period))

    async def breakdown_of(dimension: Dimension, lang: Language, period: Period) -> Breakdown:
        computed = await figures(period)
        name = namer(city.current, dimension, lang)
        rows = [BreakdownRow(code=code, name=name(code), **row.model_dump())
                for code, row in computed.breakdown(dimension, known_values(city.current, dimension))
                # by day, a period's rows are its days (its cases resolved later are counted
                # in the total, not as days after it)
                if dimension != "day" or period.covers(code)]
        return Breakdown(dimension=dimension, language=lang, rows=rows, period=Asked.of(period),
                         **computed.overall().model_dump())

    @router.get("/api/stats/summary", tags=["figures"], response_model=Summary,
                summary="The headline figures: received, resolved, rates, durations")
    async def summary(period: AskedPeriod) -> Summary:
        counters, positions = await store.read(period)
        overall = Figures.of(counters).overall()
        if seen is not None and period.all_time:
            seen(overall)
        return Summary(positions={str(p): o for p, o in sorted(positions.items())},
                       period=Asked.of(period), **overall.model_dump())

    @router.get("/api/stats/breakdown/{dimension}.csv", tags=["figures"],
                response_class=Response,
                responses={200: {"content": {"text/csv": {}}}},
                summary="A breakdown as CSV (UTF-8 with BOM)")
    async def breakdown_csv(dimension: Dimension, period: AskedPeriod,
                            lang: Lang = "zh-Hans") -> Response:
        body = csv_of(await breakdown_of(dimension, lang, period))
        return Response(body, media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{csv_name(dimension, period)}"'})

    @router.get("/api/stats/breakdown/{dimension}", tags=["figures"], response_model=Breakdown,
                summary="The figures by category, district, channel, department or day")
    async def breakdown(dimension: Dimension, period: AskedPeriod,
                        lang: Lang = "zh-Hans") -> Breakdown:
        return await breakdown_of(dimension, lang, period)

    @router.get("/api/stats/ranking", tags=["figures"], response_model=Ranking,
                summary="Departments ranked by resolution rate, on-time rate or satisfaction")
    async def rank(period: AskedPeriod,
                   by: Annotated[RankBy, Query(description="The rate ranked on first.")]
                   = "resolution", lang: Lang = "zh-Hans") -> Ranking:
        name = namer(city.current, "department", lang)
        computed = await figures(period)
        ranked = [RankedDepartment(rank=position, code=code, name=name(code), **row.model_dump())
                  for position, code, row in ranking(computed, by, ranking_min_cases)]
        skipped = [Skipped(code=code, name=name(code), received=received,
                           reason=f"fewer than {ranking_min_cases} cases received in the period")
                   for code, received in too_few_cases(computed, ranking_min_cases)]
        return Ranking(by=by, order=[*RANK_ORDER[by], "resolved"], departments=ranked,
                       period=Asked.of(period), min_cases=ranking_min_cases, skipped=skipped)

    @router.get("/api/stats/definitions", tags=["figures"], response_model=list[Definition],
                summary="What exactly every figure counts")
    async def definitions(lang: Lang = "zh-Hans") -> list[Definition]:
        return [Definition(code=f.code, name=f.name(lang), definition=f.definition)
                for f in FIGURES]
