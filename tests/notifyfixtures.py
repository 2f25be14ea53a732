"""What the notifications reach in tests: a real SMTP server on loopback (aiosmtpd), and an SMS
provider on loopback speaking Twilio's Messages API and the signed webhook.

Both record what they accepted, as a provider would have sent it on; both can be told to
fail the next requests (a provider away) or to take their time (a slow server).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import ipaddress
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi import FastAPI, Request, Response
from helpers import TEST_SECRET, client_for, eventually, publish_envelopes, running
from unit.tracking.tracking_stories import EMAIL, PHONE, RING, submitted

from contracts import case_events as ev
from contracts.facts import Actor, Channel, Location, Priority, Role
from contracts.personal import NotifyChannel, PersonalData, ResidentContact
from examples.webhook_receiver import BadSignature, verify
from services.common.http import build_app
from services.common.keys import KeyRing
from services.common.settings import CommonSettings
from services.composition import build
from services.lifecycle.codes import hash_tracking_code, tracking_code_for
from services.lifecycle.history import History

SMTP_USER, SMTP_PASSWORD = "zaiban-mailer", "p@ss:word"
TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM = "AC0123456789abcdef0123456789abcdef", "twilio-token", "+15005550006"
WEBHOOK_SECRET = "webhook-secret"


def consenting(case_id: str, *, language: str = "en",
               channels: tuple[NotifyChannel, ...] = ("email",),
               agreed: bool = True) -> ev.CaseSubmitted:
    """A submission whose resident left a contact and agreed (or not) to be told, sealed with
    the case's key in `RING` (tracking's stories), as intake records it."""
    contact = ResidentContact(name="李秀英", phone=PHONE, email=EMAIL, notify=agreed,
                              channels=channels)
    return submitted(case_id).model_copy(update={
        "personal": RING.seal(case_id, PersonalData(contact=contact)), "language": language})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    message: EmailMessage
    at: float

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        return body.get_content() if body is not None else ""


class MailBox:
    """An SMTP server on loopback that asks for a login and keeps every message it accepts."""

    def __init__(self, *, delay_s: float = 0.0, tls: TlsCertificate | None = None) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.delay_s = delay_s
        self.fail_next = 0
        self.refuse_next = 0
        self._lock = threading.Lock()
        kwargs: dict[str, Any] = {}
        if tls is not None:
            kwargs.update(tls_context=tls.server_context(), require_starttls=True)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port,
                                     authenticator=self._authenticate,
                                     auth_require_tls=tls is not None, auth_required=True,
                                     **kwargs)

    def url(self, scheme: str = "smtp") -> str:
        return f"{scheme}://{SMTP_USER}:{SMTP_PASSWORD.replace('@', '%40')}@127.0.0.1:{self.port}"

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode()
              and auth_data.password == SMTP_PASSWORD.encode())
        return AuthResult(success=ok)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        with self._lock:
            if self.fail_next:
                self.fail_next -= 1
                return "451 4.3.0 try again later"
            if self.refuse_next:
                self.refuse_next -= 1
                return f"550 5.7.1 <{envelope.rcpt_tos[0]}>: message refused"
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message,
                                          time.time()))
        return "250 2.0.0 accepted"

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def __enter__(self) -> MailBox:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()


@dataclass
class TlsCertificate:
    """A self-signed certificate for 127.0.0.1, and the CA file a client trusts it by."""

    folder: Path
    cert: Path = field(init=False)
    key: Path = field(init=False)

    def __post_init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                     x509.DNSName("localhost")]), critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        self.cert, self.key = self.folder / "smtp-cert.pem", self.folder / "smtp-key.pem"
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))

    def server_context(self) -> Any:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@dataclass
class Sms:
    protocol: str
    to: str
    text: str
    sender: str = ""
    idempotency_key: str = ""
    at: float = 0.0


class SmsProvider:
    """One loopback HTTP server speaking both: Twilio's Messages API (HTTP basic auth with the
    Account SID and auth token, a form with To, From, Body; 201 and the message's sid) and the
    signed webhook (a fresh timestamp, the HMAC-SHA256 signature of `<timestamp>.<body>`)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Sms] = []
        self.refused: list[str] = []
        self.fail_next = 0
        self.refuse_next = 0
        self.app = FastAPI()
        self.app.post("/2010-04-01/Accounts/{sid}/Messages.json")(self._twilio)
        self.app.post("/hook")(self._webhook)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _failing(self) -> Response | None:
        if self.fail_next:
            self.fail_next -= 1
            return Response(status_code=503)
        if self.refuse_next:
            self.refuse_next -= 1
            return Response(status_code=400)
        return None

    async def _twilio(self, sid: str, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if sid != TWILIO_SID or request.headers.get("authorization") != expected:
            self.refused.append("twilio: bad credentials")
            return Response(status_code=401)
        form = await request.form()
        if not all(form.get(k) for k in ("To", "From", "Body")):
            self.refused.append("twilio: To, From and Body are required")
            return Response(status_code=400)
        if (failing := self._failing()) is not None:
            return failing
        self.received.append(Sms("twilio", str(form["To"]), str(form["Body"]),
                                 sender=str(form["From"]), at=time.time()))
        return Response(content=f'{{"sid": "SM{uuid.uuid4().hex}", "status": "queued"}}',
                        status_code=201, media_type="application/json")

    async def _webhook(self, request: Request) -> Response:
        body = await request.body()
        stamp = request.headers.get("x-zaiban-timestamp", "")
        signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), stamp.encode() + b"." + body,
                                         hashlib.sha256).hexdigest()
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
        if not fresh or not hmac.compare_digest(
                signature, request.headers.get("x-zaiban-signature", "")):
            self.refused.append("webhook: bad signature or stale timestamp")
            return Response(status_code=401)
        if (failing := self._failing()) is not None:
            return failing
        import json

        sent = json.loads(body)
        self.received.append(Sms("webhook", sent["to"], sent["text"],
                                 idempotency_key=request.headers.get("idempotency-key", ""),
                                 at=time.time()))
        return Response(status_code=202)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[SmsProvider]:
        async with on_loopback(self.app, self.port):
            yield self


async def received(box: MailBox, count: int, what: str) -> list[Received]:
    """The messages `box` accepted, once there are `count` of them at least."""
    async def probe() -> list[Received] | None:
        found = box.messages()
        return found if len(found) >= count else None

    return await eventually(probe, timeout=30, what=what)


@contextlib.asynccontextmanager
async def mailing_services(settings: CommonSettings, monkeypatch: pytest.MonkeyPatch,
                           box: MailBox, *names: str) -> AsyncIterator[httpx.AsyncClient]:
    """The services `names` (notify among them) running on the stack behind one app, notify
    mailing to `box`: a client of that app."""
    monkeypatch.setenv("ZAIBAN_SMTP_URL", box.url())
    monkeypatch.setenv("ZAIBAN_NOTIFY_PUBLIC_URL", "https://zb.example")
    monkeypatch.setenv("ZAIBAN_NOTIFY_SWEEP_S", "0.2")
    services = [build(name, settings) for name in names]
    app = build_app(services, title=", ".join(names))
    async with running(*services), client_for(app) as http:
        yield http


@contextlib.asynccontextmanager
async def on_loopback(app: FastAPI, port: int) -> AsyncIterator[None]:
    """`app` served by uvicorn on 127.0.0.1:`port` for the block."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn says when it listens by a flag only
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        await task


# --- a department's webhook receiver ----------------------------------------------------


async def accepted_signal_case(settings: CommonSettings) -> str:
    """A resident's dark traffic light, accepted by an officer (as intake records it): routing
    dispatches it to the signal company."""
    case_id = f"ZB261130-{uuid.uuid4().hex[:4].upper()}-{uuid.uuid4().hex[:4].upper()}"
    now = dt.datetime.now(dt.UTC)
    story = History(case_id, producer="intake").given(now, ev.CaseSubmitted(
        category="traffic-signals", description="沙口路王府坟菜市场门口的红绿灯不亮了。",
        location=Location(district="zhongyuan", street="沙口路王府坟菜市场门口"),
        channel=Channel.WEB, priority=Priority.GENERAL,
        personal=KeyRing().seal(case_id, PersonalData(
            contact=ResidentContact(name="李女士", phone=PHONE))),
        tracking_code_hash=hash_tracking_code(tracking_code_for(TEST_SECRET, case_id)),
    )).given(now, ev.CaseAccepted(
        officer=Actor(role=Role.OFFICER, staff_id="officer-1"), category="traffic-signals",
        district="zhongyuan", priority=Priority.GENERAL))
    await publish_envelopes(settings, story.envelopes)
    return case_id


@dataclass
class Posted:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """A department's receiver on loopback that checks each signature with the example's
    `verify` and answers as scripted (then 204)."""

    secret: str = ""
    answers: list[int] = field(default_factory=list)
    requests: list[Posted] = field(default_factory=list)
    accepted: list[Posted] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/zaiban/cases"

    async def _take(self, request: Request) -> Response:
        posted = Posted(await request.body(), dict(request.headers))
        self.requests.append(posted)
        try:
            verify(self.secret, posted.body, request.headers.get("zaiban-signature"))
        except BadSignature:
            return Response(status_code=401)
        status = self.answers.pop(0) if self.answers else 204
        if status < 300:
            self.accepted.append(posted)
        return Response(status_code=status)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Receiver]:
        app = FastAPI()
        app.post("/zaiban/cases")(self._take)
        async with on_loopback(app, self.port):
            yield self
