"""The edge's rules, as pure functions: what a body may carry, and a client's rate.

(The same rules on the real endpoints, and what the log then holds, are in
test_bad_input.py and test_rate_limit.py.)
"""

from __future__ import annotations

import json

import pytest
from fastapi import HTTPException
from starlette.requests import Request

from services.common.limits import (
    MAX_DEPTH,
    Problem,
    RateLimiter,
    check_form,
    check_json,
    check_url,
    client_address,
    per_client,
)


def where(problems: list[Problem]) -> list[tuple[int, str]]:
    return [(p.status, p.where) for p in problems]


# --- JSON bodies -------------------------------------------------------------------------


def test_an_ordinary_command_passes() -> None:
    body = {"category": "water", "description": "停水两天了。\n请尽快处理。",
            "location": {"district": "jinshui", "lat": 34.78, "lon": 113.66},
            "attributes": {"merchant": ["a", "b"]}, "media": [{"url": "/media/ab", "size": 10}]}
    assert check_json(json.dumps(body, ensure_ascii=False).encode()) == []


@pytest.mark.parametrize(("raw", "expected"), [
    ('{"location": {"lat": NaN}}', [(422, "body.location.lat")]),
    ('{"location": {"lon": -Infinity}}', [(422, "body.location.lon")]),
    ('{"location": {"lat": 1e999}}', [(422, "body.location.lat")]),
    ('{"media": [{"size": 18446744073709551616}]}', [(422, "body.media.0.size")]),
    ('{"rating": -9223372036854775809}', [(422, "body.rating")]),
    ('{"rating": ' + "9" * 5000 + "}", [(422, "body.rating")]),
    ('{"description": "a\\u0000b"}', [(422, "body.description")]),
    ('{"attributes": {"a.b": "x", "$where": "y"}}',
     [(422, "body.attributes.a.b"), (422, "body.attributes.$where")]),
    ('{"attributes": {"k\\u0000": "x"}}', [(422, "body.attributes.k?")]),
    ('{"description": "half an emoji \\ud83d"}', [(422, "body.description")]),
])
def test_what_the_store_cannot_keep_is_named_where_it_is(raw: str,
                                                         expected: list[tuple[int, str]]) -> None:
    assert where(check_json(raw.encode())) == expected


def test_a_whole_surrogate_pair_is_an_ordinary_character() -> None:
    assert check_json(b'{"description": "\\ud83d\\ude00"}') == []


def test_the_largest_64_bit_integers_pass() -> None:
    assert check_json(b'{"a": 9223372036854775807, "b": -9223372036854775808}') == []


def test_deep_nesting_is_refused_before_it_exhausts_the_parser() -> None:
    for depth in (MAX_DEPTH + 1, 5_000, 200_000):
        problems = check_json(("[" * depth + "]" * depth).encode())
        assert where(problems) == [(400, "body")], depth
        assert "nested deeper" in problems[0].problem
    assert check_json(("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode()) == []


def test_a_body_that_is_not_utf8_is_named_by_its_byte() -> None:
    problems = check_json(b'{"description": "\xff\xfe"}')
    assert where(problems) == [(400, "body")]
    assert "UTF-8" in problems[0].problem and "byte 17" in problems[0].problem


def test_broken_json_is_left_to_the_framework_which_names_the_position() -> None:
    assert check_json(b'{"description": ') == []


def test_forms_must_be_utf8_and_free_of_nul() -> None:
    assert check_form("description=停水&lat=34.7".encode()) == []
    assert where(check_form(b"description=a%00b")) == [(422, "body.description")]
    assert where(check_form(b"description=%ff%fe")) == [(400, "body")]
    assert where(check_form(b"description=\xff")) == [(400, "body")]


def test_a_nul_in_the_url_is_refused() -> None:
    assert where(check_url("/api/cases/a\x00b", b"")) == [(400, "path")]
    assert where(check_url("/api/cases", b"q=a%00b")) == [(400, "query")]
    assert check_url("/api/cases", b"q=%E5%81%9C%E6%B0%B4") == []


# --- rate limits -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_burst_then_waits_for_the_bucket_to_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=20, burst=10, clock=clock)
    assert [limiter.take("a") for _ in range(10)] == [0.0] * 10
    assert limiter.take("a") == pytest.approx(3.0)  # 20 a minute: one every 3 s
    assert limiter.take("b") == 0.0  # another client is not affected
    clock.now += 3.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(3.0)
    clock.now += 3600
    assert [limiter.take("a") for _ in range(10)] == [0.0] * 10  # never more than the burst
    assert limiter.take("a") > 0


def test_idle_clients_are_forgotten_so_a_flood_of_addresses_cannot_grow_memory() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock, max_clients=100)
    for n in range(1_000):
        limiter.take(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter._buckets) <= 100


def request_from(address: str, forwarded: list[str] | None = None) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded or []]
    return Request({"type": "http", "method": "POST", "path": "/api/cases", "headers": headers,
                    "client": (address, 5000), "query_string": b""})


def test_x_forwarded_for_is_believed_only_as_far_as_our_own_proxies_wrote_it() -> None:
    spoofed = request_from("203.0.113.9", ["1.2.3.4"])
    assert client_address(spoofed) == "203.0.113.9"  # no trusted proxy: the connection counts
    behind_one = request_from("10.0.0.2", ["1.2.3.4, 198.51.100.7"])
    assert client_address(behind_one, trusted_proxy_hops=1) == "198.51.100.7"
    behind_two = request_from("10.0.0.2", ["1.2.3.4", "198.51.100.7, 10.0.0.1"])
    assert client_address(behind_two, trusted_proxy_hops=2) == "198.51.100.7"
    bypassing = request_from("198.51.100.8")
    assert client_address(bypassing, trusted_proxy_hops=1) == "198.51.100.8"


async def test_the_dependency_answers_429_with_retry_after() -> None:
    admit = per_client(RateLimiter(per_minute=20, burst=1, clock=Clock()), "submissions")
    await admit(request_from("198.51.100.1"))
    with pytest.raises(HTTPException) as refused:
        await admit(request_from("198.51.100.1"))
    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "3"}
    assert "too many submissions" in str(refused.value.detail)
    await admit(request_from("198.51.100.2"))


# --- photos attached to a submission ------------------------------------------------------


def test_photo_links_are_ours_or_plain_web_links_and_no_more_than_allowed() -> None:
    from contracts.case_events import MediaRef
    from services.intake.media import check_media

    ours = MediaRef(url="/media/" + "0a" * 16, content_type="image/png", size=1000)
    web = MediaRef(url="https://photos.example.org/a.jpg")
    assert check_media([ours, web], max_photos=2, max_bytes=5000) == []
    problems = check_media(
        [ours, MediaRef(url="javascript:alert(1)"), MediaRef(url="data:image/png;base64,AA"),
         MediaRef(url="/media/../../etc/passwd"), MediaRef(url="ftp://a.org/x.jpg"),
         MediaRef(url="/media/" + "0a" * 16, content_type="text/html", size=10**9)],
        max_photos=3, max_bytes=5000)
    assert [(p.where, p.problem.split(" ")[0]) for p in problems] == [
        ("body.media", "at"), ("body.media.1.url", "a"), ("body.media.2.url", "a"),
        ("body.media.3.url", "a"), ("body.media.4.url", "a"),
        ("body.media.5.content_type", "one"), ("body.media.5.size", "at")]
    with pytest.raises(ValueError, match="control character"):  # the contract's own check
        MediaRef(url="https://a.org/\x07")
