"""Departments by webhook: a department that prefers HTTP to Kafka gets its routed cases
POSTed to a URL of its own.

What it receives is what its cases topic carries, byte for byte: each `DepartmentCase`
record routing publishes on `zaiban.routing.department.<code>.cases` (assigned, withdrawn,
erased; no personal data in clear — `personal_data` says there is some, read with the
department's token at `GET /api/staff/cases/{case_id}`). Notify reads every department's
cases topic in a group of its own (`zaiban-notify-webhooks`) and, for a department with a
webhook, plans one delivery per record in its ledger, `_id` =
`<message_id>:webhook:<department>`: a redelivered record plans nothing new, and the
dispatcher sends it, retries it and dead-letters it as it does messages to residents.

- The request: `POST <url>`, `Content-Type: application/json`, the record's value as the
  body, `Idempotency-Key: <message_id>` (the routing event's id: a department drops a
  repeat by it), `Zaiban-Department: <code>` and
  `Zaiban-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the
  department's signing secret. The receiver recomputes it and refuses a timestamp more than
  5 minutes away from its clock (`examples/webhook_receiver.py`).
- The answer: any 2xx is accepted; 408, 429, 5xx, a timeout or no connection are tried
  again after the backoff; any other 4xx means retrying cannot help (the URL is gone, the
  department refuses the request): dead-lettered at once, with the record as it came, so
  `zaiban dlq redrive notify` puts it back on the department's topic (a repeat, same
  `message_id`, for a Kafka reader) and that revives the delivery with as many attempts
  more (`Ledger.plan`).
- Registration (`zaiban departments webhook <code> <url>`) is kept here, in notify's
  store (`webhooks`: the URL, since when, and a random salt — no secret). The signing secret
  is derived from the deployment's secret (`ZAIBAN_AUTH_SECRET`) and the salt; it is shown
  once when registered, and registering again makes a new salt, so a new secret. Records
  that occurred before the first registration are not sent (their department had its
  topic then).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Depends
from pydantic import BaseModel, SecretStr
from pymongo.asynchronous.collection import AsyncCollection

from contracts.facts import Role
from services.common.auth import TokenCheck, staff_guard
from services.notify.channels import SendFailed

if TYPE_CHECKING:
    from services.notify.ledger import Ledger

SIGNATURE_HEADER = "Zaiban-Signature"
TOLERANCE_S = 300
"""How far from the receiver's clock a signature's timestamp may be (5 minutes)."""
CHANNEL = "webhook"


def sign(secret: bytes, body: bytes, at: int) -> str:
    """The `Zaiban-Signature` header's value for `body` sent at `at` (Unix seconds)."""
    mac = hmac.new(secret, f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def signing_secret(auth_secret: SecretStr, department: str, salt: str) -> str:
    """A department's signing secret: derived, never stored (see the module's docstring)."""
    mac = hmac.new(auth_secret.get_secret_value().encode(),
                   f"zaiban-webhook:{department}:{salt}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


class BadWebhookUrl(ValueError):
    pass


def checked_url(url: str) -> str:
    """An https URL (plain http only on loopback, for a receiver on the same machine)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadWebhookUrl(f"{url!r}: a webhook is an https:// URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise BadWebhookUrl(f"{url!r}: cases go over https only (http on loopback alone)")
    if parts.username or parts.password:
        raise BadWebhookUrl("a webhook URL carries no credentials: the signature proves "
                            "the sender")
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Webhook:
    department: str
    url: str
    since: datetime
    salt: str


class Webhooks:
    """The departments' webhooks, as registered (notify's `webhooks` collection)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]],
                 auth_secret: SecretStr) -> None:
        self.collection = collection
        self.auth_secret = auth_secret

    async def register(self, department: str, url: str, now: datetime) -> str:
        """Register (or move) a department's webhook with a new signing secret: returned, to
        be shown once."""
        salt = secrets.token_urlsafe(16)
        await self.collection.update_one(
            {"_id": department},
            {"$set": {"url": checked_url(url), "salt": salt, "changed_at": now},
             "$setOnInsert": {"since": now}},
            upsert=True)
        return signing_secret(self.auth_secret, department, salt)

    async def remove(self, department: str) -> bool:
        return (await self.collection.delete_one({"_id": department})).deleted_count > 0

    async def get(self, department: str) -> Webhook | None:
        doc = await self.collection.find_one({"_id": department})
        if doc is None:
            return None
        return Webhook(department=department, url=doc["url"], since=doc["since"],
                       salt=doc["salt"])

    async def all(self) -> list[Webhook]:
        return [Webhook(department=doc["_id"], url=doc["url"], since=doc["since"],
                        salt=doc["salt"])
                async for doc in self.collection.find({}, sort=[("_id", 1)])]

    def secret_of(self, webhook: Webhook) -> str:
        return signing_secret(self.auth_secret, webhook.department, webhook.salt)


def planned_webhook(department: str, message_id: str, case_id: str, body: bytes, *,
                    occurred_at: datetime, now: datetime, topic: str, partition: int,
                    offset: int) -> dict[str, Any]:
    """The ledger's document of one case to POST to a department: the record's value as it
    is (what the department's topic carries)."""
    return {
        "_id": f"{message_id}:{CHANNEL}:{department}",
        "case_id": case_id, "event_id": message_id, "channel": CHANNEL,
        "department": department, "type": "DepartmentCase", "data": "{}",
        "envelope": body.decode(), "occurred_at": occurred_at, "language": "",
        "status": "pending", "due_at": now, "planned_at": now, "attempts": 0,
        "uncertain": 0, "source": {"topic": topic, "partition": partition, "offset": offset},
    }


async def post_case(url: str, secret: str, department: str, message_id: str, body: bytes, *,
                    timeout_s: float) -> str:
    """POST one case, signed; the receiver's status as the provider id; `SendFailed` (permanent
    on a 4xx other than 408 and 429) otherwise."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": message_id,
               "Zaiban-Department": department,
               SIGNATURE_HEADER: sign(secret.encode(), body, int(time.time()))}
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            answer = await http.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        raise SendFailed(f"{type(error).__name__}: {str(error)[:160]}") from error
    if not answer.is_success:
        status = answer.status_code
        permanent = 400 <= status < 500 and status not in (408, 429)
        raise SendFailed(f"HTTP {status}", permanent=permanent)
    return f"HTTP {answer.status_code}"


# --- the staff console: webhooks that fail ---------------------------------------------------


class TroubledDelivery(BaseModel):
    """A case that did not reach its department's webhook (yet)."""

    department: str
    case_id: str
    message_id: str
    status: Literal["failing", "dead"]
    """failing: it will be tried again at `next_try`; dead: on notify's dead-letter topic."""
    attempts: int
    last_error: str
    next_try: datetime | None
    planned_at: datetime


class WebhookTroubles(BaseModel):
    webhooks: list[dict[str, str]]
    """Every registered webhook: department and URL."""
    deliveries: list[TroubledDelivery]


def troubled(doc: dict[str, Any]) -> TroubledDelivery:
    dead = doc["status"] == "dead"
    return TroubledDelivery(
        department=doc["department"], case_id=doc["case_id"], message_id=doc["event_id"],
        status="dead" if dead else "failing", attempts=doc.get("attempts", 0),
        last_error=doc.get("last_error", ""), next_try=None if dead else _aware(doc["due_at"]),
        planned_at=_aware(doc["planned_at"]))


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def webhook_routes(ledger: Ledger, webhooks: Webhooks, tokens: TokenCheck) -> APIRouter:
    router = APIRouter()
    supervisor = staff_guard(tokens)(Role.SUPERVISOR)  # and admins

    @router.get("/api/admin/webhooks", tags=["admin"], dependencies=[Depends(supervisor)],
                summary="Departments' webhooks, and the cases that fail to reach them: "
                        "failing (tried again later) or dead (supervisors and admins)")
    async def webhook_troubles() -> WebhookTroubles:
        return WebhookTroubles(
            webhooks=[{"department": w.department, "url": w.url} for w in await webhooks.all()],
            deliveries=[troubled(doc) for doc in await ledger.troubled(CHANNEL)])

    return router
