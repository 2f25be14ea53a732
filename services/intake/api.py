"""Intake's HTTP routes: submit, upload photos, enter a hotline call, triage.

The routes are given what they use (the service wires them, `service.py`): the
submissions (`submissions.py`), the photo store, the per-client limits, the
duplicate suggestions; triage's routes are the rows of `commands.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Header, HTTPException, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from contracts.case_commands import SubmitCase
from contracts.envelope import Envelope
from contracts.facts import Actor, Channel, Role
from contracts.personal import SEALED_FOR_INTAKE
from services.common.auth import Principal, TokenCheck, staff_guard
from services.common.catalogue import LANGUAGES
from services.common.cityconfig import LiveCity
from services.common.clock import Clock
from services.common.commands import Correlation, Desk, Door, IdempotencyKey
from services.common.commands import routes as command_routes
from services.common.keys import SUBMISSION_KEY, KeyStore, public_key_text
from services.common.limits import Limit, per_client
from services.intake.commands import TRIAGE
from services.intake.duplicates import Suggestion
from services.intake.erasures import ErasureDesk
from services.intake.media import PhotoStore
from services.intake.settings import IntakeSettings
from services.intake.submissions import Receipt, Submissions
from services.lifecycle.errors import Invalid

RESIDENT_CHANNELS = {Channel.WEB, Channel.APP}

TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many from this client (its address; all of intake's instances "
                         "count together); try again after Retry-After seconds."}}


async def recorded(case_id: str, envelopes: list[Envelope]) -> dict[str, Any]:
    """The answer to a staff command: what the log now holds because of it."""
    last = envelopes[-1] if envelopes else None
    return {
        "recorded": [{"type": e.type, "seq": e.seq, "event_id": str(e.event_id)} for e in envelopes],
        "facts": last.facts.model_dump(mode="json") if last else None,
    }


def receipt_body(receipt: Receipt) -> dict[str, Any]:
    case_id = receipt.case_id
    return {
        "case_id": case_id,
        "tracking_code": receipt.tracking_code,
        "status": "submitted",
        "links": {
            "page": f"/cases/{case_id}",
            "public": f"/api/cases/{case_id}",
            "private": f"/api/cases/{case_id}/private",
            "live": f"/api/cases/{case_id}/live",
        },
    }


def routes(
    settings: IntakeSettings, live: LiveCity, clock: Clock, *, submissions: Submissions,
    photos: PhotoStore, submission_limit: Limit, upload_limit: Limit,
    duplicates: Callable[[str], Awaitable[list[Suggestion]]], tokens: TokenCheck,
) -> APIRouter:
    router = APIRouter(tags=["intake"])
    require = staff_guard(tokens)
    officer = Depends(require(Role.OFFICER, Role.SUPERVISOR))
    hops = settings.trusted_proxy_hops
    limited = [Depends(per_client(submission_limit, "submissions", trusted_proxy_hops=hops))]
    uploads = [Depends(per_client(upload_limit, "photo uploads", trusted_proxy_hops=hops))]

    @router.get("/api/catalogue", summary="Categories, districts and the city's bounds")
    async def catalogue(lang: str = "zh-Hans") -> dict[str, Any]:
        language = lang if lang in LANGUAGES else "zh-Hans"
        city = live.current
        return {
            "city": {"code": city.city.code, "name": city.city.names.in_(language),
                     "bounds": city.city.bounds.model_dump()},
            "categories": [
                {"code": c.code, "icon": c.icon, "name": c.names.in_(language),
                 "description": c.description.in_(language), "priority": c.priority.value,
                 "attributes": [
                     {"code": a.code, "datatype": a.datatype, "required": a.required,
                      "order": a.order, "description": a.description.in_(language),
                      "values": [{"key": v.key, "name": v.name.in_(language)} for v in a.values]}
                     for a in c.attributes]}
                for c in city.categories
            ],
            "districts": [{"code": d.code, "name": d.names.in_(language)} for d in city.districts],
        }

    @router.post("/api/cases", status_code=201, summary="Submit a request (one step)",
                 dependencies=limited, responses=TOO_MANY)
    async def submit(command: SubmitCase, response: Response, key: IdempotencyKey = None,
                     correlation: Correlation = None) -> dict[str, Any]:
        if command.channel not in RESIDENT_CHANNELS:
            raise Invalid(f"channel {command.channel.value!r} is entered by staff or adapters; "
                          "residents use 'web' or 'app'")
        receipt = await submissions.submit(command, key=key or command.submission_id or None,
                                       correlation_id=correlation)
        if receipt.replayed:
            response.status_code = 200
            response.headers["Idempotent-Replayed"] = "true"
        response.headers["Location"] = f"/api/cases/{receipt.case_id}"
        return receipt_body(receipt)

    @router.post("/api/hotline/cases", status_code=201,
                 summary="Enter a case for a caller on the hotline (officers)")
    async def hotline(command: SubmitCase, response: Response, principal: Principal = officer,
                      key: IdempotencyKey = None, correlation: Correlation = None) -> dict[str, Any]:
        receipt = await submissions.submit(command, key=key or command.submission_id or None,
                                       channel=Channel.HOTLINE, entered_by=principal.actor(),
                                       correlation_id=correlation)
        if receipt.replayed:
            response.status_code = 200
        return receipt_body(receipt)

    @router.post("/api/media", status_code=201, summary="Upload a photo (JPEG, PNG or WebP)",
                 dependencies=uploads, responses=TOO_MANY)
    async def upload(photo: Annotated[UploadFile, File(description="The photo")]) -> dict[str, Any]:
        limit = settings.max_photo_bytes
        data = await photo.read(limit + 1)
        stored = await photos.put(data, clock.now())
        return {"url": stored.url, "content_type": stored.content_type, "size": stored.size}

    @router.get("/media/{media_id}", summary="A photo attached to a case")
    async def media(media_id: str) -> Response:
        found = await photos.get(media_id) if media_id.isalnum() else None
        if found is None:
            return JSONResponse({"error": f"no photo {media_id}"}, 404)
        content_type, data = found
        return Response(data, media_type=content_type,
                        # ten minutes: an erased case's photo does not live on in caches
                        headers={"Cache-Control": "public, max-age=600",
                                 "X-Content-Type-Options": "nosniff"})

    @router.get("/api/cases/{case_id}/duplicates", summary="Suggested duplicates (officers)")
    async def suggested(case_id: str, request: Request,
                        principal: Principal = officer) -> dict[str, Any]:
        suggestions = await duplicates(case_id)
        return {"case_id": case_id, "suggestions": [
            {"case_id": s.case_id, "score": s.score, "reasons": list(s.reasons),
             "distance_m": None if s.distance_m is None else round(s.distance_m)}
            for s in suggestions]}

    return router


def triage_routes(desk: Desk, tokens: TokenCheck) -> APIRouter:
    """Triage, one route per row of `commands.TRIAGE`; a retry with the same
    Idempotency-Key is the same command."""
    door = Door(tags=["intake"], answer=recorded, idempotency=True)
    return command_routes(TRIAGE, desk, door, tokens)


def erasure_routes(erasures: ErasureDesk, tokens: TokenCheck) -> APIRouter:
    """Erasing a resident's personal data: the resident (tracking code) or an admin."""
    router = APIRouter(tags=["privacy"])
    admin = Depends(staff_guard(tokens)(Role.ADMIN))
    answers: dict[int | str, dict[str, Any]] = {
        202: {"description": "Requested and under way: the key may not be destroyed yet."},
        409: {"description": "Erased already."}}

    def answer(outcome: dict[str, Any]) -> JSONResponse:
        return JSONResponse(outcome, 200 if outcome["status"] == "erased" else 202)

    @router.post("/api/cases/{case_id}/erase", responses=answers,
                 summary="Erase my personal data from my case (needs its tracking code)")
    async def erase_own(
        case_id: str,
        x_tracking_code: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        if not x_tracking_code:
            raise HTTPException(401, "send the case's tracking code in the X-Tracking-Code header")
        return answer(await erasures.request(case_id, Actor(role=Role.RESIDENT),
                                             tracking_code=x_tracking_code))

    @router.post("/api/admin/erasures/{case_id}", responses=answers,
                 summary="Erase a resident's personal data from a case (admins)")
    async def erase(case_id: str, principal: Principal = admin) -> JSONResponse:
        return answer(await erasures.request(case_id, principal.actor()))

    @router.get("/api/admin/erasures/{case_id}",
                summary="What was erased of a case, when and why: erased, erasing or kept "
                        "(admins)")
    async def erasure(case_id: str, principal: Principal = admin) -> dict[str, Any]:
        return await erasures.outcome(case_id)

    return router


def bus_routes(keys: KeyStore) -> APIRouter:
    """What a frontend on the bus needs: the key it seals submissions with."""
    router = APIRouter(tags=["intake"])

    @router.get("/api/bus/submission-key",
                summary="The public key a frontend seals submissions on the bus with")
    async def submission_key() -> dict[str, str]:
        key = await keys.issue(SUBMISSION_KEY)
        return {"kid": SUBMISSION_KEY, "alg": SEALED_FOR_INTAKE,
                "public_key": public_key_text(key),
                "how": "publish SealedSubmission {sealed: SealedMessage} on the submissions "
                       "topic: the SubmitCase JSON sealed for this key (contracts/personal.py)"}

    return router
