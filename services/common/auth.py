"""Who is asking: staff bearer tokens and Open311 API keys.

Tokens are signed, not stored: `zb1.<payload>.<signature>` with HMAC-SHA256
under the deployment's secret, so any instance of any service can check one
without a lookup. Every comparison of a secret value is constant-time.

A resident proves a case is theirs with its tracking code instead
(`services/lifecycle/codes.py`, pure, checked by the deciders themselves).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, Header, HTTPException, Request
from pydantic import BaseModel, ConfigDict, SecretStr

from contracts.facts import Actor, Role

TOKEN_PREFIX = "zb1"  # noqa: S105 - a format marker, not a secret


class Principal(BaseModel):
    """A signed-in member of staff, or an integration holding an API key."""

    model_config = ConfigDict(frozen=True)

    subject: str
    role: Role
    department: str | None = None
    kind: str = "staff"
    expires: int = 0

    def actor(self) -> Actor:
        return Actor(role=self.role, department=self.department, staff_id=self.subject)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: SecretStr, payload: str) -> str:
    mac = hmac.new(secret.get_secret_value().encode(), payload.encode(), hashlib.sha256)
    return _b64(mac.digest())


def issue_token(
    secret: SecretStr,
    subject: str,
    role: Role,
    department: str | None = None,
    *,
    kind: str = "staff",
    ttl_s: int = 30 * 24 * 3600,
) -> str:
    if role is Role.DEPARTMENT and not department:
        raise ValueError("a department token names its department")
    body = {"sub": subject, "role": role.value, "dept": department, "kind": kind,
            "exp": int(time.time()) + ttl_s}
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
                              expires=int(body["exp"]))
    except (ValueError, KeyError, TypeError) as error:
        raise BadToken("unreadable token") from error
    if principal.expires < time.time():
        raise BadToken("token expired")
    if principal.kind != kind:
        raise BadToken(f"not a {kind} token")
    return principal


# --- FastAPI dependencies ----------------------------------------------------


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def staff_guard(
    secret_of: Callable[[Request], SecretStr],
) -> Callable[..., Callable[..., Awaitable[Principal]]]:
    """Build `require(*roles)`: a dependency that admits staff holding one of `roles`."""

    def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
        allowed = set(roles) | {Role.ADMIN}

        async def dependency(  # async: checked on the event loop, no worker thread
            request: Request, authorization: str | None = Header(default=None)
        ) -> Principal:
            token = bearer(authorization)
            if token is None:
                raise HTTPException(401, "sign in: send 'Authorization: Bearer <token>'",
                                    headers={"WWW-Authenticate": "Bearer"})
            try:
                principal = verify_token(secret_of(request), token)
            except BadToken as error:
                raise HTTPException(401, f"token refused: {error}",
                                    headers={"WWW-Authenticate": "Bearer"}) from error
            if principal.role not in allowed:
                names = ", ".join(sorted(r.value for r in allowed))
                raise HTTPException(403, f"this needs one of the roles: {names}")
            return principal

        return dependency

    return require


__all__ = ["Depends", "Principal", "issue_token", "staff_guard", "verify_token"]
