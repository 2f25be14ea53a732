"""A department's webhook: what zaiban signs, the example receiver accepts, and nothing else —
a body changed on the way, an old or a future timestamp, another secret, no signature."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import SecretStr

from examples.webhook_receiver import BadSignature, verify
from services.notify.webhooks import BadWebhookUrl, checked_url, sign, signing_secret

SECRET = signing_secret(SecretStr("deployment-secret"), "signal-co", "salt-1")
BODY = json.dumps({"message_id": "7d1c…", "action": "assigned", "case_id": "ZB261006-AB12-CD34",
                   "description": "沙口路王府坟菜市场门口的红绿灯不亮了"},
                  ensure_ascii=False).encode()


def test_a_signed_case_is_accepted_by_the_example_receiver() -> None:
    header = sign(SECRET.encode(), BODY, int(time.time()))
    verify(SECRET, BODY, header)  # no exception: accepted
    stamp, mac = header.split(",")
    assert stamp.startswith("t=") and mac.startswith("v1=") and len(mac) == 3 + 64


@pytest.mark.parametrize(("body", "secret", "age_s", "why"), [
    (BODY.replace("不亮".encode(), "亮了".encode()), SECRET, 0, "does not match"),
    (BODY + b" ", SECRET, 0, "does not match"),
    (BODY, signing_secret(SecretStr("deployment-secret"), "water-co", "salt-1"), 0,
     "does not match"),
    (BODY, SECRET, 301, "too far"),
    (BODY, SECRET, -301, "too far"),
])
def test_a_tampered_body_another_secret_or_a_stale_timestamp_is_refused(
        body: bytes, secret: str, age_s: int, why: str) -> None:
    header = sign(SECRET.encode(), BODY, int(time.time()) - age_s)
    with pytest.raises(BadSignature, match=why):
        verify(secret, body, header)


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=soon,v1=abc", "t=1,v2=abc"])
def test_a_missing_or_malformed_signature_is_refused(header: str | None) -> None:
    with pytest.raises(BadSignature):
        verify(SECRET, BODY, header, now=1.0)


def test_a_replayed_request_is_refused_once_its_five_minutes_are_over() -> None:
    sent_at = 1_760_000_000
    header = sign(SECRET.encode(), BODY, sent_at)
    verify(SECRET, BODY, header, now=sent_at + 299)
    with pytest.raises(BadSignature, match="too far"):
        verify(SECRET, BODY, header, now=sent_at + 301)


def test_each_registration_signs_with_a_secret_of_its_own() -> None:
    deployment = SecretStr("deployment-secret")
    assert signing_secret(deployment, "signal-co", "salt-1") == SECRET  # derived, not stored
    assert signing_secret(deployment, "signal-co", "salt-2") != SECRET  # registered again
    assert signing_secret(SecretStr("another"), "signal-co", "salt-1") != SECRET


@pytest.mark.parametrize("url", ["https://signals.example/zaiban", "http://127.0.0.1:8700/h",
                                 "http://localhost:8700/h", "http://[::1]:8700/h"])
def test_a_webhook_is_https_or_on_loopback(url: str) -> None:
    assert checked_url(url) == url


@pytest.mark.parametrize(("url", "why"), [
    ("http://signals.example/zaiban", "https only"),
    ("ftp://signals.example/", "https://"),
    ("signals.example/zaiban", "https://"),
    ("https://user:pw@signals.example/", "no credentials"),
])
def test_a_webhook_url_that_would_leak_or_cannot_be_posted_to_is_refused(url: str,
                                                                        why: str) -> None:
    with pytest.raises(BadWebhookUrl, match=why):
        checked_url(url)


def test_the_example_receiver_takes_a_case_once_and_says_why_it_refuses() -> None:
    import threading
    import urllib.error
    import urllib.request

    from examples.webhook_receiver import make_server

    taken: list[dict[str, object]] = []
    failing = [True]

    def handle(case: dict[str, object]) -> None:
        if failing.pop() if failing else False:
            raise RuntimeError("our database is away")
        taken.append(case)

    server = make_server(0, SECRET, handle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    def post(body: bytes, signature: str, key: str = "m-1") -> int:
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Zaiban-Signature": signature, "Idempotency-Key": key})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    try:
        now = int(time.time())
        assert post(BODY, sign(b"another secret", BODY, now)) == 401
        assert post(BODY, sign(SECRET.encode(), BODY, now - 600)) == 401
        assert post(b"not json", sign(SECRET.encode(), b"not json", now)) == 400
        assert post(BODY, sign(SECRET.encode(), BODY, now)) == 500  # handle failed: again later
        assert post(BODY, sign(SECRET.encode(), BODY, now)) == 204
        assert post(BODY, sign(SECRET.encode(), BODY, now)) == 204  # a repeat, by its key
    finally:
        server.shutdown()
        server.server_close()
    assert taken == [json.loads(BODY)]
