"""Who is asking: staff bearer tokens and Open311 API keys.

Tokens are signed, not stored: `zb1.<payload>.<signature>` with HMAC-SHA256
under the deployment's secret, so any instance of any service can check one
without a lookup. Every comparison of a secret value is constant-time.

Each token carries an id (`jti`, random) and when it was issued (`iat`), so that it can
be taken back: a revocation names one token by its id, or every token of a subject issued
before a moment (`services/common/revocations.py`). A service checks tokens with a
`TokenCheck`: the signature, the life, the kind — and the revocations its runtime reads
from the bus into memory, so a revoked token is refused without a lookup either. Staff
tokens live 8 hours unless issued otherwise; Open311 api keys, which an integration keeps
in its configuration, 30 days.

A resident proves a case is theirs with its tracking code instead
(`services/lifecycle/codes.py`, pure, checked by the deciders themselves).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from contracts.facts import Actor, Role
from services.common.revocations import Revocations

TOKEN_PREFIX = "zb1"  # noqa: S105 - a format marker, not a secret
STAFF_TOKEN_TTL_S = 8 * 3600
"""A staff token's life unless issued otherwise (`ZAIBAN_STAFF_TOKEN_HOURS` for the CLI):
a working day, so that a lost one does not stay good for long."""
API_KEY_TTL_S = 30 * 24 * 3600
"""An Open311 api key's life unless issued otherwise (`ZAIBAN_API_KEY_DAYS`)."""


class Principal(BaseModel):
    """A signed-in member of staff, or an integration holding an API key."""

    model_config = ConfigDict(frozen=True)

    subject: str
    role: Role
    department: str | None = None
    kind: str = "staff"
    expires: int = 0
    token_id: str = ""
    """The token's id (`jti`): what a revocation of this one token names. Empty for a
    token issued before tokens had one, which only a revocation of its subject reaches."""
    issued_at: float = 0.0
    """When the token was issued (seconds since the epoch); 0 for one issued before tokens
    said, which any revocation of its subject reaches."""
    per_minute: int | None = Field(default=None, ge=1)
    """An API key's own quota of submissions a minute (`services/common/quotas.py`);
    None: the client is limited like a resident, by its address."""
    coordinator: bool = False
    """A department token of its coordinator, who gives the department's cases to its
    handlers (`services/lifecycle/assigning.py`); a handler is anyone else holding a
    token of the department, named by its subject."""

    def actor(self) -> Actor:
        return Actor(role=self.role, department=self.department, staff_id=self.subject)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: SecretStr, payload: str) -> str:
    mac = hmac.new(secret.get_secret_value().encode(), payload.encode(), hashlib.sha256)
    return _b64(mac.digest())


def new_token_id() -> str:
    return secrets.token_urlsafe(12)  # 96 random bits


def issue_token(
    secret: SecretStr,
    subject: str,
    role: Role,
    department: str | None = None,
    *,
    kind: str = "staff",
    ttl_s: float | None = None,
    per_minute: int | None = None,
    coordinator: bool = False,
) -> str:
    """A signed token for `subject`, with a new id, living `ttl_s` seconds (by default
    `STAFF_TOKEN_TTL_S` for staff, `API_KEY_TTL_S` for an api key); `coordinator` for the
    coordinator of a department."""
    if role is Role.DEPARTMENT and not department:
        raise ValueError("a department token names its department")
    if coordinator and (role is not Role.DEPARTMENT or kind != "staff"):
        raise ValueError("a coordinator is a member of a department's staff: --role department")
    if ttl_s is None:
        ttl_s = API_KEY_TTL_S if kind == "api_key" else STAFF_TOKEN_TTL_S
    if per_minute is not None and (kind != "api_key" or per_minute < 1):
        raise ValueError("a quota (at least 1 a minute) is given to API keys only")
    now = time.time()
    # `iat` to the millisecond, rounded down: a token issued just before a revocation of its
    # subject never looks issued after it.
    body = {"sub": subject, "role": role.value, "dept": department, "kind": kind,
            "jti": new_token_id(), "iat": int(now * 1000) / 1000, "exp": int(now + ttl_s)}
    if per_minute is not None:  # only when given: other tokens stay as they were
        body["per_minute"] = per_minute
    if coordinator:  # likewise
        body["coord"] = True
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{TOKEN_PREFIX}.{payload}.{_sign(secret, payload)}"


class BadToken(ValueError):
    pass


def verify_token(secret: SecretStr, token: str, *, kind: str = "staff") -> Principal:
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise BadToken("malformed token")
    _, payload, signature = parts
    if not hmac.compare_digest(_sign(secret, payload), signature):
        raise BadToken("bad signature")
    try:
        body = json.loads(_unb64(payload))
        principal = Principal(subject=body["sub"], role=Role(body["role"]),
                              department=body.get("dept"), kind=body.get("kind", "staff"),
                              expires=int(body["exp"]), token_id=str(body.get("jti", "")),
                              issued_at=float(body.get("iat", 0)),
                              per_minute=body.get("per_minute"),
                              coordinator=body.get("coord", False) is True)
    except (ValueError, KeyError, TypeError) as error:
        raise BadToken("unreadable token") from error
    if principal.expires < time.time():
        raise BadToken("token expired")
    if principal.kind != kind:
        raise BadToken(f"not a {kind} token")
    return principal


class Revoked(BadToken):
    """A token that is good but was taken back."""

    def __init__(self, at: str) -> None:
        super().__init__(f"this token was revoked (at {at}); ask an admin for a new one")


class TokenCheck:
    """How a service checks a token: signed with the deployment's secret, still alive, of
    the kind asked for, and not revoked — as far as `revocations`, which the service's
    runtime keeps up to date from the bus (`ServiceRuntime.tokens`), knows. No I/O."""

    def __init__(self, secret: Callable[[], SecretStr], revocations: Revocations) -> None:
        self.secret = secret
        self.revocations = revocations

    def verify(self, token: str, *, kind: str = "staff") -> Principal:
        principal = verify_token(self.secret(), token, kind=kind)
        revoked = self.revocations.refusing(principal.token_id, principal.subject,
                                            principal.issued_at)
        if revoked is not None:
            raise Revoked(revoked.at.isoformat(timespec="seconds"))
        return principal


# --- FastAPI dependencies ----------------------------------------------------


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def staff_guard(tokens: TokenCheck) -> Callable[..., Callable[..., Awaitable[Principal]]]:
    """Build `require(*roles)`: a dependency that admits staff holding one of `roles`, with
    a token `tokens` takes (401 otherwise: none, a bad one, an expired or a revoked one)."""

    def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
        allowed = set(roles) | {Role.ADMIN}

        async def dependency(  # async: checked on the event loop, no worker thread
            authorization: str | None = Header(default=None),
        ) -> Principal:
            token = bearer(authorization)
            if token is None:
                raise HTTPException(401, "sign in: send 'Authorization: Bearer <token>'",
                                    headers={"WWW-Authenticate": "Bearer"})
            try:
                principal = tokens.verify(token)
            except BadToken as error:
                raise HTTPException(401, f"token refused: {error}",
                                    headers={"WWW-Authenticate": "Bearer"}) from error
            if principal.role not in allowed:
                names = ", ".join(sorted(r.value for r in allowed))
                raise HTTPException(403, f"this needs one of the roles: {names}")
            return principal

        return dependency

    return require


__all__ = ["Depends", "Principal", "TokenCheck", "issue_token", "staff_guard", "verify_token"]
