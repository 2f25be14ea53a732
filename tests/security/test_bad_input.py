"""Residents type anything, and some send worse: every kind of bad input gets a clear 4xx
naming what is wrong and where, and none of it reaches the log (so no projection ever
sees it). On the public entry, on the real stack."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from helpers import read_events
from photofixtures import phone_jpeg, png_declaring
from security.public_entry import (
    DEPARTMENT_A,
    OFFICER,
    PNG,
    REPORTER,
    SUBMISSION,
    SUPERVISOR,
    Made,
    case_in,
    client,
    public_entry,
    submit,
)

from services.common.settings import CommonSettings

MB = 1024 * 1024


@dataclass
class Bad:
    """One bad request: what it is, how it is sent, the status and the place it must name."""

    what: str
    method: str
    path: str
    status: int
    where: str
    json: Any = None
    content: bytes | None = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, Any] | None = None


def with_(**changes: Any) -> dict[str, Any]:
    """The valid submission with some fields changed."""
    body = json.loads(json.dumps(SUBMISSION))
    for dotted, value in changes.items():
        target = body
        *parents, last = dotted.split("__")
        for name in parents:
            target = target[name]
        target[last] = value
    return body


def raw(text: str) -> bytes:
    return text.encode()


SUBMIT = "/api/cases"
VALID_JSON = json.dumps(SUBMISSION, ensure_ascii=False)


def submissions() -> list[Bad]:
    photo = {"url": "/media/" + "a" * 32, "content_type": "image/png", "size": 100}
    return [
        Bad("a body over the limit (Content-Length)", "POST", SUBMIT, 413, "body",
            content=b'{"description": "' + b"x" * (2 * MB) + b'"}'),
        Bad("a chunked body over the limit (no Content-Length)", "POST", SUBMIT, 413, "body",
            content=b""),  # replaced by a generator below
        Bad("a description over 4,000 characters", "POST", SUBMIT, 422, "body.description",
            json=with_(description="水" * 4001)),
        Bad("a NUL in the description", "POST", SUBMIT, 422, "body.description",
            json=with_(description="停水两天了\x00请处理")),
        Bad("a control character in the street", "POST", SUBMIT, 422, "body.location.street",
            json=with_(location__street="花园路\x07口")),
        Bad("a NUL in the resident's name", "POST", SUBMIT, 422, "body.contact.name",
            json=with_(contact__name="王\x00")),
        Bad("a phone number that is not one", "POST", SUBMIT, 422, "body.contact.phone",
            json=with_(contact__phone="<script>")),
        Bad("invalid UTF-8", "POST", SUBMIT, 400, "body",
            content=VALID_JSON.encode().replace("停水".encode(), b"\xff\xfe\xfd")),
        Bad("JSON nested 100,000 deep", "POST", SUBMIT, 400, "body",
            content=raw("[" * 100_000 + "]" * 100_000)),
        Bad("an answer nested 40 deep", "POST", SUBMIT, 400, "body",
            json=with_(attributes={"merchant": json.loads("[" * 40 + "]" * 40)})),
        Bad("an integer beyond 64 bits", "POST", SUBMIT, 422, "body.media.0.size",
            json=with_(media=[{**photo, "size": 2**70}])),
        Bad("a 5,000-digit number", "POST", SUBMIT, 422, "body.location.lat",
            content=raw(VALID_JSON.replace('"jinshui"', '"jinshui", "lat": ' + "9" * 5000))),
        Bad("a raw NaN", "POST", SUBMIT, 422, "body.location.lat",
            content=raw(VALID_JSON.replace('"jinshui"', '"jinshui", "lat": NaN'))),
        Bad("a raw -Infinity", "POST", SUBMIT, 422, "body.location.lon",
            content=raw(VALID_JSON.replace('"jinshui"', '"jinshui", "lon": -Infinity'))),
        Bad("a number that overflows to infinity", "POST", SUBMIT, 422, "body.location.lat",
            content=raw(VALID_JSON.replace('"jinshui"', '"jinshui", "lat": 1e999'))),
        Bad("a key with a dot", "POST", SUBMIT, 422, "body.attributes.a.b",
            json=with_(attributes={"a.b": "x"})),
        Bad("a key starting with $", "POST", SUBMIT, 422, "body.attributes.$where",
            json=with_(attributes={"$where": "x"})),
        Bad("seven photos", "POST", SUBMIT, 422, "body.media", json=with_(media=[photo] * 7)),
        Bad("a photo link to a script", "POST", SUBMIT, 422, "body.media.0.url",
            json=with_(media=[{"url": "javascript:alert(1)"}])),
        Bad("a photo that claims to be a GIF", "POST", SUBMIT, 422, "body.media.0.content_type",
            json=with_(media=[{**photo, "content_type": "image/gif"}])),
        Bad("a photo that claims to be 50 MB", "POST", SUBMIT, 422, "body.media.0.size",
            json=with_(media=[{**photo, "size": 50 * MB}])),
        Bad("a channel only staff may use", "POST", SUBMIT, 422, "hotline",
            json=with_(channel="hotline")),
        Bad("a NUL in the URL", "POST", "/api/cases%00", 400, "path", json=SUBMISSION),
    ]


def uploads() -> list[Bad]:
    return [
        Bad("a GIF", "POST", "/api/media", 415, "JPEG, PNG or WebP",
            files={"photo": ("p.gif", b"GIF89a" + b"\x00" * 64, "image/gif")}),
        Bad("a web page declared as a JPEG", "POST", "/api/media", 415, "JPEG, PNG or WebP",
            files={"photo": ("p.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg")}),
        Bad("an empty photo", "POST", "/api/media", 422, "empty",
            files={"photo": ("p.png", b"", "image/png")}),
        Bad("a truncated JPEG", "POST", "/api/media", 422, "body.photo",
            files={"photo": ("p.jpg", phone_jpeg()[:400], "image/jpeg")}),
        Bad("a text file behind a JPEG's first bytes", "POST", "/api/media", 422, "body.photo",
            files={"photo": ("p.jpg", b"\xff\xd8\xff" + b"not a photo " * 10, "image/jpeg")}),
        Bad("a decompression bomb (10 gigapixels in 60 bytes)", "POST", "/api/media", 422,
            "body.photo", files={"photo": ("p.png", png_declaring(100_000, 100_000), "image/png")}),
        Bad("a photo over 5 MB", "POST", "/api/media", 413, "at most",
            files={"photo": ("p.png", PNG + b"\x00" * (5 * MB), "image/png")}),
        Bad("an upload over 12 MB", "POST", "/api/media", 413, "body",
            files={"photo": ("p.png", PNG + b"\x00" * (13 * MB), "image/png")}),
    ]


def commands(submitted: Made, routed: Made) -> list[Bad]:
    s, r = f"/api/cases/{submitted.case_id}", f"/api/cases/{routed.case_id}"
    return [
        # intake's triage
        Bad("a NUL in a rejection's reason", "POST", f"{s}/reject", 422, "body.reason",
            json={"reason": "重复\x00"}, headers=OFFICER),
        Bad("a reason over 500 characters", "POST", f"{s}/reject", 422, "body.reason",
            json={"reason": "重" * 501}, headers=OFFICER),
        Bad("a category that is no code", "POST", f"{s}/accept", 422, "body.category",
            json={"category": "$where"}, headers=OFFICER),
        Bad("a NUL in the case to merge into", "POST", f"{s}/merge", 422, "body.into_case_id",
            json={"into_case_id": "ZB\x00"}, headers=OFFICER),
        Bad("a NUL in the case number", "POST", "/api/cases/ZB%00/accept", 400, "path",
            json={}, headers=OFFICER),
        Bad("an unknown field", "POST", f"{s}/accept", 422, "body.$set",
            json={"$set": {"status": "closed"}}, headers=OFFICER),
        # routing's commands
        Bad("a NUL in a progress note", "POST", f"{r}/progress", 422, "body.note",
            json={"note": "维修中\x00"}, headers=DEPARTMENT_A),
        Bad("a progress note over 2,000 characters", "POST", f"{r}/progress", 422, "body.note",
            json={"note": "修" * 2001}, headers=DEPARTMENT_A),
        Bad("a department that is no code", "POST", f"{r}/reassign", 422, "body.department",
            json={"department": "water.co", "reason": "转交"}, headers=SUPERVISOR),
        Bad("a story linking a script", "POST", f"{r}/stories", 422, "body.url",
            json={"title": "标题标题", "url": "javascript:alert(1)"}, headers=REPORTER),
        Bad("a rating beyond 64 bits", "POST", f"{r}/feedback", 422, "body.rating",
            json={"fixed": True, "rating": 2**64}, headers={"X-Tracking-Code": routed.code}),
        Bad("a raw NaN rating", "POST", f"{r}/feedback", 422, "body.rating",
            content=b'{"fixed": true, "rating": NaN}',
            headers={"X-Tracking-Code": routed.code}),
        Bad("a case number of 200 characters", "POST", f"/api/cases/{'Z' * 200}/progress", 422,
            "path.case_id", json={"note": "维修中"}, headers=DEPARTMENT_A),
        Bad("a nested note", "POST", f"{r}/progress", 422, "body.note",
            json={"note": {"$gt": ""}}, headers=DEPARTMENT_A),
    ]


def queries(routed: Made) -> list[Bad]:
    return [
        Bad("a NUL in the search", "GET", "/api/cases", 400, "query", params={"q": "a\x00b"}),
        Bad("a search of 101 characters", "GET", "/api/cases", 422, "query.q",
            params={"q": "水" * 101}),
        Bad("a control character in a staff search", "GET", "/api/staff/cases", 422, "q",
            params={"q": "a\x07b"}, headers=OFFICER),
        Bad("a page size beyond 64 bits", "GET", "/api/cases", 422, "query.limit",
            params={"limit": str(2**70)}),
        Bad("a negative offset", "GET", "/api/cases", 422, "query.offset", params={"offset": -1}),
        Bad("an unknown status", "GET", "/api/cases", 422, "query.status",
            params={"status": "$ne"}),
        Bad("a category that is no code", "GET", "/api/cases", 422, "query.category",
            params={"category": "a.b"}),
        Bad("an unknown language", "GET", f"/api/cases/{routed.case_id}", 422, "lang",
            params={"lang": "xx"}),
        Bad("a tracking code of 65 characters", "GET", f"/api/tracking/{'A' * 65}", 422,
            "tracking_code"),
        Bad("a case number with a slash trick", "GET", "/api/cases/..%2F..%2Fetc", 404,
            "Not Found"),
        Bad("a resume point that is no number", "GET", f"/api/cases/{routed.case_id}/live", 422,
            "Last-Event-ID", headers={"Last-Event-ID": "1; DROP"}),
    ]


async def send(http: httpx.AsyncClient, bad: Bad) -> httpx.Response:
    if bad.what.startswith("a chunked body"):
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(3):
                yield b"x" * MB

        return await http.request(bad.method, bad.path, content=chunks(),
                                  headers={"content-type": "application/json"})
    return await http.request(bad.method, bad.path, json=bad.json, content=bad.content,
                              params=bad.params, headers=bad.headers, files=bad.files)


async def test_every_bad_input_gets_a_clear_4xx_and_the_log_receives_nothing(
        settings: CommonSettings) -> None:
    async with public_entry(settings) as app, client(app) as http:
        submitted, routed = await case_in(http, "submitted"), await case_in(http, "routed")
        before = await read_events(settings, min_count=1)

        cases = submissions() + uploads() + commands(submitted, routed) + queries(routed)
        wrong = []
        for bad in cases:
            answer = await send(http, bad)
            text = answer.text
            if answer.status_code != bad.status or bad.where not in text:
                wrong.append(f"{bad.what}: {bad.method} {bad.path[:60]} -> "
                             f"{answer.status_code} {text[:300]}")
            elif answer.headers["content-type"].startswith("application/json"):
                assert "error" in answer.json(), text
        assert not wrong, "\n".join(wrong)

        # nothing of it reached the log; the valid request right after still goes through
        after = await read_events(settings, min_count=len(before))
        assert [e.event_id for e in after] == [e.event_id for e in before]
        fine = await submit(http)
        assert [e.type for e in await read_events(settings, case_id=fine.case_id,
                                                  min_count=len(before) + 1)] == ["CaseSubmitted"]
    print(f"\nbad inputs refused: {len(cases)}")


async def test_a_deployment_can_take_fewer_photos_per_case(settings: CommonSettings) -> None:
    photo = {"url": "/media/" + "b" * 32}
    async with public_entry(settings, max_photos=2) as app, client(app) as http:
        answer = await http.post(SUBMIT, json=with_(media=[photo] * 3))
        assert answer.status_code == 422, answer.text
        assert answer.json()["problems"] == [{"where": "body.media",
                                              "problem": "at most 2 photos per case"}]
        two = await http.post(SUBMIT, json=with_(media=[photo] * 2))
        assert two.status_code == 201, two.text
