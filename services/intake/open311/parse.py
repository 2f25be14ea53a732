"""How a GeoReport POST becomes a case: its parameters as the platform's `SubmitCase`.

`read_submission` reads them:

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
- `zaiban_notify=true` (an extension; GeoReport v2 has no consent) → the resident
  agreed to be told when the case moves (`services/notify/`), by the channels of
  `zaiban_channels` (an extension: `email`, `sms`, comma-separated or repeated;
  none named means every one whose address is given), each needing its address
  (`email`, `phone`). Absent or `false`, nobody is told. Channels without consent,
  consent without an address, and any other value are refused (400).
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

What the platform then refuses (the same checks as the JSON API's) names the
Open311 parameter it came from (`open311_where`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from pydantic import ValidationError

from contracts.case_commands import SubmitCase
from contracts.facts import Channel
from contracts.text import clean_line, clean_text
from services.common.catalogue import CityConfig, Language
from services.common.open311 import BASE_PATH
from services.common.open311.errors import bad_request, not_found
from services.common.open311.params import Params, comma_list, query_params, single

DISTRICT_ATTRIBUTE = "district"
NOTIFY_FIELD = "zaiban_notify"
"""The extension parameter by which the resident agrees to be told (`true` / `false`)."""
CHANNELS_FIELD = "zaiban_channels"
"""The extension parameter naming how they are told: `email`, `sms` (comma-separated)."""
CHANNELS = ("email", "sms")
MAX_DESCRIPTION = 4000
MAX_FIELDS = 200

NO_DESCRIPTION: dict[Language, str] = {
    "zh-Hans": "{service}（未填写描述）",
    "zh-Hant": "{service}（未填寫描述）",
    "en": "{service} (no description given)",
}

_ATTRIBUTE_KEY = re.compile(r"^attribute\[(?P<code>[^\[\]]*)\](?P<many>\[\])?$")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


async def request_params(request: Request) -> Params:
    """The query string and the form body together (a client may put api_key in either)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("", "application/x-www-form-urlencoded", "multipart/form-data"):
        raise bad_request(f"send the request as application/x-www-form-urlencoded, "
                          f"not {content_type}")
    params = query_params(request)
    if content_type:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
        for key, item in form.multi_items():
            if not isinstance(item, str):
                raise bad_request(f"{key}: files are not accepted; send a media_url")
            params.setdefault(key, []).append(item)
    return params


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


def read_consent(params: Mapping[str, list[str]], *, reachable: bool) -> dict[str, Any]:
    """The resident's consent to be told (the extension `zaiban_notify`, `zaiban_channels`), as
    the contact's `notify` and `channels`; empty without consent. `reachable`: an email or a
    phone was given."""
    agreed = single(params, NOTIFY_FIELD)
    channels = comma_list(params.get(CHANNELS_FIELD, []))
    if agreed is not None and agreed.lower() not in ("true", "false"):
        raise bad_request(f"{NOTIFY_FIELD}: {agreed[:40]!r} is neither true nor false")
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise bad_request(f"{CHANNELS_FIELD}: {unknown[0][:40]!r} is not a channel; "
                          f"one of: {', '.join(CHANNELS)}")
    if agreed is None or agreed.lower() == "false":
        if channels:
            raise bad_request(f"{CHANNELS_FIELD}: given without {NOTIFY_FIELD}=true; the "
                              "resident is told only if they agreed")
        return {}
    if not reachable:
        raise bad_request(f"{NOTIFY_FIELD}: the resident can be told only at an email or "
                          "a phone; give one")
    return {"notify": True, "channels": list(dict.fromkeys(channels))}


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
    consent = read_consent(params, reachable=bool(phone or email))

    body: dict[str, Any] = {
        "category": category.code,
        "description": description,
        "location": {"district": district, "address": address or "", "lat": lat, "lon": lon},
        "channel": Channel.OPEN311.value,
        "contact": {"name": name, "phone": phone, "email": email, **consent}
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
    ("contact",): CHANNELS_FIELD,  # a channel without its address
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
