"""A department's webhook receiver for zaiban: its routed cases, POSTed to it, signed.

Python's standard library alone. It checks each request's `Zaiban-Signature`
(`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the department's signing
secret, which `zaiban departments webhook <code> <url>` printed once), refuses a timestamp
more than 5 minutes from its clock (a replay), drops a repeat by its `Idempotency-Key`, and
hands each case (a `DepartmentCase`, JSON) to `handle`. Given `--zaiban` and `--token-file`
(a department token, `zaiban token issue --role department --department <code>`), it
acknowledges (签收) each case it leads over HTTP: `POST /api/cases/{case_id}/acknowledge`.

    python examples/webhook_receiver.py --port 8700 --secret-file signal-co.whsec \\
        [--zaiban https://zaiban.example --token-file signal-co.token]

Answers: 204 taken (or a repeat), 401 a bad or stale signature, 400 not JSON, 500 when
`handle` fails (zaiban tries again with backoff); a 4xx other than 408 and 429
is not, so answer 4xx only to what can never be taken.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TOLERANCE_S = 300


class BadSignature(ValueError):
    pass


def verify(secret: str, body: bytes, header: str | None, *, now: float | None = None,
           tolerance_s: float = TOLERANCE_S) -> None:
    """Check a `Zaiban-Signature` header against the body as received (raw bytes, before any
    JSON parsing); `BadSignature` says why it is refused."""
    if not header:
        raise BadSignature("no Zaiban-Signature header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    stamp = (parts.get("t") or [""])[0]
    if not stamp.isdigit():
        raise BadSignature("no timestamp (t=) in the signature")
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance_s:
        raise BadSignature("the timestamp is too far from now: a replay, or a clock adrift")
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, given) for given in parts.get("v1", [])):
        raise BadSignature("the signature does not match the body")


def acknowledger(base_url: str, token: str) -> Callable[[dict[str, Any]], None]:
    """Acknowledge each assigned case the department leads, over zaiban's HTTP API."""
    if not base_url.startswith(("https://", "http://")):
        raise ValueError("--zaiban is an https:// address")

    def handle(case: dict[str, Any]) -> None:
        if case.get("action") != "assigned" or case.get("role") != "lead":
            return
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            f"{base_url.rstrip('/')}/api/cases/{case['case_id']}/acknowledge",
            data=json.dumps({"note": "received by webhook"}).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - as above
            answer.read()

    return handle


def printer(case: dict[str, Any]) -> None:
    print(json.dumps({k: case.get(k) for k in ("action", "role", "case_id", "category",
                                                 "due_at")}, ensure_ascii=False), flush=True)


def make_server(port: int, secret: str, handle: Callable[[dict[str, Any]], None],
                host: str = "127.0.0.1") -> ThreadingHTTPServer:
    seen: set[str] = set()  # a real department keeps these in its own database
    lock = threading.Lock()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                verify(secret, body, self.headers.get("Zaiban-Signature"))
            except BadSignature as refused:
                self._answer(401, str(refused))
                return
            key = self.headers.get("Idempotency-Key", "")
            with lock:
                if key and key in seen:
                    self._answer(204)
                    return
            try:
                case = json.loads(body)
            except ValueError:
                self._answer(400, "not JSON")
                return
            try:
                handle(case)
            except Exception as failure:  # not taken: zaiban tries again later
                self._answer(500, f"not taken: {type(failure).__name__}")
                return
            with lock:
                seen.add(key)
            self._answer(204)

        def _answer(self, status: int, why: str = "") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(why.encode())))
            self.end_headers()
            self.wfile.write(why.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer((host, port), Receiver)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--secret-file", type=Path, required=True)
    parser.add_argument("--zaiban", help="zaiban's public address: acknowledge each case")
    parser.add_argument("--token-file", type=Path, help="the department's staff token")
    args = parser.parse_args()
    handle = printer
    if args.zaiban and args.token_file:
        acknowledge = acknowledger(args.zaiban, args.token_file.read_text().strip())

        def handle(case: dict[str, Any]) -> None:
            printer(case)
            acknowledge(case)
    server = make_server(args.port, args.secret_file.read_text().strip(), handle, args.host)
    server.serve_forever()


if __name__ == "__main__":
    main()
