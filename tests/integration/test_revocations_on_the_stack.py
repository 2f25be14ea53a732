"""Staff access taken back on the real stack: two instances of a service, one revocation.

The story: tracking runs in two instances, as a city scales it, built by the composition
root from the same settings. Officers Ann and Bob are signed in on both. Ann's access is
taken back at the console (`zaiban token revoke --subject`): within seconds the second
instance, which was told nothing directly, refuses her token with 401 saying it was
revoked, and Bob's still works. An admin revokes one of Bob's two tokens by its id through
the first instance: the second refuses that one, not the other. The revocations are
events on their topic, keyed by subject (or token id). An instance started afterwards —
past a record on the topic it cannot read — refuses both from its first request. An Open311
integration whose api key is revoked can no longer submit through intake.
"""

from __future__ import annotations

import time

import httpx
import pytest
from helpers import TEST_SECRET, client_for, eventually, publish_raw, read_topic, running

from contracts.facts import Role
from contracts.revocations import RevokeTokens, TokenRevoked
from contracts.topics import Topics
from services.common.auth import issue_token, verify_token
from services.common.settings import CommonSettings
from services.composition import app_of, build
from zaiban.tokens import revoke_from_console

pytestmark = pytest.mark.stack

STAFF_CASES = "/api/staff/cases"
WITHIN_S = 5.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def officer(subject: str) -> str:
    return issue_token(TEST_SECRET, subject, Role.OFFICER)


async def refused_within(http: httpx.AsyncClient, token: str, what: str) -> httpx.Response:
    """The answer of `http` to `token` once it is 401, which must come within WITHIN_S."""
    started = time.monotonic()

    async def refused() -> httpx.Response | None:
        answer = await http.get(STAFF_CASES, headers=bearer(token))
        return answer if answer.status_code == 401 else None

    answer = await eventually(refused, timeout=WITHIN_S, every=0.05, what=what)
    assert time.monotonic() - started < WITHIN_S
    return answer


async def test_a_revoked_token_is_refused_by_a_second_instance_within_seconds(
        settings: CommonSettings) -> None:
    first, second = build("tracking", settings), build("tracking", settings)
    ann, bob, bob_on_the_phone = officer("officer-ann"), officer("officer-bob"), \
        officer("officer-bob")
    admin = bearer(issue_token(TEST_SECRET, "admin-root", Role.ADMIN))
    async with running(first, second), client_for(app_of(first)) as one, \
            client_for(app_of(second)) as two:
        for http in (one, two):
            for token in (ann, bob, bob_on_the_phone):
                assert (await http.get(STAFF_CASES, headers=bearer(token))).status_code == 200

        # at the console: every token of Ann's issued until now
        by_subject = await revoke_from_console(
            settings, RevokeTokens(subject="officer-ann", reason="left the team"))
        answer = await refused_within(two, ann, "the second instance to refuse Ann's token")
        assert "this token was revoked" in answer.json()["error"]
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        await refused_within(one, ann, "the first instance to refuse Ann's token")
        for http in (one, two):
            assert (await http.get(STAFF_CASES, headers=bearer(bob))).status_code == 200

        # through the first instance, by an admin: one of Bob's tokens, by its id
        lost = verify_token(TEST_SECRET, bob_on_the_phone).token_id
        recorded = await one.post("/api/admin/tokens/revoke", headers=admin,
                                  json={"token_id": lost, "reason": "phone lost"})
        assert recorded.status_code == 200, recorded.text
        by_id = TokenRevoked.model_validate(recorded.json())
        assert (by_id.token_id, by_id.subject, by_id.by) == (lost, None, "admin-root")
        await refused_within(two, bob_on_the_phone, "the second instance to refuse Bob's lost token")
        assert (await two.get(STAFF_CASES, headers=bearer(bob))).status_code == 200

        # both are facts on their topic, kept by subject (or by token id); the topic has
        # partitions (as `zaiban topics ensure` makes it), so read in the order they were made
        topic = Topics(settings.topic_prefix).revocations
        on_the_topic = [TokenRevoked.model_validate_json(value)
                        for value in await read_topic(settings.kafka_bootstrap, topic,
                                                      min_count=2)]
        assert sorted(on_the_topic, key=lambda revoked: revoked.at) == [by_subject, by_id]
        assert by_subject.key() == b"officer-ann" and by_id.key() == lost.encode()

    # an instance started now, past a record it cannot read, knows them all from the first
    # request: it reads the topic to its end before it starts
    await publish_raw(settings.kafka_bootstrap, topic, [b'{"not": "a revocation"}'],
                      key=b"nobody")
    third = build("tracking", settings)
    async with running(third), client_for(app_of(third)) as three:
        assert len(third.tokens.revocations) == 2
        answers = [await three.get(STAFF_CASES, headers=bearer(token))
                   for token in (ann, bob_on_the_phone, bob)]
        assert [a.status_code for a in answers] == [401, 401, 200]


async def test_a_revoked_open311_api_key_can_no_longer_submit(settings: CommonSettings) -> None:
    key = issue_token(TEST_SECRET, "city-app", Role.OFFICER, kind="api_key")
    form = {"service_code": "water", "address_string": "花园路88号",
            "attribute[district]": "jinshui", "description": "花园路停水两天了，请尽快处理。"}
    intake = build("intake", settings)
    async with running(intake), client_for(app_of(intake)) as http:
        submitted = await http.post("/open311/v2/requests.json", data={**form, "api_key": key})
        assert submitted.status_code == 201, submitted.text

        await revoke_from_console(settings, RevokeTokens(subject="city-app"))

        async def refused() -> httpx.Response | None:
            answer = await http.post("/open311/v2/requests.json", data={**form, "api_key": key})
            return answer if answer.status_code == 403 else None

        answer = await eventually(refused, timeout=WITHIN_S, every=0.05,
                                  what="intake to refuse the revoked api key")
        # Open311 answers a bad api_key 403 (the spec's code), saying why
        assert "this token was revoked" in answer.text
