"""The public case list as open data (`/open-data/cases.csv`): a row per case with its public
facts and names, in the reader's language, and nothing of the people behind it."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable

import pytest
from unit.tracking.tracking_stories import (
    CITY,
    HANDLERS,
    PRIVATE_DETAILS,
    a_handled_case,
    a_long_handling,
    code_of,
    day,
    project,
    reference_case,
    submitted,
    water_case,
)

from services.common.catalogue import LANGUAGES, Language
from services.lifecycle.history import History
from services.tracking.open_data import BOM, COLUMNS, ROWS_PER_CHUNK, csv_chunks, row_of
from services.tracking.timeline import CaseView


async def streamed(views: Iterable[CaseView], language: Language = "zh-Hans") -> list[bytes]:
    async def each() -> AsyncIterator[CaseView]:
        for view in views:
            yield view

    return [chunk async for chunk in csv_chunks(each(), language, CITY)]


def table(chunks: list[bytes]) -> list[list[str]]:
    text = b"".join(chunks).decode("utf-8")
    assert text.startswith(BOM)
    return list(csv.reader(io.StringIO(text.removeprefix(BOM), newline="")))


def test_the_reference_case_as_a_row_in_each_language() -> None:
    view = project(reference_case())
    rows = {language: row_of(view, language, CITY) for language in LANGUAGES}
    row = rows["zh-Hans"]
    assert list(row) == list(COLUMNS)
    assert (row["case_id"], row["category"], row["district"], row["street"]) == (
        "ZB261006-WFF0-0001", "traffic-signals", "jinshui", "沙口路")
    assert (row["status"], row["department"], row["channel"]) == ("closed", "signal-co", "web")
    assert row["submitted_at"] == day("10-06", 9, 12).isoformat()
    assert row["resolved_at"] == view.facts.resolved_at.isoformat()  # type: ignore[union-attr]
    assert row["resolved_on_time"] == "true" and row["reopened"] == "0"
    assert row["merged_into"] == "" and row["accepted_at"] == day("10-06", 10, 5).isoformat()
    names = {language: (r["category_name"], r["district_name"], r["department_name"])
             for language, r in rows.items()}
    assert names["zh-Hans"] == tuple(
        entry.names.in_("zh-Hans") for entry in (CITY.category("traffic-signals"),
                                                 CITY.district("jinshui"),
                                                 CITY.department("signal-co")) if entry)
    assert names["zh-Hans"][1] == "金水区" and names["zh-Hant"][1] == "金水區"
    assert names["en"][1] == "Jinshui"


@pytest.mark.parametrize("language", LANGUAGES)
async def test_no_row_carries_personal_data_the_exact_place_or_who_handles_it(
        language: Language) -> None:
    histories = [reference_case(), water_case(), a_long_handling(), a_handled_case()]
    views = [project(history) for history in histories]
    text = b"".join(await streamed(views, language)).decode("utf-8")
    for private in (*PRIVATE_DETAILS, *HANDLERS, "沙口路王府坟菜市场门口", "34.7995", "113.639",
                    *(code_of(view.case_id) for view in views),
                    *(view.tracking_code_hash for view in views), "家里停水"):
        assert private not in text, private
    water = row_of(project(water_case()), language, CITY)
    assert water["street"] == "文化路" and water["department"] == ""


async def test_the_file_is_a_bom_a_header_and_a_row_per_case_sent_a_batch_at_a_time() -> None:
    template = project(reference_case())
    views = [template.model_copy(update={"case_id": f"ZB261006-WFF0-{n:04d}"})
             for n in range(ROWS_PER_CHUNK + 3)]
    chunks = await streamed(views)
    assert len(chunks) == 3  # the header, a full batch, the rest
    rows = table(chunks)
    assert rows[0] == list(COLUMNS)
    assert [row[0] for row in rows[1:]] == [view.case_id for view in views]
    assert b"".join(chunks).count(b"\r\n") == len(views) + 1


async def test_a_street_a_spreadsheet_would_run_as_a_formula_is_written_as_text() -> None:
    case_id = "ZB261008-FRM0-0009"
    sneaky = '=HYPERLINK("http://evil.example","点我"),"逗号"'
    view = project(History(case_id).given(day("10-08"), submitted(
        case_id, category="water", street=sneaky)))
    [_header, row] = table(await streamed([view]))
    assert row[COLUMNS.index("street")] == "'" + sneaky  # quoted per RFC 4180, read back whole
