"""Public submission is rate-limited per client: a flood from one address is answered 429
with Retry-After and never reaches the log, while everyone else goes on submitting.
With the production defaults (20 a minute after a burst of 10), on the real stack."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from helpers import TEST_SECRET, read_events
from security.public_entry import PNG, SUBMISSION, client, public_entry

from contracts.facts import Role
from services.common.auth import issue_token
from services.common.settings import CommonSettings

DEFAULTS = {"submit_rate_per_minute": CommonSettings.model_fields["submit_rate_per_minute"].default,
            "submit_burst": CommonSettings.model_fields["submit_burst"].default}


def retry_after(answer: httpx.Response) -> int:
    assert answer.status_code == 429, answer.text
    return int(answer.headers["Retry-After"])


async def submissions(http: httpx.AsyncClient, count: int, **kwargs: Any) -> list[int]:
    """`count` submissions sent at once (a submission waits for Kafka, so one after the
    other would give the bucket time to refill); their statuses, in order."""
    answers = await asyncio.gather(*(http.post("/api/cases", json=SUBMISSION, **kwargs)
                                     for _ in range(count)))
    return sorted(answer.status_code for answer in answers)


async def test_the_eleventh_quick_submission_from_one_client_waits(
        settings: CommonSettings) -> None:
    assert DEFAULTS == {"submit_rate_per_minute": 20.0, "submit_burst": 10}
    async with (public_entry(settings, **DEFAULTS) as app, client(app, "198.51.100.7") as one,
                client(app, "203.0.113.20") as other):
        answers = await asyncio.gather(*(one.post("/api/cases", json=SUBMISSION)
                                         for _ in range(11)))
        assert sorted(a.status_code for a in answers) == [201] * 10 + [429]
        eleventh = next(a for a in answers if a.status_code == 429)
        assert 1 <= retry_after(eleventh) <= 3  # one submission every 3 s from now on
        assert "too many submissions" in eleventh.json()["error"]

        assert await submissions(other, 1) == [201]  # another resident is not affected

        # photos have a bucket of their own: a resident who sent ten cases can still attach
        photo = {"photo": ("p.png", PNG, "image/png")}
        uploads = await asyncio.gather(*(one.post("/api/media", files=photo)
                                         for _ in range(11)))
        assert sorted(a.status_code for a in uploads) == [201] * 10 + [429]

        received = await read_events(settings, min_count=11)
        assert [e.type for e in received] == ["CaseSubmitted"] * 11


async def test_behind_our_proxy_each_resident_has_a_limit_and_spoofing_gains_nothing(
        settings: CommonSettings) -> None:
    limits = {"submit_rate_per_minute": 1.0, "submit_burst": 2}  # no refill during the test
    async with (public_entry(settings, **limits, trusted_proxy_hops=1) as app,
                client(app, "10.0.0.1") as proxy):
        # the proxy appends the address it saw; whatever the client wrote before is ignored
        first = {"X-Forwarded-For": "1.1.1.1, 198.51.100.1"}
        second = {"X-Forwarded-For": "2.2.2.2, 198.51.100.2"}
        assert await submissions(proxy, 3, headers=first) == [201, 201, 429]
        assert await submissions(proxy, 2, headers=second) == [201, 201]
        rotating = [{"X-Forwarded-For": f"9.9.9.{n}, 198.51.100.1"} for n in range(3)]
        spoofed = await asyncio.gather(*(proxy.post("/api/cases", json=SUBMISSION, headers=h)
                                         for h in rotating))
        assert [a.status_code for a in spoofed] == [429] * 3

    async with (public_entry(settings, **limits) as app,
                client(app, "198.51.100.3") as direct):
        # no proxy of ours in front: X-Forwarded-For is the client's own word, and ignored
        spoofing = [{"X-Forwarded-For": f"9.9.9.{n}"} for n in range(3)]
        answers = await asyncio.gather(*(direct.post("/api/cases", json=SUBMISSION, headers=h)
                                         for h in spoofing))
        assert sorted(a.status_code for a in answers) == [201, 201, 429]


async def test_open311_clients_share_the_submission_limit_and_hear_429(
        settings: CommonSettings) -> None:
    form = {"api_key": issue_token(TEST_SECRET, "city-app", Role.OFFICER, kind="api_key"),
            "service_code": "water", "attribute[district]": "jinshui",
            "address_string": "花园路88号", "description": "花园路停水两天了，请尽快处理。"}
    limits = {"submit_rate_per_minute": 1.0, "submit_burst": 2}
    async with public_entry(settings, **limits) as app, client(app, "198.51.100.9") as app_client:
        answers = await asyncio.gather(*(app_client.post("/open311/v2/requests.json", data=form)
                                         for _ in range(3)))
        assert sorted(a.status_code for a in answers) == [201, 201, 429]
        refused = next(a for a in answers if a.status_code == 429)
        assert retry_after(refused) >= 1
        assert refused.json()[0]["code"] == 429  # the spec's error format
        assert "too many submissions" in refused.json()[0]["description"]
        # the same bucket as the JSON API's
        assert (await app_client.post("/api/cases", json=SUBMISSION)).status_code == 429
