"""Intake's Open311 routes: discovery, services, service definitions, `POST requests`.

Each reads its parameters (`parse.py`, `services/common/open311/params.py`),
submits through intake's submissions (`services/intake/submissions.py`), and
answers a document (`format.py`) in the URL's format; every failure answers in
the spec's error shape (`Open311Route`).
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures.

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from contracts.facts import Channel
from services.common.auth import BadToken, TokenCheck
from services.common.cityconfig import LiveCity
from services.common.commands import Correlation, IdempotencyKey
from services.common.limits import Limit, client_address, too_many
from services.common.logging import get_logger
from services.common.open311 import BASE_PATH
from services.common.open311.errors import Open311Route, bad_request, forbidden, not_found
from services.common.open311.formats import answer
from services.common.open311.params import check_jurisdiction, format_of, pick_language, single
from services.common.quotas import KeyQuotas
from services.intake.open311.format import (
    TRACKING_CODE_FIELD,
    changeset_of,
    discovery,
    receipt_row,
    service_definition,
    service_row,
)
from services.intake.open311.parse import (
    CHANNELS_FIELD,
    NOTIFY_FIELD,
    open311_where,
    read_submission,
    request_params,
)
from services.intake.settings import IntakeSettings
from services.intake.submissions import Submissions
from services.lifecycle.errors import Invalid

log = get_logger("zaiban.intake.open311")

AcceptLanguage = Annotated[str | None, Header()]

# The form a POST takes, for the OpenAPI document (the route reads it by hand: see parse.py).
POST_FORM = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
        **{name: {"type": "string"} for name in (
            "api_key", "jurisdiction_id", "service_code", "lat", "long",
            "address_string", "address_id", "email", "device_id", "account_id",
            "first_name", "last_name", "phone", "description", "media_url")},
        NOTIFY_FIELD: {"type": "string", "enum": ["true", "false"], "description":
                       "Extension: the resident agreed to be told when the case moves "
                       "(by email and/or SMS, in their language); needs an email or a phone. "
                       "Absent or false: nobody is told."},
        CHANNELS_FIELD: {"type": "string", "example": "email,sms", "description":
                         "Extension, with zaiban_notify=true: how to tell them, "
                         "comma-separated `email`, `sms`; each needs its address (email, "
                         "phone). None named: every channel whose address is given."}},
        "required": ["api_key", "service_code"]}}}}}


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def routes(settings: IntakeSettings, live: LiveCity, *, submissions: Submissions,
           limit: Limit, quotas: KeyQuotas, tokens: TokenCheck) -> APIRouter:
    """`limit`: residents' submissions, by address, which also holds an api key issued
    without a quota; `quotas`: the keys issued with one (`--per-minute`)."""
    router = APIRouter(route_class=Open311Route, tags=["open311"])
    changeset = changeset_of(settings.config_dir)

    @router.get(BASE_PATH + "/discovery.{fmt}", summary="Open311 service discovery")
    async def discover(request: Request, fmt: str) -> Response:
        return answer(format_of(fmt), "discovery",
                      discovery(settings, live.current, base_url(request), changeset))

    @router.get(BASE_PATH + "/services.{fmt}", summary="Open311: the services (categories)")
    async def services(fmt: str, jurisdiction_id: str | None = None, lang: str | None = None,
                       accept_language: AcceptLanguage = None) -> Response:
        out = format_of(fmt)
        check_jurisdiction(settings.open311_jurisdiction, jurisdiction_id)
        language = pick_language(lang, accept_language)
        return answer(out, "services", [service_row(c, language)
                                          for c in live.current.categories])

    @router.get(BASE_PATH + "/services/{service_code}.{fmt}",
                summary="Open311: a service's definition (its attributes)")
    async def definition(service_code: str, fmt: str, jurisdiction_id: str | None = None,
                         lang: str | None = None,
                         accept_language: AcceptLanguage = None) -> Response:
        out = format_of(fmt)
        check_jurisdiction(settings.open311_jurisdiction, jurisdiction_id)
        language = pick_language(lang, accept_language)
        city = live.current
        category = city.category(service_code)
        if category is None:
            raise not_found(f"service_code {service_code!r} not found")
        return answer(out, "service_definition",
                      service_definition(category, city, language))

    @router.post(
        BASE_PATH + "/requests.{fmt}", status_code=201,
        summary="Open311: submit a request (form-encoded; needs an api_key)",
        responses={
            201: {"description": "Recorded: `service_request_id` (the case number), "
                                 "`service_notice`, `account_id` (null), and the extension "
                                 f"`{TRACKING_CODE_FIELD}`: the case's tracking code, the "
                                 "resident's key to its private view (`X-Tracking-Code`); "
                                 "give it to the resident only. A retry with the same "
                                 "Idempotency-Key answers 200 with the same case and code. "
                                 f"The extension parameters `{NOTIFY_FIELD}=true` and "
                                 f"`{CHANNELS_FIELD}=email,sms` record the resident's "
                                 "consent to be told when the case moves."},
            400: {"description": "A bad parameter, named in the spec's error body (e.g. "
                                 f"`{CHANNELS_FIELD}: 'fax' is not a channel`)."},
            429: {"description": "Over the api key's quota, or (a key without one) "
                                 "the address's limit; try again after Retry-After "
                                 "seconds."}},
        openapi_extra=POST_FORM,
    )
    async def create(request: Request, fmt: str, accept_language: AcceptLanguage = None,
                     key: IdempotencyKey = None, correlation: Correlation = None) -> Response:
        out = format_of(fmt)
        params = await request_params(request)
        check_jurisdiction(settings.open311_jurisdiction, single(params, "jurisdiction_id"))
        api_key = single(params, "api_key")
        client, refusal = None, "api_key was not provided; POST requests needs one"
        try:
            client = tokens.verify(api_key, kind="api_key") if api_key else None
        except BadToken as error:
            refusal = f"invalid api_key ({error}); cannot create the request"
        # Whose limit: a key's own quota if it was issued with one, else the address's
        # (which also holds whoever sends no key or a bad one, before the 403).
        if client is not None and client.per_minute is not None:
            wait = await quotas.admit(client)
            if wait > 0:
                raise too_many("submissions", wait,
                               f"with this api_key (its quota: {client.per_minute} a minute)")
        else:
            wait = await limit.admit(client_address(request, settings.trusted_proxy_hops))
            if wait > 0:
                raise too_many("submissions", wait)
        if client is None:
            raise forbidden(refusal)
        language = pick_language(single(params, "lang"), accept_language)
        command = read_submission(params, live.current, language=language, client=client.subject,
                                  default_district=settings.open311_default_district)
        try:
            receipt = await submissions.submit(
                command, key=f"open311/{client.subject}/{key}" if key else None,
                channel=Channel.OPEN311, correlation_id=correlation)
        except Invalid as invalid:
            raise bad_request(*(f"{open311_where(p['where'])}: {p['problem']}"
                                for p in invalid.problems)) from None
        case_id = receipt.case_id
        log.info("open311_request_recorded", case_id=case_id, client=client.subject,
                 replayed=receipt.replayed)
        row = receipt_row(case_id, receipt.tracking_code, base_url(request), language)
        return answer(out, "service_requests", [row],
                      status=200 if receipt.replayed else 201,
                      headers={"Location": f"{BASE_PATH}/requests/{case_id}.{out}"})

    return router
