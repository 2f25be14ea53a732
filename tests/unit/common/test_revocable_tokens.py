"""Staff access can be taken back: tokens carry an id and a short life, and a revocation —
of one token by its id, or of every token of a subject issued until a moment — refuses
them, checked in memory on each request.

The revocations an instance reads from the bus are folded into `Revocations`; how they get
there on the real broker, to two instances at once, is
tests/integration/test_revocations_on_the_stack.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from contracts.facts import Role
from contracts.revocations import RevokeTokens, TokenRevoked
from services.common.auth import (
    API_KEY_TTL_S,
    STAFF_TOKEN_TTL_S,
    BadToken,
    Principal,
    Revoked,
    TokenCheck,
    issue_token,
    staff_guard,
    verify_token,
)
from services.common.http import install_error_handlers
from services.common.revocations import Revocations, revoke
from zaiban.cli import app as cli

SECRET = SecretStr("unit-secret-0123456789")
NOW = datetime(2026, 10, 7, 9, 0, tzinfo=UTC)


def revocation(*, token_id: str | None = None, subject: str | None = None,
               at: datetime = NOW) -> TokenRevoked:
    return revoke(RevokeTokens(token_id=token_id, subject=subject, reason="left the team"),
                  by="admin-root", now=at)


def check(*revocations: TokenRevoked) -> TokenCheck:
    known = Revocations()
    for revoked in revocations:
        known.add(revoked)
    return TokenCheck(lambda: SECRET, known)


def seconds(moment: datetime) -> float:
    return moment.timestamp()


# --- the token ---------------------------------------------------------------------------------


def test_a_staff_token_carries_a_new_id_and_lives_eight_hours_unless_told_otherwise() -> None:
    before = time.time()
    first = verify_token(SECRET, issue_token(SECRET, "officer-ann", Role.OFFICER))
    second = verify_token(SECRET, issue_token(SECRET, "officer-ann", Role.OFFICER))

    assert first.token_id and second.token_id and first.token_id != second.token_id
    assert before - 0.001 <= first.issued_at <= time.time()
    assert first.expires - first.issued_at == pytest.approx(STAFF_TOKEN_TTL_S, abs=1)
    assert STAFF_TOKEN_TTL_S == 8 * 3600
    longer = verify_token(SECRET, issue_token(SECRET, "officer-ann", Role.OFFICER, ttl_s=86400))
    assert longer.expires - longer.issued_at == pytest.approx(86400, abs=1)


def test_an_open311_api_key_keeps_a_long_life_and_has_an_id_too() -> None:
    key = verify_token(SECRET, issue_token(SECRET, "city-app", Role.OFFICER, kind="api_key"),
                       kind="api_key")
    assert key.token_id and key.kind == "api_key"
    assert key.expires - key.issued_at == pytest.approx(API_KEY_TTL_S, abs=1)
    assert API_KEY_TTL_S == 30 * 86400


def legacy_token(subject: str) -> str:
    """A token as issued before tokens had an id and an issue time."""
    body = {"sub": subject, "role": "officer", "dept": None, "kind": "staff",
            "exp": int(time.time()) + 3600}
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    mac = hmac.new(SECRET.get_secret_value().encode(), payload.encode(), hashlib.sha256)
    return f"zb1.{payload}.{base64.urlsafe_b64encode(mac.digest()).rstrip(b'=').decode()}"


def test_a_token_from_before_ids_still_signs_in_and_a_revocation_of_its_subject_reaches_it(
        ) -> None:
    old = legacy_token("officer-ann")
    assert check().verify(old).token_id == ""
    with pytest.raises(Revoked):
        check(revocation(subject="officer-ann")).verify(old)


# --- revoking ----------------------------------------------------------------------------------


def test_revoking_one_token_refuses_that_token_only() -> None:
    kept = issue_token(SECRET, "officer-ann", Role.OFFICER)
    lost = issue_token(SECRET, "officer-ann", Role.OFFICER)
    tokens = check(revocation(token_id=verify_token(SECRET, lost).token_id))

    with pytest.raises(Revoked, match="this token was revoked"):
        tokens.verify(lost)
    assert tokens.verify(kept).subject == "officer-ann"


def test_revoking_a_subject_refuses_their_tokens_issued_before_and_no_one_else_s() -> None:
    before = issue_token(SECRET, "officer-ann", Role.OFFICER)
    someone_else = issue_token(SECRET, "officer-bob", Role.OFFICER)
    tokens = check(revocation(subject="officer-ann", at=datetime.now(UTC)))
    time.sleep(0.002)  # issued in the same millisecond, a token counts as issued before
    after = issue_token(SECRET, "officer-ann", Role.OFFICER)

    with pytest.raises(Revoked):
        tokens.verify(before)
    assert tokens.verify(someone_else).subject == "officer-bob"
    assert tokens.verify(after).subject == "officer-ann"  # a new token after the revocation


def test_a_revoked_api_key_is_refused_as_an_api_key() -> None:
    key = issue_token(SECRET, "city-app", Role.OFFICER, kind="api_key")
    with pytest.raises(Revoked):
        check(revocation(subject="city-app", at=datetime.now(UTC))).verify(key, kind="api_key")


def test_a_bad_token_is_refused_for_what_it_is_before_any_revocation_is_looked_at() -> None:
    forged = issue_token(SecretStr("another-deployment"), "officer-ann", Role.OFFICER)
    with pytest.raises(BadToken, match="bad signature") as refused:
        check(revocation(subject="officer-ann", at=datetime.now(UTC))).verify(forged)
    assert not isinstance(refused.value, Revoked)


def test_the_moment_of_a_subject_s_revocation_only_moves_later() -> None:
    known = Revocations()
    known.add(revocation(subject="officer-ann", at=NOW))
    known.add(revocation(subject="officer-ann", at=NOW - timedelta(days=1)))  # read late
    issued_in_between = seconds(NOW - timedelta(hours=1))
    assert known.refusing("t-1", "officer-ann", issued_in_between) is not None
    assert known.refusing("t-2", "officer-ann", seconds(NOW + timedelta(seconds=1))) is None


def test_revocations_read_in_any_order_or_twice_refuse_the_same_tokens() -> None:
    """Given the topic read from the beginning by one instance, live by another, with two
    partitions interleaved either way: every instance refuses the same tokens."""
    history = [
        revocation(subject="officer-ann", at=NOW),
        revocation(token_id="tok-bob-0001"),
        revocation(subject="officer-ann", at=NOW + timedelta(hours=2)),
        revocation(subject="dept-water-7", at=NOW + timedelta(hours=1)),
    ]
    probes = [(token_id, subject, seconds(NOW + timedelta(minutes=minutes)))
              for token_id in ("tok-bob-0001", "tok-other-01")
              for subject in ("officer-ann", "officer-bob", "dept-water-7")
              for minutes in (-1, 30, 90, 150)]

    def refused(order: list[TokenRevoked]) -> list[bool]:
        known = Revocations()
        for revoked in order:
            known.add(revoked)
        return [known.refusing(*probe) is not None for probe in probes]

    expected = refused(history)
    assert any(expected) and not all(expected)
    for order in itertools.permutations(history):
        assert refused([*order, *order[:2]]) == expected


# --- what a revocation records -----------------------------------------------------------------


def test_a_revocation_names_one_token_or_one_subject_and_is_keyed_by_the_subject() -> None:
    by_subject = revocation(subject="officer-ann")
    assert (by_subject.not_before, by_subject.at, by_subject.by) == (NOW, NOW, "admin-root")
    assert by_subject.key() == b"officer-ann"
    by_id = revocation(token_id="tok-bob-0001")
    assert by_id.not_before is None and by_id.key() == b"tok-bob-0001"
    assert by_subject.revocation_id != by_id.revocation_id
    assert TokenRevoked.model_validate_json(by_subject.model_dump_json()) == by_subject

    for neither_or_both in ({}, {"token_id": "tok-bob-0001", "subject": "officer-bob"}):
        with pytest.raises(ValidationError, match="either token_id"):
            RevokeTokens(**neither_or_both)
    with pytest.raises(ValidationError, match="not_before"):
        TokenRevoked(revocation_id=uuid.uuid4(), subject="officer-ann", by="x", at=NOW)


# --- at the door -------------------------------------------------------------------------------


async def test_a_revoked_token_answers_401_saying_it_was_revoked() -> None:
    lost = issue_token(SECRET, "officer-ann", Role.OFFICER)
    tokens = check(revocation(token_id=verify_token(SECRET, lost).token_id))
    officers = Depends(staff_guard(tokens)(Role.OFFICER))
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/staff-only")
    async def staff_only(who: Principal = officers) -> dict[str, str]:
        return {"subject": who.subject}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://zaiban.test") as http:
        refused = await http.get("/staff-only", headers={"Authorization": f"Bearer {lost}"})
        other = issue_token(SECRET, "officer-bob", Role.OFFICER)
        admitted = await http.get("/staff-only", headers={"Authorization": f"Bearer {other}"})

    assert refused.status_code == 401
    assert "this token was revoked" in refused.json()["error"]
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert admitted.status_code == 200 and admitted.json() == {"subject": "officer-bob"}


# --- at the console ----------------------------------------------------------------------------


def test_zaiban_token_issue_prints_the_token_and_tells_its_id_and_life_apart() -> None:
    environment = {"ZAIBAN_AUTH_SECRET": SECRET.get_secret_value(), "ZAIBAN_ENVIRONMENT": "test"}
    staff = CliRunner().invoke(cli, ["token", "issue", "--role", "officer", "--subject", "ann"],
                               env=environment)
    assert staff.exit_code == 0, staff.output
    principal = verify_token(SECRET, staff.stdout.strip())  # stdout: the token alone
    assert principal.expires - principal.issued_at == pytest.approx(8 * 3600, abs=1)
    assert staff.stderr.startswith(f"id {principal.token_id}, staff of ann, valid until ")

    key = CliRunner().invoke(cli, ["token", "issue", "--role", "officer", "--subject",
                                   "city-app", "--api-key"],
                             env={**environment, "ZAIBAN_API_KEY_DAYS": "90"})
    assert key.exit_code == 0, key.output
    api_key = verify_token(SECRET, key.stdout.strip(), kind="api_key")
    assert api_key.expires - api_key.issued_at == pytest.approx(90 * 86400, abs=1)
    assert f"id {api_key.token_id}, api key of city-app" in key.stderr

    shorter = CliRunner().invoke(cli, ["token", "issue", "--role", "admin", "--subject", "root",
                                       "--hours", "1"], env=environment)
    assert verify_token(SECRET, shorter.stdout.strip()).expires - time.time() <= 3600


def test_zaiban_token_revoke_names_one_token_or_one_subject() -> None:
    for args in ([], ["--id", "tok-bob-0001", "--subject", "officer-bob"], ["--id", "short"]):
        result = CliRunner().invoke(cli, ["token", "revoke", *args])
        assert result.exit_code == 2, (args, result.output)
