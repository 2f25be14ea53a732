"""Open311 GeoReport v2, intake's half: discovery, the service list, service
definitions, and `POST requests` (tracking answers the reads of requests).

A service is a category of the catalogue (`deploy/config/catalogue.yaml`):
its code is the service_code, its questions are the attributes of its
definition. Every request is `realtime`: POST answers the case number as the
service_request_id once the `CaseSubmitted` event is durable in Kafka, so it
returns no token (the spec: one or the other).

How a GeoReport request becomes a case (`read_submission`):

- `service_code` → the category; an unknown one is a 404.
- Location: `lat`+`long` (both, inside the city's bounds), or
  `address_string`, or `address_id`. The address (an address_id too: there is
  no master address repository here, so the id is kept as the address text
  for the officers to resolve) becomes the case's *exact* address, shown in
  public only where the category's `address_public` allows; nothing is put in
  the public `street`, since an Open311 address cannot be told apart from a
  home address.
- District (Open311 has none): every service definition carries one more
  attribute, `district` (a singlevaluelist of the city's districts). Given, it
  wins; otherwise a point lies in the district whose center is nearest; an
  address alone takes the configured `ZAIBAN_OPEN311_DEFAULT_DISTRICT`, and
  without one the request is refused (400) asking for `attribute[district]`.
  Officers correct the district at triage anyway.
- `attribute[code]=v` and `attribute[code][]=v1&attribute[code][]=v2` become
  the case's answers, checked exactly like the JSON API's (known codes,
  required ones, singlevaluelist/multivaluelist values, numbers).
- `first_name`/`last_name` (family name first when written in Chinese),
  `phone`, `email` → the private contact; none given, the case is anonymous.
- `description` (at most 4,000 characters; the spec makes it optional, so
  without one the service's name stands in), `media_url` (http or https).
- `device_id` and `account_id` are checked and not kept: the platform keeps
  no identifiers of residents beyond their contact, and the resident's key to
  the case is its tracking code. `account_id` is therefore answered null.
- `api_key` is required: a signed key issued like staff tokens
  (`zaiban token issue --api-key --role officer --subject <client>`; the role
  is not used here). The client's name is kept as the case's `external_ref`
  (`open311:<subject>`). An `Idempotency-Key` header (an extension) makes a
  retried POST answer the same case.
- `jurisdiction_id` is optional; when `ZAIBAN_OPEN311_JURISDICTION` is set, a
  different one is a 404.
- `lang` (an extension; else Accept-Language; else zh-Hans) chooses the
  language of names and notices, and is the language the case is kept in.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures.

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import ValidationError

from contracts.case_commands import SubmitCase
from contracts.facts import Channel
from contracts.text import clean_line, clean_text
from services.common.auth import BadToken, verify_token
from services.common.catalogue import Attribute, Category, CityConfig, Language
from services.common.limits import per_client
from services.common.logging import get_logger
from services.common.open311 import (
    BASE_PATH,
    CONTENT_TYPES,
    EXAMPLE_DATE,
    SPECIFICATION,
    Open311Route,
    answer,
    bad_request,
    check_jurisdiction,
    forbidden,
    format_of,
    not_found,
    pick_language,
    single,
    w3c,
)
from services.intake.submission import Invalid

if TYPE_CHECKING:
    from services.common.settings import CommonSettings
    from services.intake.service import IntakeService

log = get_logger("zaiban.intake.open311")

DISTRICT_ATTRIBUTE = "district"
MAX_DESCRIPTION = 4000
MAX_FIELDS = 200

DATATYPE_NOTES: dict[str, str] = {
    "number": "a number, e.g. 18.5",
    "datetime": f"a W3C date-time with a time zone, e.g. {EXAMPLE_DATE}",
    "multivaluelist": "one or more keys, each sent as attribute[code][]",
}

DISTRICT_DESCRIPTION: dict[Language, str] = {
    "zh-Hans": "所在区（给出经纬度时可不填，按最近的区确定）",
    "zh-Hant": "所在區（給出經緯度時可不填，按最近的區確定）",
    "en": "District (may be left out when lat/long is given: the nearest district is used)",
}

NO_DESCRIPTION: dict[Language, str] = {
    "zh-Hans": "{service}（未填写描述）",
    "zh-Hant": "{service}（未填寫描述）",
    "en": "{service} (no description given)",
}

NOTICE: dict[Language, str] = {
    "zh-Hans": "已登记为案件 {case_id}。信息员审核后转交承办单位办理，办理进展见 {page}",
    "zh-Hant": "已登記為案件 {case_id}。信息員審核後轉交承辦單位辦理，辦理進展見 {page}",
    "en": "Recorded as case {case_id}. An information officer reviews it, then it goes to the "
          "department responsible; follow it at {page}",
}

_ATTRIBUTE_KEY = re.compile(r"^attribute\[(?P<code>[^\[\]]*)\](?P<many>\[\])?$")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


# --- the catalogue as Open311 services ---------------------------------------------------


def service_row(category: Category, language: Language) -> dict[str, Any]:
    names = category.names
    keywords = list(dict.fromkeys([names.zh_hans, names.zh_hant, names.en]))
    return {
        "service_code": category.code,
        "service_name": names.in_(language),
        "description": category.description.in_(language),
        "metadata": True,  # every service has at least the district attribute
        "type": "realtime",
        "keywords": ", ".join(keywords),
        "group": category.priority.value,
    }


def attribute_row(attribute: Attribute, language: Language) -> dict[str, Any]:
    return {
        "variable": True,
        "code": attribute.code,
        "datatype": attribute.datatype,
        "required": attribute.required,
        "datatype_description": DATATYPE_NOTES.get(attribute.datatype),
        "order": attribute.order,
        "description": attribute.description.in_(language),
        "values": [{"key": v.key, "name": v.name.in_(language)} for v in attribute.values],
    }


def district_row(city: CityConfig, language: Language, order: int) -> dict[str, Any]:
    return {
        "variable": True,
        "code": DISTRICT_ATTRIBUTE,
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": None,
        "order": order,
        "description": DISTRICT_DESCRIPTION[language],
        "values": [{"key": d.code, "name": d.names.in_(language)} for d in city.districts],
    }


def service_definition(category: Category, city: CityConfig,
                       language: Language) -> dict[str, Any]:
    questions = sorted(category.attributes, key=lambda a: a.order)
    last = max((a.order for a in questions), default=0)
    return {
        "service_code": category.code,
        "attributes": [attribute_row(a, language) for a in questions]
        + [district_row(city, language, last + 1)],
    }


def changeset_of(config_dir: Path) -> str:
    """When the service list or definitions last changed: the catalogue files' time."""
    times = [(config_dir / name).stat().st_mtime for name in ("catalogue.yaml", "districts.yaml")
             if (config_dir / name).exists()]
    moment = datetime.fromtimestamp(max(times, default=0), UTC)
    return w3c(moment, UTC) or ""


def discovery(settings: "CommonSettings", city: CityConfig, base_url: str,
              changeset: str) -> dict[str, Any]:
    contact = settings.open311_contact or (
        f"zaiban for {city.city.names.en} ({city.city.names.zh_hans}): "
        "contact the operators of this deployment")
    return {
        "changeset": changeset,
        "contact": contact,
        "key_service": "API keys are issued by this deployment's operators "
                       "(zaiban token issue --api-key --role officer --subject <client>)",
        "endpoints": [{
            "specification": SPECIFICATION,
            "url": base_url + BASE_PATH,
            "changeset": changeset,
            "type": "production" if settings.environment == "production" else "test",
            "formats": [content_type.split(";")[0] for content_type in CONTENT_TYPES.values()],
        }],
    }


# --- a GeoReport request as a submission ---------------------------------------------------


def nearest_district(city: CityConfig, lat: float, lon: float) -> str:
    """The district whose center is nearest to the point (a flat-earth distance is plenty)."""
    scale = math.cos(math.radians(lat))
    return min(city.districts, key=lambda d: (d.center[0] - lat) ** 2
               + ((d.center[1] - lon) * scale) ** 2).code


def _coordinate(name: str, text: str, limit: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise bad_request(f"{name}: {text!r} is not a number") from None
    if not math.isfinite(value) or not -limit <= value <= limit:
        raise bad_request(f"{name}: {text!r} is not a WGS84 coordinate (-{limit:g} to {limit:g})")
    return value


def read_attributes(params: Mapping[str, list[str]]) -> dict[str, str | tuple[str, ...]]:
    """`attribute[code]=v` (one value) and `attribute[code][]=v` (a list), empties dropped."""
    answers: dict[str, str | tuple[str, ...]] = {}
    forms: dict[str, str] = {}
    for key, values in params.items():
        match = _ATTRIBUTE_KEY.match(key)
        if match is None:
            if key.startswith("attribute"):
                raise bad_request(f"{key}: write attributes as attribute[code] or "
                                  "attribute[code][]")
            continue
        code, many = match["code"].strip(), bool(match["many"])
        if not code:
            raise bad_request(f"{key}: the attribute's code is missing")
        if code in forms and forms[code] != key:
            raise bad_request(f"attribute[{code}]: sent both as one value and as a list")
        forms[code] = key
        given = [v.strip() for v in values if v.strip()]
        if many:
            if given:
                answers[code] = tuple(given)
        elif len(given) > 1:
            raise bad_request(f"attribute[{code}]: given {len(given)} times; send several "
                              f"values as attribute[{code}][]")
        elif given:
            answers[code] = given[0]
    return answers


def full_name(first: str | None, last: str | None) -> str:
    """A Chinese name is written family name first and without a space."""
    first, last = first or "", last or ""
    if _CJK.search(first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()


def _plain_line(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        value = clean_line(value)
    except ValueError as error:
        raise bad_request(f"{name}: {error}") from None
    if len(value) > 200:
        raise bad_request(f"{name}: at most 200 characters")
    return value


def _media(url: str | None) -> list[dict[str, str]]:
    if url is None:
        return []
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
        raise bad_request(f"media_url: {url[:100]!r} is not an http(s) URL of at most "
                          "2,000 characters")
    return [{"url": url}]


def refuse_control_characters(params: Mapping[str, list[str]]) -> None:
    """No parameter may carry control characters (line breaks and tabs aside): the store
    refuses NUL outright, and none of them means anything in a request."""
    for key, values in params.items():
        try:
            clean_text(key)
        except ValueError as error:
            raise bad_request(f"a parameter's name {error}") from None
        for value in values:
            try:
                clean_text(value)
            except ValueError as error:
                raise bad_request(f"{key}: {error}") from None


def read_submission(params: Mapping[str, list[str]], city: CityConfig, *,
                    default_district: str | None, language: Language,
                    client: str) -> SubmitCase:
    """The case a GeoReport POST asks for; anything it cannot be is an Open311 error."""
    refuse_control_characters(params)
    code = single(params, "service_code")
    if code is None:
        raise bad_request("service_code was not provided")
    category = city.category(code)
    if category is None:
        raise not_found(f"service_code {code!r} not found; GET {BASE_PATH}/services.xml "
                        "lists them")

    lat_text, lon_text = single(params, "lat"), single(params, "long")
    if (lat_text is None) != (lon_text is None):
        raise bad_request("lat and long: send both, or neither")
    lat = _coordinate("lat", lat_text, 90) if lat_text is not None else None
    lon = _coordinate("long", lon_text, 180) if lon_text is not None else None
    address = single(params, "address_string") or single(params, "address_id")
    if lat is None and address is None:
        raise bad_request("a location is required: lat and long, or address_string, "
                          "or address_id")

    attributes = read_attributes(params)
    district = attributes.pop(DISTRICT_ATTRIBUTE, None)
    known = ", ".join(d.code for d in city.districts)
    if district is not None:
        if not isinstance(district, str) or city.district(district) is None:
            raise bad_request(f"attribute[{DISTRICT_ATTRIBUTE}]: unknown district "
                              f"{district!r}; one of: {known}")
    elif lat is not None and lon is not None:
        district = nearest_district(city, lat, lon)
    elif default_district:
        district = default_district
    else:
        raise bad_request(f"attribute[{DISTRICT_ATTRIBUTE}]: needed when no lat/long is "
                          f"given; one of: {known}")

    description = single(params, "description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise bad_request(f"description: at most {MAX_DESCRIPTION:,} characters; this one "
                          f"has {len(description):,}")
    if description is None:
        description = NO_DESCRIPTION[language].format(service=category.names.in_(language))

    name = full_name(_plain_line("first_name", single(params, "first_name")),
                     _plain_line("last_name", single(params, "last_name")))
    phone, email = single(params, "phone") or "", single(params, "email") or ""
    for private in ("device_id", "account_id"):
        _plain_line(private, single(params, private))

    body: dict[str, Any] = {
        "category": category.code,
        "description": description,
        "location": {"district": district, "address": address or "", "lat": lat, "lon": lon},
        "channel": Channel.OPEN311.value,
        "contact": {"name": name, "phone": phone, "email": email}
        if (name or phone or email) else None,
        "media": _media(single(params, "media_url")),
        "attributes": attributes,
        "language": language,
        "external_ref": f"open311:{client}"[:200],
    }
    try:
        return SubmitCase.model_validate(body)
    except ValidationError as error:
        raise bad_request(*(_problem(item) for item in error.errors())) from None


_PARAMETERS: dict[tuple[str, ...], str] = {
    ("description",): "description",
    ("location", "address"): "address_string",
    ("location", "lat"): "lat",
    ("location", "lon"): "long",
    ("contact", "name"): "first_name/last_name",
    ("contact", "phone"): "phone",
    ("contact", "email"): "email",
    ("media",): "media_url",
    ("external_ref",): "api_key",
}
_MESSAGES: dict[str, str] = {
    "phone": "digits, spaces and + - ( ) only, at most 32",
    "email": "not an email address",
}


def _problem(item: Mapping[str, Any]) -> str:
    """A pydantic problem, named by the Open311 parameter it came from."""
    loc = tuple(str(part) for part in item.get("loc", ()))
    if loc[:1] == ("attributes",) and len(loc) > 1:
        parameter = f"attribute[{loc[1]}]"
    else:
        parameter = next((name for prefix, name in _PARAMETERS.items()
                          if loc[:len(prefix)] == prefix), ".".join(loc) or "request")
    message = _MESSAGES.get(parameter) or str(item.get("msg", "invalid")).removeprefix(
        "Value error, ")
    return f"{parameter}: {message}"


def open311_where(where: str) -> str:
    """A problem's place as the JSON API names it (`body.location`), as Open311 names it."""
    if where.startswith("body.attributes."):
        return f"attribute[{where.removeprefix('body.attributes.')}]"
    return {
        "body.category": "service_code",
        "body.location.district": f"attribute[{DISTRICT_ATTRIBUTE}]",
        "body.location": "lat/long",
        "body.description": "description",
    }.get(where, where.removeprefix("body."))


def notice(case_id: str, page: str, language: Language) -> str:
    return NOTICE[language].format(case_id=case_id, page=page)


# --- routes ------------------------------------------------------------------------------

AcceptLanguage = Annotated[str | None, Header()]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
Correlation = Annotated[str | None, Header(alias="X-Correlation-Id", max_length=200)]


async def request_params(request: Request) -> dict[str, list[str]]:
    """The query string and the form body together (a client may put api_key in either)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("", "application/x-www-form-urlencoded", "multipart/form-data"):
        raise bad_request(f"send the request as application/x-www-form-urlencoded, "
                          f"not {content_type}")
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    if content_type:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
        for key, item in form.multi_items():
            if not isinstance(item, str):
                raise bad_request(f"{key}: files are not accepted; send a media_url")
            params.setdefault(key, []).append(item)
    return params


def routes(service: "IntakeService") -> APIRouter:
    router = APIRouter(route_class=Open311Route, tags=["open311"])
    settings, city = service.settings, service.city
    changeset = changeset_of(settings.config_dir)

    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @router.get(BASE_PATH + "/discovery.{fmt}", summary="Open311 service discovery")
    async def discover(request: Request, fmt: str) -> Response:
        return answer(format_of(fmt), "discovery",
                      discovery(settings, city, base_url(request), changeset))

    @router.get(BASE_PATH + "/services.{fmt}", summary="Open311: the services (categories)")
    async def services(fmt: str, jurisdiction_id: str | None = None, lang: str | None = None,
                       accept_language: AcceptLanguage = None) -> Response:
        out = format_of(fmt)
        check_jurisdiction(settings.open311_jurisdiction, jurisdiction_id)
        language = pick_language(lang, accept_language)
        return answer(out, "services", [service_row(c, language) for c in city.categories])

    @router.get(BASE_PATH + "/services/{service_code}.{fmt}",
                summary="Open311: a service's definition (its attributes)")
    async def definition(service_code: str, fmt: str, jurisdiction_id: str | None = None,
                         lang: str | None = None,
                         accept_language: AcceptLanguage = None) -> Response:
        out = format_of(fmt)
        check_jurisdiction(settings.open311_jurisdiction, jurisdiction_id)
        language = pick_language(lang, accept_language)
        category = city.category(service_code)
        if category is None:
            raise not_found(f"service_code {service_code!r} not found")
        return answer(out, "service_definition",
                      service_definition(category, city, language))

    @router.post(
        BASE_PATH + "/requests.{fmt}", status_code=201,
        summary="Open311: submit a request (form-encoded; needs an api_key)",
        dependencies=[Depends(per_client(service.submissions, "submissions",
                                         trusted_proxy_hops=settings.trusted_proxy_hops))],
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
                name: {"type": "string"} for name in (
                    "api_key", "jurisdiction_id", "service_code", "lat", "long",
                    "address_string", "address_id", "email", "device_id", "account_id",
                    "first_name", "last_name", "phone", "description", "media_url")},
                "required": ["api_key", "service_code"]}}}}},
    )
    async def create(request: Request, fmt: str, accept_language: AcceptLanguage = None,
                     key: IdempotencyKey = None, correlation: Correlation = None) -> Response:
        out = format_of(fmt)
        params = await request_params(request)
        check_jurisdiction(settings.open311_jurisdiction, single(params, "jurisdiction_id"))
        api_key = single(params, "api_key")
        if api_key is None:
            raise forbidden("api_key was not provided; POST requests needs one")
        try:
            client = verify_token(settings.secret(), api_key, kind="api_key")
        except BadToken as error:
            raise forbidden(f"invalid api_key ({error}); cannot create the request") from None
        language = pick_language(single(params, "lang"), accept_language)
        command = read_submission(params, city, language=language, client=client.subject,
                                  default_district=settings.open311_default_district)
        try:
            receipt = await service.submit(
                command, key=f"open311/{client.subject}/{key}" if key else None,
                channel=Channel.OPEN311, correlation_id=correlation)
        except Invalid as invalid:
            raise bad_request(*(f"{open311_where(p['where'])}: {p['problem']}"
                                for p in invalid.problems)) from None
        case_id = receipt.case_id
        log.info("open311_request_recorded", case_id=case_id, client=client.subject,
                 replayed=receipt.replayed)
        row = {"service_request_id": case_id,
               "service_notice": notice(case_id, f"{base_url(request)}/cases/{case_id}",
                                        language),
               "account_id": None}
        return answer(out, "service_requests", [row], status=200 if receipt.replayed else 201,
                      headers={"Location": f"{BASE_PATH}/requests/{case_id}.{out}"})

    return router
