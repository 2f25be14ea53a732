"""Limits at the edge: what one request may carry, and how often a client may submit.

**The body guard** (`BodyGuard`, installed by `build_app` in front of every
route) refuses, before any route or store sees it:

- a body larger than the limit: 413 at once when Content-Length says so, and
  for a body sent without one (chunked) as soon as the bytes read pass it;
- a NUL in the URL's path or query: 400;
- a JSON body (``application/json``, ``*+json``, or no content type, which
  FastAPI reads as JSON) that is not UTF-8 (400, naming the byte) or is
  nested deeper than `MAX_DEPTH` (400; Python's parser would otherwise fail
  with a RecursionError), or that carries what the document store cannot keep
  (422, naming where, like ``body.media.0.size``): NaN or Infinity (also a
  number so large it overflows to infinity), an integer beyond 64 bits, a NUL
  character, an object key with a ``.`` or a leading ``$``;
- a form body (``application/x-www-form-urlencoded``, Open311) that is not
  UTF-8 (400) or carries a NUL (422).

So malformed input never reaches a write model, the log or a projection;
fields are then checked one by one by the commands' models (contracts/text.py
bounds every text and refuses control characters).

**Rate limits** (`RateLimiter`, `per_client`): a token bucket per client
address, `burst` requests at once and then `per_minute` a minute; a client
over its limit gets 429 with Retry-After (the seconds until its next request
will be taken). The client is the connecting address, or, when
`trusted_proxy_hops` says that many proxies of ours stand in front and append
to X-Forwarded-For, the address the outermost of them saw. The buckets here
live in the process, the first and cheap line; `quotas.py` keeps the same
bucket in the store behind it, so that with N instances a client still gets
its limit once, not N times, and gives each Open311 api key its own quota.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 12 * 1024 * 1024
"""Any body (a photo upload is the largest)."""
MAX_JSON_BYTES = 1024 * 1024
"""A JSON or form body: the largest command (a 4,000-character description, 30 answers,
six photo links) is far below this."""
MAX_DEPTH = 32
"""Nesting of a JSON body; the commands nest four levels at most."""
INT64 = 2**63
_SURROGATE = re.compile("[\ud800-\udfff]")
"""JSON may escape half a UTF-16 pair (\\ud83d); such a string cannot be stored as UTF-8."""
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_PROBLEMS = 10


# --- what a body may carry (pure) ------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Why a request is refused at the edge: its HTTP status, where, what is wrong."""

    status: int
    where: str
    problem: str


class _Unstorable:
    """Stands in for a JSON number the store cannot keep, so the walk can say where it was."""

    __slots__ = ("problem",)

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _constant(name: str) -> _Unstorable:
    return _Unstorable(f"{name} is not a number that can be kept; send a finite number")


def _integer(text: str) -> int | _Unstorable:
    # Checked on the digits first: int() of a 5,000-digit string is itself refused by Python.
    if len(text.lstrip("-")) > 19 or not -INT64 <= int(text) < INT64:
        return _Unstorable("the integer is too large (at most 64 bits)")
    return int(text)


def _float(text: str) -> float | _Unstorable:
    value = float(text)
    if not math.isfinite(value):
        return _Unstorable("the number is too large (it overflows to infinity)")
    return value


def _shown(name: str) -> str:
    """A key as an answer may quote it: short, control characters as '?'."""
    return "".join("?" if ord(char) < 32 or ord(char) == 127 else char for char in name[:40])


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (U+0000), which is not allowed"
    if _SURROGATE.search(text):
        return "contains an unpaired surrogate (\\ud800-\\udfff), which is not text"
    return None


def _key_problem(key: str) -> str | None:
    if "\x00" in key or _SURROGATE.search(key):
        return "a key contains a NUL character or an unpaired surrogate"
    if "." in key or key.startswith("$"):
        return f"the key {_shown(key)!r} may not contain '.' or start with '$'"
    return None


def _walk(value: Any, where: str, max_depth: int) -> Iterator[Problem]:
    """Every unstorable thing in a parsed JSON value, iteratively (no recursion to exhaust)."""
    stack: list[tuple[Any, str, int]] = [(value, where, 1)]
    while stack:
        item, at, depth = stack.pop()
        if depth > max_depth:
            yield Problem(400, "body", f"nested deeper than {max_depth} levels")
            return
        if isinstance(item, _Unstorable):
            yield Problem(422, at, item.problem)
        elif isinstance(item, str):
            wrong = _text_problem(item)
            if wrong:
                yield Problem(422, at, wrong)
        elif isinstance(item, dict):
            for key in item:
                wrong = _key_problem(key)
                if wrong:
                    yield Problem(422, f"{at}.{_shown(key)}", wrong)
            for key, inner in reversed(item.items()):
                stack.append((inner, f"{at}.{_shown(key)}", depth + 1))
        elif isinstance(item, list):
            for index in reversed(range(len(item))):
                stack.append((item[index], f"{at}.{index}", depth + 1))


def _utf8(raw: bytes) -> tuple[str | None, Problem | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as error:
        return None, Problem(400, "body", f"not valid UTF-8 (byte {error.start} is "
                                          f"0x{raw[error.start]:02x}); send UTF-8 text")


def check_json(raw: bytes, *, max_depth: int = MAX_DEPTH) -> list[Problem]:
    """What is wrong with a JSON body for zaiban (nothing: []). Syntax errors are left to
    the framework, which names the line and column."""
    text, problem = _utf8(raw)
    if problem or text is None:
        return [problem] if problem else []
    try:
        value = json.loads(text, parse_constant=_constant, parse_int=_integer,
                           parse_float=_float)
    except RecursionError:
        return [Problem(400, "body", f"nested deeper than {max_depth} levels")]
    except ValueError:
        return []  # not JSON at all: FastAPI answers 422 naming where it broke
    problems: list[Problem] = []
    for found in _walk(value, "body", max_depth):
        if found.status == 400:
            return [found]
        problems.append(found)
        if len(problems) >= MAX_PROBLEMS:
            break
    return problems


def check_form(raw: bytes) -> list[Problem]:
    """What is wrong with a form-encoded body (nothing: [])."""
    text, problem = _utf8(raw)
    if problem or text is None:
        return [problem] if problem else []
    try:
        fields = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return [Problem(400, "body", "a percent-encoded field is not valid UTF-8")]
    problems = []
    for key, value in fields:
        if "\x00" in key or "\x00" in value:
            problems.append(Problem(422, f"body.{_shown(key)}",
                                    "contains a NUL character (U+0000), which is not allowed"))
    return problems[:MAX_PROBLEMS]


def check_url(path: str, query: bytes) -> list[Problem]:
    if "\x00" in path:
        return [Problem(400, "path", "the path contains a NUL character")]
    if b"\x00" in query or b"%00" in query.lower():
        return [Problem(400, "query", "the query contains a NUL character")]
    return []


def body_kind(content_type: str | None) -> str:
    """'json', 'form' or 'other', as the framework will read the body."""
    if not content_type:
        return "json"
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return "json"
    if media == "application/x-www-form-urlencoded":
        return "form"
    return "other"


# --- the middleware --------------------------------------------------------------------


Answer = Callable[[str, list[Problem]], Response]


def json_answer(path: str, problems: list[Problem]) -> Response:
    """The JSON API's error shape, as for a failed validation: error, and each problem."""
    summary = "; ".join(f"{p.where}: {p.problem}" for p in problems[:5])
    return JSONResponse(
        {"error": f"invalid request: {summary}",
         "problems": [{"where": p.where, "problem": p.problem} for p in problems]},
        problems[0].status,
    )


class BodyGuard:
    """ASGI middleware: refuse oversized or unstorable bodies before any route reads them."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = MAX_BODY_BYTES,
                 max_json_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH,
                 answer: Answer = json_answer) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_bytes = max_json_bytes
        self.max_depth = max_depth
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        problems = check_url(path, scope.get("query_string", b""))
        if problems:
            await self.answer(path, problems)(scope, receive, send)
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        kind = body_kind(headers.get("content-type"))
        limit = self.max_body_bytes if kind == "other" else self.max_json_bytes
        body, problems = await self._read(headers.get("content-length"), receive, limit)
        if body is None and not problems:
            return  # the client went away
        if not problems and body:
            if kind == "json":
                problems = check_json(body, max_depth=self.max_depth)
            elif kind == "form":
                problems = check_form(body)
        if problems:
            await self.answer(path, problems)(scope, receive, send)
            return
        await self.app(scope, _replay(body or b"", receive), send)

    async def _read(self, length: str | None, receive: Receive,
                    limit: int) -> tuple[bytes | None, list[Problem]]:
        too_large = [Problem(413, "body", f"the request body is too large: at most {limit} "
                                          "bytes are accepted here")]
        if length is not None:
            if not length.strip().isdigit():
                return None, [Problem(400, "Content-Length", "not a number of bytes")]
            if int(length) > limit:
                return None, too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, []
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None, too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), []


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then listens as before."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# --- rate limits -----------------------------------------------------------------------


class RateLimiter:
    """A token bucket per client: `burst` requests at once, then `per_minute` a minute.

    Buckets that have refilled are forgotten once more than `max_clients` are
    held, so a flood of addresses cannot grow memory without bound.
    """

    def __init__(self, per_minute: float, burst: int, *,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 100_000) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> float:
        """Take one request for `client`: 0.0 if admitted, else the seconds until it would be."""
        now = self.clock()
        tokens, stamp = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            self._forget_idle(now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate

    async def admit(self, client: str) -> float:
        """`take`, as a `Limit`."""
        return self.take(client)

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) <= self.max_clients:
            return
        full_after = self.burst / self.rate
        for client, (_tokens, stamp) in list(self._buckets.items()):
            if len(self._buckets) <= self.max_clients:
                break
            if now - stamp >= full_after:
                del self._buckets[client]
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)  # least recently seen


def client_address(request: Request, trusted_proxy_hops: int = 0) -> str:
    """Who is asking: the connecting address, or the one our own proxies saw.

    X-Forwarded-For is believed only as far as `trusted_proxy_hops` of our proxies
    append to it (each appends the address it saw): the entry that many places from
    the right. Anything left of it was written by the client and proves nothing.
    """
    direct = request.client.host if request.client else "unknown"
    if trusted_proxy_hops <= 0:
        return direct
    forwarded = [part.strip() for value in request.headers.getlist("x-forwarded-for")
                 for part in value.split(",") if part.strip()]
    if len(forwarded) < trusted_proxy_hops:
        return direct
    return forwarded[-trusted_proxy_hops]


class Limit(Protocol):
    """A limit per client: `admit` answers 0.0 (let it in) or the seconds to wait."""

    async def admit(self, client: str) -> float: ...


def too_many(what: str, wait: float, whose: str = "from your address") -> HTTPException:
    """The 429 for a client over its limit, with the whole seconds to wait."""
    seconds = max(1, math.ceil(wait))
    return HTTPException(429, f"too many {what} {whose}; try again in {seconds} s",
                         headers={"Retry-After": str(seconds)})


def per_client(limit: Limit, what: str, *,
               trusted_proxy_hops: int = 0) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency admitting a request only within `limit`'s rate for its client."""

    async def admit(request: Request) -> None:  # async: no worker thread per request
        wait = await limit.admit(client_address(request, trusted_proxy_hops))
        if wait > 0:
            raise too_many(what, wait)

    return admit
