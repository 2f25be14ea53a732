"""What the store writes and the API answers, without a store: stored forms and CSV."""

from __future__ import annotations

import csv
import io
import zlib
from zoneinfo import ZoneInfo

import pytest
from unit.metrics.metrics_stories import city_of_cases

from services.common.catalogue import load_city
from services.common.settings import REPO_ROOT
from services.metrics.api import Breakdown, BreakdownRow, csv_of, known_values, namer
from services.metrics.definitions import NO_DEPARTMENT
from services.metrics.ledger import Ledger, Positioned, fold
from services.metrics.reading import counted
from services.metrics.report import Figures
from services.metrics.store import (
    FORMAT,
    OPEN_BUCKETS,
    OPEN_PREFIX,
    OpenCases,
    StaleFigures,
    changes_of,
    ledger_of,
    pack,
    unpack,
)

TZ = ZoneInfo("Asia/Shanghai")
CITY = load_city(REPO_ROOT / "deploy" / "config")


def stored(doc: dict[str, object], update: dict[str, dict[str, object]]) -> dict[str, object]:
    """`doc` after a single-document update with $set and $unset, as the store applies it."""
    after = {**doc, **update["$set"]}
    for name in update.get("$unset", {}):
        after.pop(name, None)
    return after


def test_a_ledger_reads_back_from_what_the_writer_stores_batch_after_batch() -> None:
    envelopes, _ = city_of_cases(300, 200, seed=21)
    doc: dict[str, object] = {"_id": "p0", "offset": -1, "format": FORMAT}
    ledger, open_cases = Ledger(), OpenCases()
    for start in range(0, len(envelopes), 150):
        records = [Positioned(i, counted(envelopes[i])) for i in range(start, min(start + 150,
                                                                         len(envelopes)))]
        folded = fold(ledger, records, TZ, window=400)
        doc = stored(doc, changes_of(folded, open_cases))
        ledger = ledger_of(doc)
        assert ledger == folded.ledger
    assert any(str(name).startswith("done_") for name in doc)
    assert len([n for n in doc if str(n).startswith("done_")]) <= 2


def test_only_what_changed_is_written() -> None:
    envelopes, _ = city_of_cases(20, 10, seed=22)
    folded = fold(Ledger(), [Positioned(i, counted(e)) for i, e in enumerate(envelopes)], TZ, 1 << 40)
    again = fold(folded.ledger, [Positioned(len(envelopes), counted(envelopes[0]))], TZ, 1 << 40)
    assert again.duplicates == 1
    assert changes_of(again) == {"$set": {"offset": len(envelopes), "format": FORMAT}}


def test_a_batch_rewrites_only_the_buckets_of_the_open_cases_it_moved() -> None:
    envelopes, _ = city_of_cases(400, 200, seed=24)
    first = fold(Ledger(), [Positioned(i, counted(e)) for i, e in enumerate(envelopes)], TZ, 1 << 40)
    open_cases = OpenCases()
    doc = stored({"_id": "p0", "offset": -1, "format": FORMAT}, changes_of(first, open_cases))
    assert len([n for n in doc if str(n).startswith(OPEN_PREFIX)]) == OPEN_BUCKETS
    moved = next(e for e in envelopes if e.case_id in first.ledger.open)
    later = fold(first.ledger, [Positioned(len(envelopes), counted(moved.model_copy(
        update={"seq": first.ledger.open[moved.case_id].seq + 1})))], TZ, 1 << 40)
    update = changes_of(later, open_cases)
    assert [n for n in update["$set"] if n.startswith(OPEN_PREFIX)] == [
        f"{OPEN_PREFIX}{zlib.crc32(moved.case_id.encode()) % OPEN_BUCKETS:02d}"]
    assert ledger_of(stored(doc, update)) == later.ledger


def test_a_document_written_before_the_buckets_reads_and_is_rewritten_whole() -> None:
    envelopes, _ = city_of_cases(200, 100, seed=25)
    folded = fold(Ledger(), [Positioned(i, counted(e)) for i, e in enumerate(envelopes)], TZ, 1 << 40)
    old = {"_id": "p0", "offset": folded.ledger.offset, "format": FORMAT,
           "counters": pack(folded.ledger.counters),
           "open": pack({c: m.to_json() for c, m in folded.ledger.open.items()}),
           **{f"done_{g}": pack(cases) for g, cases in folded.ledger.done.items()}}
    assert ledger_of(old) == folded.ledger
    moved = next(e for e in envelopes if e.case_id in folded.ledger.open)
    later = fold(ledger_of(old), [Positioned(len(envelopes), counted(moved.model_copy(
        update={"seq": folded.ledger.open[moved.case_id].seq + 1})))], TZ, 1 << 40)
    update = changes_of(later, OpenCases())  # a writer that just loaded it
    after = stored(old, update)
    assert "open" not in after
    assert ledger_of(after) == later.ledger


def test_figures_of_other_definitions_are_refused_with_the_way_out() -> None:
    with pytest.raises(StaleFigures, match="zaiban replay metrics"):
        ledger_of({"_id": "p0", "offset": 3, "format": FORMAT + 1})


def test_blobs_round_trip() -> None:
    value = {"received|category=roads": 3, "fr#-1|all=*": 1}
    assert unpack(pack(value)) == value
    assert unpack(None) == {}


def breakdown(dimension: str, language: str = "zh-Hans") -> Breakdown:
    envelopes, _ = city_of_cases(120, 80, seed=23)
    figures = Figures.of(fold(Ledger(), [Positioned(i, counted(e)) for i, e in enumerate(envelopes)],
                              TZ, 1 << 40).ledger.counters)
    name = namer(CITY, dimension, language)  # type: ignore[arg-type]
    rows = [BreakdownRow(code=code, name=name(code), **row.model_dump())
            for code, row in figures.breakdown(dimension,  # type: ignore[arg-type]
                                               known_values(CITY, dimension))]  # type: ignore[arg-type]
    return Breakdown(dimension=dimension, language=language, rows=rows,
                     **figures.overall().model_dump())


@pytest.mark.parametrize("dimension", ["category", "district", "channel", "department", "day"])
def test_the_csv_says_what_the_json_says_and_opens_in_excel(dimension: str) -> None:
    table = breakdown(dimension)
    body = csv_of(table)
    assert body.startswith("\ufeff".encode())
    lines = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert [line["code"] for line in lines] == [row.code for row in table.rows]
    for line, row in zip(lines, table.rows, strict=True):
        assert line["name"] == row.name
        assert int(line["received"]) == row.received
        assert line["resolution_rate_pct"] == ("" if row.resolution_rate_pct is None
                                               else str(row.resolution_rate_pct))
        if dimension == "day":
            assert int(line["resolved_on"]) == row.resolved_on
        else:
            assert row.resolution_time is not None
            assert line["resolution_median_h"] == ("" if row.resolution_time.median_h is None
                                                   else str(row.resolution_time.median_h))
    assert b"\r\n" in body  # Excel's line ends


def test_names_are_in_the_readers_language_and_unknown_codes_stay_codes() -> None:
    assert namer(CITY, "category", "zh-Hant")("traffic-signals") == "交通號誌燈"
    assert namer(CITY, "district", "en")("jinshui") == "Jinshui"
    assert namer(CITY, "department", "zh-Hans")("signal-co") == "交通信号设施公司"
    assert namer(CITY, "department", "en")(NO_DEPARTMENT) == "Not assigned"
    assert namer(CITY, "channel", "zh-Hans")("hotline") == "热线电话"
    assert namer(CITY, "category", "en")("retired-category") == "retired-category"
    assert namer(CITY, "day", "en")("2026-10-06") == "2026-10-06"
