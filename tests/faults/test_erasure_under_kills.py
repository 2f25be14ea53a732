"""An erasure survives a kill -9 of any service halfway (issue 13).

Intake, routing and tracking run as real processes (`zaiban serve`). Residents' cases
are made over HTTP — name, phone, email, a flat's address (private for the category),
a photo for most — and some are accepted, so that the rules route them to the water
company. Then each service is killed with SIGKILL at the worst moments the test can
arrange, and started again:

- intake, while it carries out a request that is on the erasures topic: dead before it
  took it, after it deleted the photos, after it destroyed the key (routing records
  the erasure of a routed case meanwhile), after it claimed `PersonalDataErased` in its
  write model but before the log held it. Intake's own code does the work up to the
  crash, in the test's process, on intake's databases (`Killed` is the crash);
- routing, while a routed case's erasure waits for it: dead before it read the request;
  after it claimed the event but before the log held it; after the log held it but
  before the department was told (routing's own `record_erasure`, the same way);
- tracking, before it read the event;

and then erasures are asked for, by residents and admins, while the three are killed at
random moments (the clients retry as real clients do).

Then, for every erased case: one `PersonalDataErased` in the log; its key destroyed (the
sealed data of its submission opens no more); its photos gone (404); tracking's staff view
without the contact, `personal_data_erased`; for a routed case, one `erased` notice (by
message id: delivery is at least once) to the water company; a second erase answers 409.
The cases not erased keep everything, and no service logged an ERROR.

Metrics plays no part in an erasure (its figures stay), so it is not run here.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from faults.processes import Fleet, Tally, call
from faults.verify import the_log
from helpers import (
    DiesAfter,
    Killed,
    eventually,
    personal_of,
    publish_envelopes,
    publish_raw,
    read_events,
    read_topic,
)
from security.public_entry import (
    ADMIN,
    DEPT_A,
    OFFICER,
    PNG,
    SUBMISSION,
    ok,
    settled,
    staff_rows,
)

from contracts.case_commands import ErasePersonalData
from contracts.envelope import Envelope
from contracts.facts import Actor, Role
from contracts.topics import Topics
from services.common.casestreams import CaseStreams
from services.common.clock import SystemClock
from services.common.keys import key_store
from services.common.settings import CommonSettings
from services.common.store import make_client, service_db
from services.intake.erasures import Erasures
from services.intake.media import PhotoStore
from services.intake.service import index_fields as intake_index_fields
from services.routing import sweeps
from services.routing.service import RoutingService
from zaiban.topics import ensure_for_city

SERVICES = ("intake", "routing", "tracking")
RANDOM_CASES = 8
TRANSIENT = {502, 503, 504}


# --- the cases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Resident:
    """A case the test made, as its resident knows it."""

    name: str
    case_id: str
    code: str
    photo: str | None
    routed: bool

    @property
    def own(self) -> dict[str, str]:
        return {"X-Tracking-Code": self.code}


async def submitted(intake: httpx.AsyncClient, name: str, *, photo: bool) -> Resident:
    media: list[dict[str, str]] = []
    photo_id = None
    if photo:
        uploaded = await ok(await intake.post(
            "/api/media", files={"photo": ("p.png", PNG, "image/png")}))
        photo_id = str(uploaded["url"]).rsplit("/", 1)[-1]
        media = [{"url": uploaded["url"], "content_type": "image/png"}]
    receipt = await ok(await intake.post("/api/cases", json={**SUBMISSION, "media": media}))
    return Resident(name, receipt["case_id"], receipt["tracking_code"], photo_id, routed=False)


async def made(intake: httpx.AsyncClient, tracking: httpx.AsyncClient,
               wanted: dict[str, tuple[bool, bool]]) -> dict[str, Resident]:
    """The cases `wanted` (name → routed, with a photo); the routed ones accepted by an
    officer and routed by routing to the water company, by the rules."""
    made = await asyncio.gather(*(submitted(intake, name, photo=photo)
                                  for name, (_, photo) in wanted.items()))
    cases = {case.name: case for case in made}
    routed = [name for name, (route, _) in wanted.items() if route]

    async def accept(case: Resident) -> None:
        await ok(await intake.post(f"/api/cases/{case.case_id}/accept", headers=OFFICER,
                                   json={}))

    await asyncio.gather(*(accept(cases[name]) for name in routed))

    async def all_routed() -> bool:
        rows = await staff_rows(tracking, ["routed"])
        return all(settled(rows.get(cases[name].case_id), "routed") for name in routed)

    await eventually(all_routed, timeout=90, every=0.5,
                     what=f"routing to route {len(routed)} cases to {DEPT_A}")
    return {name: Resident(name, c.case_id, c.code, c.photo, name in routed)
            for name, c in cases.items()}


# --- asking for an erasure ---------------------------------------------------------------


def by_admin() -> Actor:
    return Actor(role=Role.ADMIN, staff_id="admin-root")


async def erase(intake: httpx.AsyncClient, case: Resident, *, resident: bool) -> httpx.Response:
    if resident:
        return await intake.post(f"/api/cases/{case.case_id}/erase", headers=case.own)
    return await intake.post(f"/api/admin/erasures/{case.case_id}", headers=ADMIN)


async def erase_until_answered(intake: httpx.AsyncClient, tally: Tally, case: Resident, *,
                               resident: bool, within_s: float = 90.0) -> int:
    """Ask as a client does: again after a pause while intake is away (killed, starting).
    A repeat after a lost answer may hear 409, "erased already": that is an answer too."""
    deadline, pause = time.monotonic() + within_s, 0.3
    path, headers = ((f"/api/cases/{case.case_id}/erase", case.own) if resident
                     else (f"/api/admin/erasures/{case.case_id}", ADMIN))
    while time.monotonic() < deadline:
        answer = await call(intake, tally, "POST", path, headers=headers)
        if answer is not None and answer.status_code not in TRANSIENT:
            assert answer.status_code in (200, 202) or (
                answer.status_code == 409 and "erased already" in answer.text), answer.text
            return answer.status_code
        tally.retries += 1
        await asyncio.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 2, 2.0)
    raise AssertionError(f"the erasure of {case.case_id} was never answered")


async def published_request(settings: CommonSettings, case: Resident) -> ErasePersonalData:
    """The request on the erasures topic, as intake's API publishes it before it answers."""
    command = ErasePersonalData(request_id=str(uuid.uuid4()), case_id=case.case_id,
                                by=by_admin(), reason="request", requested_at=datetime.now(UTC))
    await publish_raw(settings.kafka_bootstrap, Topics(settings.topic_prefix).erasures,
                      [command.model_dump_json().encode()], key=case.case_id.encode())
    return command


# --- a service's own code, up to the moment it is killed ---------------------------------


class TheLog:
    """The case event log as a dying process last saw it: Kafka got the events or not."""

    def __init__(self, settings: CommonSettings, *, reached: bool) -> None:
        self.settings, self.reached = settings, reached

    async def append(self, envelopes: list[Envelope]) -> None:
        if self.reached:
            await publish_envelopes(self.settings, list(envelopes))


@asynccontextmanager
async def databases(settings: CommonSettings) -> AsyncIterator[Any]:
    client = make_client(settings)
    try:
        yield SimpleNamespace(keys=key_store(client, settings),
                              intake=service_db(client, settings, "intake"),
                              routing=service_db(client, settings, "routing"))
    finally:
        await client.close()


async def intake_dies(settings: CommonSettings, command: ErasePersonalData, after: str) -> None:
    """Intake's `carry_out` of `command`, until it dies `after` a step: "photos deleted",
    "key destroyed", or "claimed" (the event in its write model, not in the log)."""
    async with databases(settings) as db:
        photos: Any = PhotoStore(db.intake["media"], max_bytes=1, max_pixels=1)
        keys: Any = db.keys
        log: Any = TheLog(settings, reached=False)
        match after:
            case "photos deleted":
                photos = DiesAfter(photos, "delete")
            case "key destroyed":
                keys = DiesAfter(keys, "destroy")
            case "claimed":
                log = DiesAfter(log, "append")
        streams = CaseStreams(db.intake["cases"], log, SystemClock(), producer="intake",
                              index_fields=intake_index_fields)
        erasures = Erasures(streams, keys, photos, db.intake["erasures"])
        with pytest.raises(Killed):
            await erasures.carry_out(command)


async def routing_dies(settings: CommonSettings, command: ErasePersonalData, *,
                       in_the_log: bool) -> None:
    """Routing's `record_erasure` of `command`, until it dies once the event is claimed in
    its write model: before the log held it, or after (and before it told the department)."""
    async with databases(settings) as db:
        log = DiesAfter(TheLog(settings, reached=in_the_log), "append")
        routing = SimpleNamespace(  # what record_erasure uses of the service
            streams=CaseStreams(db.routing["cases"], log, SystemClock(),  # type: ignore[arg-type]
                                producer="routing", index_fields=sweeps.index_fields),
            keys=db.keys)
        with pytest.raises(Killed):
            await RoutingService.record_erasure(routing, command)  # type: ignore[arg-type]


async def keys_destroyed(settings: CommonSettings, cases: list[Resident]) -> None:
    async def all_destroyed() -> bool:
        async with databases(settings) as db:
            return all([await db.keys.destroyed(case.case_id) for case in cases])

    await eventually(all_destroyed, timeout=30, every=0.2, what="intake to destroy the keys")


async def erased_in_the_log(settings: CommonSettings, case: Resident) -> list[Envelope]:
    async def recorded() -> list[Envelope]:
        return [e for e in await read_events(settings, case_id=case.case_id)
                if e.type == "PersonalDataErased"]

    return await eventually(recorded, timeout=30, every=0.3,
                            what=f"PersonalDataErased of {case.case_id} in the log")


async def restarted(fleet: Fleet, name: str) -> None:
    fleet[name].start()
    await fleet[name].ready()


async def kill_each_at_random(fleet: Fleet, rng: random.Random, kills: list[str]) -> None:
    order = list(SERVICES)
    rng.shuffle(order)
    for name in order:
        await asyncio.sleep(rng.uniform(0.3, 2.5))
        fleet[name].kill()
        kills.append(name)
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        await restarted(fleet, name)


# --- the story ---------------------------------------------------------------------------


async def test_an_erasure_survives_a_kill_9_of_any_service_halfway(
        settings: CommonSettings, tmp_path: Path) -> None:
    started = time.monotonic()
    rng = random.Random(13)
    tally, kills = Tally(), list[str]()
    # as a city's deployment does (`zaiban up`): no topic is left to auto-creation, whose
    # first use aiokafka logs as an ERROR
    await ensure_for_city(settings)
    async with Fleet(settings, tmp_path / "logs", names=SERVICES) as fleet:
        intake = httpx.AsyncClient(base_url=fleet["intake"].url, timeout=30)
        tracking = httpx.AsyncClient(base_url=fleet["tracking"].url, timeout=30)
        try:
            # name → (routed, with a photo)
            wanted = {
                "i-before": (False, True), "i-before-routed": (True, False),
                "i-photos-routed": (True, True), "i-key": (False, True),
                "i-key-routed": (True, True), "i-claimed": (False, True),
                "r-before": (True, True), "r-claimed": (True, False), "r-told": (True, True),
                "t-before": (False, True), "t-before-routed": (True, True),
                "kept": (False, True), "kept-routed": (True, True),
                **{f"random-{n}": (n % 2 == 1, n % 4 != 0) for n in range(RANDOM_CASES)},
            }
            cases = await made(intake, tracking, wanted)
            phases = {"cases made": time.monotonic()}
            kept = [cases["kept"], cases["kept-routed"]]

            # intake dies while it carries out requests already on the erasures topic
            fleet["intake"].kill()
            # first alone (routing reads the topic in order): with the key destroyed, routing
            # records the routed case's erasure while intake is away
            command = await published_request(settings, cases["i-key-routed"])
            await intake_dies(settings, command, after="key destroyed")
            await erased_in_the_log(settings, cases["i-key-routed"])
            commands = {name: await published_request(settings, cases[name])
                        for name in ("i-before", "i-before-routed", "i-photos-routed", "i-key",
                                     "i-claimed")}
            await intake_dies(settings, commands["i-photos-routed"], after="photos deleted")
            await intake_dies(settings, commands["i-key"], after="key destroyed")
            await intake_dies(settings, commands["i-claimed"], after="claimed")
            await restarted(fleet, "intake")
            phases["intake killed"] = time.monotonic()

            # routing dies while routed cases' erasures wait for it
            fleet["routing"].kill()
            asked = [asyncio.create_task(erase(intake, cases[name], resident=False))
                     for name in ("r-before", "r-claimed", "r-told")]
            await keys_destroyed(settings, [cases["r-claimed"], cases["r-told"]])
            await routing_dies(settings, ErasePersonalData(
                request_id="r-claimed", case_id=cases["r-claimed"].case_id, by=by_admin(),
                requested_at=datetime.now(UTC)), in_the_log=False)
            await routing_dies(settings, ErasePersonalData(
                request_id="r-told", case_id=cases["r-told"].case_id, by=by_admin(),
                requested_at=datetime.now(UTC)), in_the_log=True)
            await restarted(fleet, "routing")
            answers = [(await task).status_code for task in asked]
            assert all(status in (200, 202) for status in answers), answers
            phases["routing killed"] = time.monotonic()

            # tracking dies before it reads the events
            fleet["tracking"].kill()
            answers = [(await erase(intake, cases["t-before"], resident=True)).status_code,
                       (await erase(intake, cases["t-before-routed"], resident=False)).status_code]
            assert all(status in (200, 202) for status in answers), answers
            await restarted(fleet, "tracking")
            phases["tracking killed"] = time.monotonic()

            # erasures asked for while the services are killed at random moments
            chaos = asyncio.create_task(kill_each_at_random(fleet, rng, kills))

            async def later(case: Resident, resident: bool) -> int:
                await asyncio.sleep(rng.uniform(0.0, 24.0))  # over the whole of the kills
                return await erase_until_answered(intake, tally, case, resident=resident)

            randomly = [cases[f"random-{n}"] for n in range(RANDOM_CASES)]
            await asyncio.gather(*(later(case, n % 3 == 0) for n, case in enumerate(randomly)))
            await chaos
            phases["random kills"] = time.monotonic()

            # then: every erased case erased once, everywhere; the others untouched
            erased = [case for case in cases.values() if case not in kept]
            await check_erased(settings, intake, tracking, erased, kept)
            phases["checked"] = time.monotonic()
            errors = {name: fleet[name].logged_errors() for name in SERVICES}
            assert not any(errors.values()), errors
        finally:
            await intake.aclose()
            await tracking.aclose()

    print("\nFAULT FIGURES", json.dumps({
        "test": "erasure under kill -9", "cases": len(cases), "erased": len(erased),
        "routed": sum(case.routed for case in cases.values()),
        "kills": {name: fleet[name].kills for name in SERVICES}, "random_kills": kills,
        "client": tally.figures(),
        "phases_s": {name: round(at - before, 1) for (name, at), before
                     in zip(phases.items(), [started, *phases.values()], strict=False)},
        "seconds": round(time.monotonic() - started, 1)}))


async def check_erased(settings: CommonSettings, intake: httpx.AsyncClient,
                       tracking: httpx.AsyncClient, erased: list[Resident],
                       kept: list[Resident]) -> None:
    # the log: one PersonalDataErased per erased case (a republished copy has its id)
    async def all_recorded() -> dict[str, set[uuid.UUID]] | None:
        found: dict[str, set[uuid.UUID]] = defaultdict(set)
        for event in await read_events(settings):
            if event.type == "PersonalDataErased":
                found[event.case_id].add(event.event_id)
        return found if all(case.case_id in found for case in erased) else None

    recorded = await eventually(all_recorded, timeout=60, every=0.5,
                                what="PersonalDataErased of every erased case")
    assert {case_id: len(ids) for case_id, ids in recorded.items() if len(ids) != 1} == {}
    assert set(recorded) == {case.case_id for case in erased}
    log = await the_log(settings)  # and no two events of a case share a seq

    # the keys: the sealed personal data in each submission opens only for the kept cases
    submissions = {e.case_id: e for e in await read_events(settings) if e.type == "CaseSubmitted"}
    opening = [case.name for case in [*erased, *kept]
               if await personal_of(settings, submissions[case.case_id]) is not None]
    assert opening == [case.name for case in kept]

    # the photos: gone, but for the kept cases
    served = [case.name for case in [*erased, *kept] if case.photo
              and (await intake.get(f"/media/{case.photo}")).status_code == 200]
    assert served == [case.name for case in kept]

    # tracking: the staff view without the resident, once it read the erasure
    async def forgotten() -> dict[str, dict[str, Any]] | None:
        views = {}
        for case in [*erased, *kept]:
            views[case.case_id] = await ok(await tracking.get(
                f"/api/staff/cases/{case.case_id}", headers=OFFICER))
        done = all(views[case.case_id]["personal_data_erased"] for case in erased)
        return views if done else None

    views = await eventually(forgotten, timeout=60, every=0.5,
                             what="tracking to drop the personal data of every erased case")
    for case in erased:
        assert views[case.case_id]["contact"] is None, views[case.case_id]
        assert views[case.case_id]["seq"] == log.last_seq[case.case_id]
    for case in kept:
        assert not views[case.case_id]["personal_data_erased"]
        assert views[case.case_id]["contact"]["phone"] == SUBMISSION["contact"]["phone"]

    # the water company: one `erased` notice per routed case (repeats share a message id)
    routed = {case.case_id for case in erased if case.routed}

    async def all_told() -> dict[str, set[str]] | None:
        topic = Topics(settings.topic_prefix).department_cases(DEPT_A)
        told: dict[str, set[str]] = defaultdict(set)
        for raw in await read_topic(settings.kafka_bootstrap, topic):
            notice = json.loads(raw)
            if notice["action"] == "erased":
                told[notice["case_id"]].add(notice["message_id"])
        return told if routed <= set(told) else None

    told = await eventually(all_told, timeout=60, every=0.5,
                            what=f"{DEPT_A} to be told of every erasure")
    assert set(told) == routed
    assert told == {case_id: {str(next(iter(recorded[case_id])))} for case_id in routed}

    # asked again: 409, by an admin or the resident alike
    for number, case in enumerate(erased):
        again = await erase(intake, case, resident=number % 2 == 0)
        assert again.status_code == 409 and "erased already" in again.text, again.text
        record = await ok(await intake.get(f"/api/admin/erasures/{case.case_id}",
                                           headers=ADMIN))
        assert record["status"] == "erased" and record["key_destroyed_at"], record
