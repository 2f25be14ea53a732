"""The catalogue as GeoReport documents: discovery, the service list, service
definitions, and the answer to a POST.

The answer to a POST carries, after the spec's three fields, one extension:
`zaiban_tracking_code`, the case's tracking code (`services/lifecycle/codes.py`),
which the client hands to the resident — as the web form shows it — to open the
case's private view (`X-Tracking-Code`), answer "fixed? satisfied?" or erase their
details. A retried POST (the same `Idempotency-Key`) answers the same code. No GET
answers it: tracking's requests never carry it.

A service is a category: its code, its name and description in the reader's
language, `realtime` (POST answers the case number at once), its priority
class as the `group`, and its names in all three languages as `keywords`. Its
definition is the category's questions in their order, and then one more
attribute every definition carries: `district` (Open311 has none; see
`parse.py` for how a request's district is found).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.common.catalogue import Attribute, Category, CityConfig, Language
from services.common.open311 import BASE_PATH, SPECIFICATION
from services.common.open311.formats import CONTENT_TYPES, w3c
from services.common.open311.params import EXAMPLE_DATE
from services.intake.open311.parse import DISTRICT_ATTRIBUTE

if TYPE_CHECKING:
    from services.common.settings import CommonSettings

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

NOTICE: dict[Language, str] = {
    "zh-Hans": "已登记为案件 {case_id}。信息员审核后转交承办单位办理，办理进展见 {page}",
    "zh-Hant": "已登記為案件 {case_id}。信息員審核後轉交承辦單位辦理，辦理進展見 {page}",
    "en": "Recorded as case {case_id}. An information officer reviews it, then it goes to the "
          "department responsible; follow it at {page}",
}


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


def discovery(settings: CommonSettings, city: CityConfig, base_url: str,
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


def notice(case_id: str, page: str, language: Language) -> str:
    return NOTICE[language].format(case_id=case_id, page=page)


TRACKING_CODE_FIELD = "zaiban_tracking_code"
"""The extension field of a POST's answer that carries the case's tracking code."""


def receipt_row(case_id: str, tracking_code: str, base_url: str,
                language: Language) -> dict[str, Any]:
    """What a POST answers: the case number, where to follow it, no account, and (an
    extension, `zaiban_tracking_code`) the tracking code the resident follows and answers
    the case with. Only the POST's answer carries it: the code is the resident's key to the
    private view, and no GET of requests ever shows it."""
    page = f"{base_url}/cases/{case_id}"
    return {"service_request_id": case_id, "service_notice": notice(case_id, page, language),
            "account_id": None, TRACKING_CODE_FIELD: tracking_code}
