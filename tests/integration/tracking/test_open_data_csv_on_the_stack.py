"""The public case list as open data, on the real stack: cases submitted, triaged, routed and
resolved through the services (the public entry) come out of `/open-data/cases.csv` one row
each, with their public facts and the names of the asked language, and nothing of the
resident."""

from __future__ import annotations

import csv
import io

import pytest
from helpers import eventually
from security.public_entry import (
    DEPT_A,
    PRIVATE_ADDRESS,
    RESIDENT_EMAIL,
    RESIDENT_NAME,
    RESIDENT_PHONE,
    STREET,
    cases_in,
    client,
    public_entry,
)

from services.common.catalogue import load_city
from services.common.settings import CommonSettings
from services.tracking.open_data import COLUMNS

pytestmark = pytest.mark.stack
BOM = b"\xef\xbb\xbf"


def rows_of(body: bytes) -> dict[str, dict[str, str]]:
    assert body.startswith(BOM), body[:20]
    header, *rows = list(csv.reader(io.StringIO(body[len(BOM):].decode("utf-8"), newline="")))
    assert header == list(COLUMNS)
    return {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in rows}


async def test_cases_handled_by_the_services_are_rows_of_the_csv(
        settings: CommonSettings) -> None:
    city = load_city(settings.config_dir)
    async with public_entry(settings) as app, client(app) as http:
        submitted, routed, resolved = await cases_in(http, ["submitted", "routed", "resolved"])

        async def resolution_listed() -> bool:  # accepted by intake: tracking follows
            rows = rows_of((await http.get("/open-data/cases.csv")).content)
            return rows.get(resolved.case_id, {}).get("status") == "resolved"

        await eventually(resolution_listed, what="the resolution to reach the case list")
        answer = await http.get("/open-data/cases.csv")
        english = await http.get("/open-data/cases.csv", params={"lang": "en"})
        only_resolved = await http.get("/open-data/cases.csv", params={"status": "resolved"})
        refused = [await http.get("/open-data/cases.csv", params=asked)
                   for asked in ({"lang": "xx"}, {"channel": "fax"}, {"status": "lost"})]

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in answer.headers["content-disposition"]
    rows = rows_of(answer.content)
    assert set(rows) == {submitted.case_id, routed.case_id, resolved.case_id}
    water = city.category("water")
    jinshui = city.district("jinshui")
    water_co = city.department(DEPT_A)
    assert water and jinshui and water_co
    for case_id, row in rows.items():
        assert (row["category"], row["category_name"]) == ("water", water.names.in_("zh-Hans"))
        assert (row["district"], row["district_name"]) == ("jinshui", "金水区")
        assert (row["street"], row["channel"]) == (STREET, "web")
        assert row["submitted_at"] and row["reopened"] == "0", case_id
    assert rows[submitted.case_id]["status"] == "submitted"
    assert rows[submitted.case_id]["accepted_at"] == rows[submitted.case_id]["department"] == ""
    for case in (routed, resolved):
        row = rows[case.case_id]
        assert (row["department"], row["department_name"]) == (
            DEPT_A, water_co.names.in_("zh-Hans"))
        assert row["accepted_at"] and row["routed_at"] and row["due_at"]
    assert rows[routed.case_id]["status"] == "routed" and not rows[routed.case_id]["resolved_at"]
    assert rows[resolved.case_id]["status"] == "resolved"
    assert rows[resolved.case_id]["resolved_at"] >= rows[resolved.case_id]["routed_at"]
    assert rows[resolved.case_id]["resolved_on_time"] == "true"

    assert rows_of(english.content)[routed.case_id]["district_name"] == jinshui.names.in_("en")
    assert english.headers["content-language"] == "en"
    assert set(rows_of(only_resolved.content)) == {resolved.case_id}
    assert [r.status_code for r in refused] == [422, 422, 422]

    text = answer.content.decode("utf-8") + english.content.decode("utf-8")
    for private in (RESIDENT_NAME, RESIDENT_PHONE, RESIDENT_EMAIL, PRIVATE_ADDRESS,
                    submitted.code, routed.code, resolved.code):
        assert private not in text
