"""The HTTP face of a process: routes, health, readiness, metrics, clear errors.

`build_app` serves one runtime (a service alone, as production runs it) or
several (the local all-in-one public entry), and the AsyncAPI document of
their brokers (services/common/asyncapi.py: one document for all of them).
Errors always say what is wrong and where: a field that fails validation
answers 422 naming the field; a refused command answers with the reason, its
status given by the domain error (`REFUSALS`, the one place they meet HTTP);
the broker or store being away answers 503 with Retry-After, never 500 and
never "accepted".
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.asyncapi import asyncapi_routes
from services.common.casestreams import ConcurrentChange
from services.common.limits import MAX_BODY_BYTES, BodyGuard, Problem, json_answer
from services.common.open311.errors import error_for as open311_error_for
from services.common.runtime import ServiceRuntime, running
from services.common.store import RETRY_AFTER_S, Unavailable, store_trouble
from services.lifecycle.errors import Invalid, NotAllowed, NotFound, NotNow

REQUESTS = Counter("zaiban_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("zaiban_http_request_seconds", "HTTP request latency", ["method", "route"])

REFUSALS: dict[type[Exception], int] = {
    NotFound: 404,
    NotAllowed: 403,
    NotNow: 409,
    Invalid: 422,
    ConcurrentChange: 409,  # the store's: another command won the race; try again
}
"""How a refused command answers over HTTP, by its error: `{"error": reason}` (and the
problems of an `Invalid`). Open311 routes answer in the spec's codes instead
(`services/common/open311.py`)."""


def refusal_status(error: Exception) -> int:
    return next(REFUSALS[kind] for kind in type(error).__mro__ if kind in REFUSALS)


def where(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def problems_of(error: RequestValidationError) -> list[dict[str, str]]:
    problems = []
    for item in error.errors():
        message = str(item.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        problems.append({"where": where(item.get("loc", ())), "problem": message})
    return problems


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = problems_of(error)
        summary = "; ".join(f"{p['where']}: {p['problem']}" for p in problems[:5])
        return JSONResponse({"error": f"invalid request: {summary}", "problems": problems}, 422)

    async def refused(request: Request, error: Exception) -> JSONResponse:
        body: dict[str, Any] = {"error": str(error)}  # the reason
        if isinstance(error, Invalid) and error.problems:
            body["problems"] = error.problems
        return JSONResponse(body, refusal_status(error))

    for refusal in REFUSALS:
        app.add_exception_handler(refusal, refused)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        open311_answer = open311_error_for(request.url.path, error)  # no route, bad method
        if open311_answer is not None:
            return open311_answer
        return JSONResponse({"error": error.detail}, error.status_code, headers=error.headers)

    async def unavailable(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(
            {"error": "the service cannot record or read this right now; try again shortly"},
            503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    for error_type in (KafkaConnectionError, KafkaTimeoutError, KafkaError, TimeoutError):
        app.add_exception_handler(error_type, unavailable)

    @app.exception_handler(PyMongoError)
    @app.exception_handler(Unavailable)
    async def store_unavailable(request: Request, error: Exception) -> JSONResponse:
        # The store away, busy (FerretDB on SQLite answers a write that found the database
        # locked with a plain OperationFailure) or out of disk space: it cannot take this
        # now, the request is not wrong — try again (store.py `store_trouble`). Any other
        # store error is a bug, and answers 500.
        trouble = store_trouble(error)
        if trouble is None:
            raise error
        return JSONResponse({"error": trouble.reason}, 503,
                            headers={"Retry-After": str(trouble.retry_after_s)})


def refusal_answer(path: str, problems: list[Problem]) -> Response:
    """The body guard's refusal, in the Open311 error format on Open311 paths."""
    summary = "; ".join(f"{p.where}: {p.problem}" for p in problems[:5])
    refusal = StarletteHTTPException(problems[0].status, f"invalid request: {summary}")
    open311 = open311_error_for(path, refusal)
    return open311 if open311 is not None else json_answer(path, problems)


class RequestMetrics:
    """Requests and latency (to the first byte of the answer) per route, as plain ASGI:
    no task or stream wrapping per request, which Starlette's `BaseHTTPMiddleware` adds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def measured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                path = getattr(scope.get("route"), "path", "unmatched")
                LATENCY.labels(scope["method"], path).observe(time.perf_counter() - started)
                REQUESTS.labels(scope["method"], path, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, measured_send)


def build_app(
    runtimes: Sequence[ServiceRuntime], *, title: str, extra_routers: Sequence[Any] = ()
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(*runtimes):
            yield

    app = FastAPI(title=title, version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)

    # Oversized, unreadable or unstorable bodies are refused before any route (limits.py).
    app.add_middleware(BodyGuard, max_body_bytes=MAX_BODY_BYTES, answer=refusal_answer)

    app.add_middleware(RequestMetrics)

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Broker, store and services answer")
    async def readyz() -> JSONResponse:
        checks = {runtime.name: await runtime.readiness() for runtime in runtimes}
        ready = all(all(c.values()) for c in checks.values())
        clock = {runtime.name: runtime.clock_figures() for runtime in runtimes}
        return JSONResponse({"ready": ready, "checks": checks, "clock": clock},
                            200 if ready else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(asyncapi_routes([runtime.broker for runtime in runtimes], title=title,
                                       version=app.version))
    for runtime in runtimes:
        app.include_router(runtime.router)
    for router in extra_routers:
        app.include_router(router)
    return app
