"""The audit trail of staff reads of personal data: what a read records, and that nothing
personal is shown unless the trail took the record.

The story: the heating case of the least-privilege stories is handed to reporter A and led
by the heating company; its resident gave a contact and the address of their flat, which
is private (sealed with the contact). When an officer opens it in the staff view, one
record says who (their staff id, role), which case, when, what (the contact, the address,
its point) and where; when reporter B, to whom it was not handed, opens it, the personal
data is withheld and nothing is recorded. If Kafka cannot take the record, the officer is
refused with a 503 that shows nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError
from fastapi import APIRouter, FastAPI
from helpers import TEST_SECRET, client_for
from servicefixtures import token
from unit.tracking.test_tracking_readers import (
    CASE_ID,
    LEAD,
    REPORTER_A,
    REPORTER_B,
    heating_case,
    view_of,
)
from unit.tracking.tracking_stories import (
    CITY,
    NAME,
    OFFICER,
    PHONE,
    RING,
    day,
    opened,
    reference_case,
)

from contracts.audit import PersonalDataRead
from contracts.facts import Role
from contracts.personal import PersonalData, ResidentContact
from contracts.topics import Topics
from services.common import bus
from services.common.auth import TokenCheck
from services.common.bus import AuditTrail, NotAudited, make_broker
from services.common.cityconfig import LiveCity
from services.common.clock import ManualClock
from services.common.http import install_error_handlers
from services.common.keys import DataKey
from services.common.revocations import Revocations
from services.tracking.api import install_audit_routes, install_routes
from services.tracking.audit import (
    ReadsQuery,
    StaffReads,
    document,
    read_of,
    shown,
    staff_read,
)
from services.tracking.live import Signals
from services.tracking.settings import TrackingSettings
from services.tracking.timeline import CaseView

READ_AT = day("10-21", 9)
READ_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
ROUTE = "GET /api/staff/cases/{case_id}"
FLAT = (opened(view_of(heating_case())) or PersonalData()).address
"""Where the heating case's resident lives: sealed, the category's address being private."""


def read_by(reader: Any, view: CaseView, personal: PersonalData | None
            ) -> PersonalDataRead | None:
    return staff_read(view, reader, personal, route=ROUTE, at=READ_AT, read_id=READ_ID,
                      correlation_id="corr-1")


# -- what a read records ----------------------------------------------------------------------


def test_an_officer_shown_the_personal_data_leaves_a_record_of_who_when_which_case_what(
) -> None:
    view = view_of(heating_case())
    read = read_by(OFFICER, view, opened(view))

    assert read == PersonalDataRead(
        read_id=READ_ID, case_id=CASE_ID, at=READ_AT, staff_id="officer-0007",
        role=Role.OFFICER, department=None, fields=("contact", "address", "coordinates"),
        route=ROUTE, correlation_id="corr-1")
    # the trail is about the reading: none of the resident's details are in it
    for detail in (NAME, PHONE, FLAT):
        assert detail not in read.model_dump_json()


def test_what_was_shown_is_what_the_resident_gave_and_the_reader_was_shown() -> None:
    lights = view_of(reference_case())  # a traffic light: its address is public, not sealed
    assert shown(opened(lights)) == ("contact",)
    written = PersonalData(description="请打电话 13812345678 联系我")
    assert shown(written) == ("description",)
    assert shown(PersonalData(contact=ResidentContact())) == ()  # an empty form is nothing


def test_a_department_s_read_names_the_department() -> None:
    view = view_of(heating_case())
    read = read_by(LEAD, view, opened(view))
    assert read is not None
    assert (read.staff_id, read.role, read.department) == ("heat-desk", Role.DEPARTMENT,
                                                            "heating-co")


def test_a_read_showing_nothing_personal_records_nothing() -> None:
    # withheld (a reporter the case was not handed to), none given (an anonymous
    # resident), or erased (the key destroyed: nothing opens)
    assert read_by(REPORTER_B, view_of(heating_case()), None) is None
    assert read_by(OFFICER, view_of(heating_case()), PersonalData()) is None


def test_a_read_without_a_correlation_id_is_correlated_by_its_own_id() -> None:
    view = view_of(heating_case())
    read = staff_read(view, OFFICER, opened(view), route=ROUTE, at=READ_AT, read_id=READ_ID,
                      correlation_id=None)
    assert read is not None and read.correlation_id == str(READ_ID)


def test_a_kept_read_reads_back_as_it_was_recorded() -> None:
    view = view_of(heating_case())
    read = read_by(LEAD, view, opened(view))
    assert read is not None
    doc = document(read)
    assert doc["_id"] == str(READ_ID) and doc["at"] == READ_AT  # a date, to sort by
    assert (doc["case_id"], doc["staff_id"]) == (CASE_ID, "heat-desk")  # to filter by
    assert read_of(doc) == read


def test_the_list_asks_for_a_case_a_member_of_staff_or_both_never_for_everything() -> None:
    assert ReadsQuery(case_id=CASE_ID).filter() == {"case_id": CASE_ID}
    assert ReadsQuery(staff_id="officer-0007").filter() == {"staff_id": "officer-0007"}
    assert ReadsQuery(case_id=CASE_ID, staff_id="officer-0007").filter() == {
        "case_id": CASE_ID, "staff_id": "officer-0007"}
    with pytest.raises(ValueError, match="case_id, staff_id"):
        ReadsQuery()


# -- the staff route and the admins' list, over HTTP --------------------------------------------


class OneCase:
    """The tracking store, holding one case (the route only reads it)."""

    def __init__(self, view: CaseView) -> None:
        self.view = view

    async def get(self, case_id: str) -> CaseView | None:
        return self.view if case_id == self.view.case_id else None


class Keys:
    """The key store, holding the stories' keys (the route only finds them)."""

    async def find(self, key_id: str) -> DataKey | None:
        return RING.keys.get(key_id)


class Kept:
    """The admins' read model, holding nothing; it notes what it was asked."""

    def __init__(self) -> None:
        self.asked: list[ReadsQuery] = []

    async def find(self, query: ReadsQuery) -> tuple[int, list[PersonalDataRead]]:
        self.asked.append(query)
        return 0, []


SETTINGS = TrackingSettings(environment="test", auth_secret=TEST_SECRET,
                            kafka_bootstrap="127.0.0.1:9", mongo_url="mongodb://127.0.0.1:9/",
                            kafka_security_protocol="PLAINTEXT")
TOKENS = TokenCheck(SETTINGS.secret, Revocations())


class Trail:
    """The audit topic: a real `AuditTrail` (never started) whose sends go to `send`."""

    def __init__(self) -> None:
        self.trail = AuditTrail(make_broker(SETTINGS, "tracking"), Topics(), "tracking")
        self.sent: list[PersonalDataRead] = []
        self.trail.outlet.send = self.send  # type: ignore[method-assign]
        self.failure: BaseException | None = None
        self.hangs = False

    async def send(self, body: bytes, key: bytes | None = None) -> None:
        if self.hangs:
            await asyncio.Event().wait()
        if self.failure is not None:
            raise self.failure
        read = PersonalDataRead.model_validate_json(body)
        assert key == read.case_id.encode()
        self.sent.append(read)


@pytest.fixture
def trail() -> Trail:
    return Trail()


@pytest.fixture
def kept() -> Kept:
    return Kept()


@pytest.fixture
async def http(trail: Trail, kept: Kept) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter()
    install_routes(router, store=OneCase(view_of(heating_case())),  # type: ignore[arg-type]
                   city=LiveCity(CITY), settings=SETTINGS, signals=Signals(),
                   keys=Keys(),  # type: ignore[arg-type]
                   audit=StaffReads(trail.trail, ManualClock(READ_AT)), tokens=TOKENS,
                   clock=ManualClock(READ_AT))
    install_audit_routes(router, reads=kept, tokens=TOKENS)  # type: ignore[arg-type]
    app.include_router(router)
    async with client_for(app) as client:
        yield client


async def test_the_officer_s_read_is_on_the_trail_before_the_personal_data_is_shown(
        trail: Trail, http: httpx.AsyncClient) -> None:
    answer = await http.get(f"/api/staff/cases/{CASE_ID}",
                            headers={**token(Role.OFFICER, subject="officer-0007"),
                                     "X-Correlation-Id": "ticket-4711"})

    assert answer.status_code == 200 and answer.json()["contact"]["phone"] == PHONE
    assert answer.json()["location"]["address"] == FLAT != ""
    [read] = trail.sent
    assert (read.case_id, read.staff_id, read.role, read.fields, read.correlation_id) == (
        CASE_ID, "officer-0007", Role.OFFICER, ("contact", "address", "coordinates"),
        "ticket-4711")
    assert read.at == READ_AT and read.route == ROUTE


async def test_whatever_a_signed_token_and_its_request_name_the_reader_the_read_is_recorded(
        trail: Trail, http: httpx.AsyncClient) -> None:
    odd = "张三 (temp)\t" + "x" * 300
    answer = await http.get(f"/api/staff/cases/{CASE_ID}",
                            headers={**token(Role.DEPARTMENT, "not-a-code!", subject=odd),
                                     "X-Correlation-Id": "a\tb"})
    assert answer.status_code == 403  # a department the case is not theirs: nothing shown
    answer = await http.get(f"/api/staff/cases/{CASE_ID}",
                            headers={**token(Role.SUPERVISOR, subject=odd),
                                     "X-Correlation-Id": "a\tb"})
    assert answer.status_code == 200
    assert [(read.staff_id, read.correlation_id) for read in trail.sent] == [(odd, "a\tb")]


async def test_a_reporter_the_case_was_not_handed_to_reads_it_unrecorded_without_contact(
        trail: Trail, http: httpx.AsyncClient) -> None:
    theirs = await http.get(f"/api/staff/cases/{CASE_ID}",
                            headers=token(Role.REPORTER, subject=REPORTER_B.staff_id or ""))
    mine = await http.get(f"/api/staff/cases/{CASE_ID}",
                          headers=token(Role.REPORTER, subject=REPORTER_A.staff_id or ""))

    assert theirs.status_code == 200 and theirs.json()["contact"] is None
    assert mine.status_code == 200 and mine.json()["contact"]["phone"] == PHONE
    assert [read.staff_id for read in trail.sent] == ["reporter-a"]


@pytest.mark.parametrize("kafka", ["refuses", "hangs"])
async def test_a_read_the_trail_cannot_take_is_refused_and_shows_nothing(
        trail: Trail, http: httpx.AsyncClient, kafka: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if kafka == "hangs":  # the broker away: the send would wait for it
        trail.hangs = True
        monkeypatch.setattr(bus, "APPEND_TIMEOUT_S", 0.05)
    else:
        trail.failure = KafkaConnectionError("no broker")

    answer = await http.get(f"/api/staff/cases/{CASE_ID}", headers=token(Role.OFFICER))

    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert "audit trail" in answer.json()["error"]
    for detail in (NAME, PHONE, FLAT):
        assert detail not in answer.text
    assert trail.sent == []


async def test_a_refused_record_is_not_audited_as_such() -> None:
    trail = Trail()
    trail.failure = KafkaConnectionError("no broker")
    view = view_of(heating_case())
    read = read_by(OFFICER, view, opened(view))
    assert read is not None
    with pytest.raises(NotAudited):
        await trail.trail.record(read)


async def test_only_admins_list_the_trail_and_they_say_whose_reads(
        http: httpx.AsyncClient, kept: Kept) -> None:
    reads = "/api/admin/audit/reads"
    admin = token(Role.ADMIN)
    for role in (Role.OFFICER, Role.SUPERVISOR, Role.REPORTER):
        refused = await http.get(reads, params={"case_id": CASE_ID}, headers=token(role))
        assert refused.status_code == 403 and "admin" in refused.json()["error"]
    assert (await http.get(reads, params={"case_id": CASE_ID})).status_code == 401

    neither = await http.get(reads, headers=admin)
    assert neither.status_code == 422 and "case_id, staff_id" in neither.json()["error"]
    unknown = await http.get(reads, params={"department": "heating-co"}, headers=admin)
    assert unknown.status_code == 422 and "department" in unknown.json()["error"]
    bad_case = await http.get(reads, params={"case_id": "../etc"}, headers=admin)
    assert bad_case.status_code == 422 and "case_id" in bad_case.json()["error"]

    listed = await http.get(reads, params={"staff_id": "officer-0007", "limit": 5},
                            headers=admin)
    assert listed.status_code == 200
    assert listed.json() == {"total": 0, "limit": 5, "offset": 0, "next_offset": None, "next": None,
                             "items": []}
    assert kept.asked == [ReadsQuery(staff_id="officer-0007", limit=5)]  # nothing else was
