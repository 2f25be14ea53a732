"""The audit trail of staff reads on the real stack: Kafka keeps the record, admins list it.

The story: the reference case is in the log, its resident's contact given (sealed), handed
to no reporter. A reporter opens it in the staff view and is not shown the contact: nothing is
recorded. An officer opens it and is shown the contact: one record goes on the audit topic,
keyed by the case, and tracking's own consumer of that topic puts it in the admins' list,
where it is found by the case and by the officer's staff id. A record delivered twice is one
read. Only admins list the trail.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from helpers import eventually, publish_envelopes, publish_raw, read_topic
from servicefixtures import token
from typer.testing import CliRunner
from unit.tracking.tracking_stories import NAME, PHONE, RING, reference_case

from contracts.audit import PersonalDataRead
from contracts.facts import Role
from contracts.topics import Topics
from services.common.settings import CommonSettings
from zaiban.cli import app as cli

pytestmark = pytest.mark.stack

READS = "/api/admin/audit/reads"
ADMIN = token(Role.ADMIN, subject="admin-root")


async def listed(http: httpx.AsyncClient, count: int, **query: Any) -> dict[str, Any]:
    """The admins' page for `query`, once it holds `count` reads."""

    async def probe() -> dict[str, Any] | None:
        answer = await http.get(READS, params=query, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        return answer.json() if len(answer.json()["items"]) >= count else None

    return await eventually(probe, what=f"{count} audited reads for {query}")


async def test_an_officer_shown_the_contact_is_on_the_trail_and_a_reporter_without_it_is_not(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    history = reference_case()
    case_id = history.case_id
    await publish_envelopes(settings, history.envelopes, keys=RING)

    async def projected() -> bool:
        return (await http.get(f"/api/cases/{case_id}")).status_code == 200

    await eventually(projected, what=f"case {case_id} projected")

    reporter = await http.get(f"/api/staff/cases/{case_id}",
                              headers=token(Role.REPORTER, subject="reporter-0042"))
    assert reporter.status_code == 200 and reporter.json()["contact_withheld"] is True
    assert PHONE not in reporter.text and NAME not in reporter.text
    officer = await http.get(f"/api/staff/cases/{case_id}",
                             headers={**token(Role.OFFICER, subject="officer-0007"),
                                      "X-Correlation-Id": "hotline-callback-17"})
    assert officer.status_code == 200 and officer.json()["contact"]["phone"] == PHONE

    # Both reads are of one case, so any record of them is on one partition, in order:
    # once the officer's is listed, a record of the reporter's would have been too.
    by_case = await listed(http, 1, case_id=case_id)
    assert by_case["total"] == 1
    [read] = by_case["items"]
    assert {name: read[name] for name in ("case_id", "staff_id", "role", "department",
                                          "fields", "route", "correlation_id")} == {
        "case_id": case_id, "staff_id": "officer-0007", "role": "officer",
        "department": None, "fields": ["contact"], "route": "GET /api/staff/cases/{case_id}",
        "correlation_id": "hotline-callback-17"}
    assert (await listed(http, 1, staff_id="officer-0007"))["items"] == [read]
    assert (await http.get(READS, params={"staff_id": "reporter-0042"},
                           headers=ADMIN)).json()["total"] == 0
    assert PHONE not in json.dumps(by_case) and NAME not in json.dumps(by_case)

    # on the topic itself: exactly that one record, keyed by the case
    topic = Topics(settings.topic_prefix).audit
    [raw] = await read_topic(settings.kafka_bootstrap, topic, min_count=1)
    assert PersonalDataRead.model_validate_json(raw).model_dump(mode="json") == read

    # the same record delivered again is the same read; a later one comes first
    again = PersonalDataRead.model_validate_json(raw)
    later = again.model_copy(update={"read_id": uuid.UUID(int=1),
                                     "at": again.at + timedelta(minutes=5),
                                     "staff_id": "officer-0008"})
    await publish_raw(settings.kafka_bootstrap, topic, [raw, later.model_dump_json().encode()],
                      key=case_id.encode())
    newest_first = await listed(http, 2, case_id=case_id)
    assert [r["staff_id"] for r in newest_first["items"]] == ["officer-0008", "officer-0007"]
    assert newest_first["total"] == 2
    first_page = (await http.get(READS, params={"case_id": case_id, "limit": 1},
                                 headers=ADMIN)).json()
    assert [r["staff_id"] for r in first_page["items"]] == ["officer-0008"]
    assert first_page["next_offset"] == 1


async def test_only_an_admin_lists_the_trail(http: httpx.AsyncClient) -> None:
    for role in (Role.OFFICER, Role.SUPERVISOR, Role.REPORTER):
        answer = await http.get(READS, params={"staff_id": "officer-0007"}, headers=token(role))
        assert answer.status_code == 403, role
    department = await http.get(READS, params={"case_id": "ZB261006-WFF0-0001"},
                                headers=token(Role.DEPARTMENT, "signal-co"))
    assert department.status_code == 403
    neither = await http.get(READS, headers=ADMIN)
    assert neither.status_code == 422 and "case_id" in neither.json()["error"]


async def test_zaiban_privacy_reads_lists_what_the_admins_list(
        settings: CommonSettings, http: httpx.AsyncClient) -> None:
    """`zaiban privacy reads --case X | --staff Y`, for an operator at the console."""
    read = PersonalDataRead(read_id=uuid.uuid4(), case_id="ZB261006-WFF0-0001",
                            at=datetime(2026, 10, 7, 2, 30, tzinfo=UTC), staff_id="signal-crew-11",
                            role=Role.DEPARTMENT, department="signal-co", fields=("contact",),
                            route="GET /api/staff/cases/{case_id}", correlation_id="c-1")
    await publish_raw(settings.kafka_bootstrap, Topics(settings.topic_prefix).audit,
                      [read.model_dump_json().encode()], key=read.case_id.encode())
    await listed(http, 1, staff_id="signal-crew-11")
    environment = {"ZAIBAN_MONGO_URL": settings.mongo_url, "ZAIBAN_DB_PREFIX": settings.db_prefix,
                   "ZAIBAN_TOPIC_PREFIX": settings.topic_prefix}

    def zaiban(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["privacy", "reads", *args], env=environment)
        return result.exit_code, result.output

    by_staff = await asyncio.to_thread(zaiban, "--staff", "signal-crew-11")
    by_case = await asyncio.to_thread(zaiban, "--case", read.case_id)
    assert by_staff == by_case == (0, (
        "2026-10-07T02:30:00+00:00  ZB261006-WFF0-0001  signal-crew-11 (department/signal-co)  "
        "contact  GET /api/staff/cases/{case_id}  c-1\n"
        "1 read in all; shown 1 from offset 0\n"))
    nobody = await asyncio.to_thread(zaiban, "--staff", "officer-0007")
    assert nobody == (0, "0 reads in all; shown 0 from offset 0\n")
    neither = await asyncio.to_thread(zaiban)
    assert neither[0] == 1 and "--case, --staff" in neither[1]
