"""A case view as each reader may see it, in the reader's language. Pure.

- `public_view`: anyone; no personal data. The exact address and the point on
  the map only where the case's category has `address_public` in the
  catalogue, otherwise the street (or landmark) and the district.
- `resident_view`: the resident who holds the tracking code; adds their
  contact details, the exact address, and the entries' private fields.
- `staff_view`: staff; adds the internal entries. The contact details only for
  staff who may see them (`readers.sees_contact`).
- `summary`: one line of a list.

Free texts (the description, string attributes, and the notes, resolutions,
reasons and comments of the timeline) reach the public masked: phone numbers,
ID card numbers, emails and licence plates in them show as `138****5678`
(`services/common/masking.py`). The resident and staff read them as written.
Masking is done here, when a view is read, so every case in the read model,
whenever and however it was projected, is shown masked.

The public location is worked out here, when the view is read, from the case's
current category: an officer's correction of the category, or a city changing
its catalogue, takes effect at once, without a replay.

Dates are shown as recorded (ISO 8601 with offset) plus the local `date` in
the city's time zone, the one people use when they talk about the case.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from contracts.facts import Location, Role
from contracts.personal import PersonalData
from services.common.catalogue import CityConfig, Language, Names
from services.common.masking import mask
from services.lifecycle.publicstep import FREE_TEXT, JsonValue, Who
from services.tracking.messages import message
from services.tracking.timeline import CaseView, Entry

_ZONES: dict[str, ZoneInfo] = {}


def _zone(city: CityConfig) -> ZoneInfo:
    name = city.city.timezone
    if name not in _ZONES:
        _ZONES[name] = ZoneInfo(name)
    return _ZONES[name]


def _name(names: Names | None, code: str | None, language: Language) -> str:
    if names is not None:
        return names.in_(language)
    return code or ""


def category_name(city: CityConfig, code: str | None, language: Language) -> str:
    category = city.category(code) if code else None
    return _name(category.names if category else None, code, language)


def district_name(city: CityConfig, code: str | None, language: Language) -> str:
    district = city.district(code) if code else None
    return _name(district.names if district else None, code, language)


def department_name(city: CityConfig, code: str | None, language: Language) -> str:
    department = city.department(code) if code else None
    return _name(department.names if department else None, code, language)


def actor_name(who: Who, city: CityConfig, language: Language) -> str:
    """A department by its name; anyone else by their role ("a reporter", "信息员")."""
    if who.department:
        return department_name(city, who.department, language)
    return message(language, f"role.{who.role.value}")


def masked(values: Mapping[str, Any], names: Collection[str] | None = None) -> dict[str, Any]:
    """`values` with their texts masked: those under `names`, or every one."""
    return {name: mask(value) if isinstance(value, str) and (names is None or name in names)
            else value for name, value in values.items()}


def masked_entry(entry: Entry) -> Entry:
    """The entry as the public may read it: its free texts masked."""
    return entry.model_copy(update={"what": masked(entry.what, FREE_TEXT), "private": {}})


def _text(value: JsonValue) -> str:
    return "" if value is None else str(value)


def render(entry: Entry, language: Language, city: CityConfig) -> str:
    """One sentence saying what happened, e.g. "已转交 交通信号设施公司 处理"."""
    what = entry.what
    key = f"entry.{entry.type}"
    fields: dict[str, str] = {
        "actor": actor_name(entry.who, city, language),
        **{name: _text(value) for name, value in what.items()},
    }
    match entry.type:
        case "CaseSubmitted":
            if entry.who.role is not Role.RESIDENT:
                key += ".entered"
            fields["channel"] = message(language, f"channel.{what.get('channel')}")
        case "CaseAccepted":
            if what.get("corrected"):
                key += ".corrected"
        case "CaseRouted":
            if what.get("reason") in ("returned", "reopened"):
                key += f".{what['reason']}"
        case "CaseEscalated":
            fields["reason"] = message(language, f"escalation.{what.get('reason')}")
        case "CaseOverdue":
            if what.get("clock") in ("triage", "response"):
                key += f".{what['clock']}"
        case "FeedbackGiven":
            if not what.get("fixed"):
                key += ".not_fixed"
            else:
                key += ".satisfied" if what.get("satisfied") else ".unsatisfied"
        case "CaseReopened":
            if what.get("after_dispute"):
                key += ".disputed"
            elif not what.get("department"):
                key += ".nobody"
        case "ResidentAskedAgain":
            closes = what.get("closes_at")
            fields["closes"] = local_date(datetime.fromisoformat(closes), city) \
                if isinstance(closes, str) else ""
        case "DisputeSettled":
            key += f".{what.get('outcome')}"
        case "CaseClosed" | "PersonalDataErased":
            key += f".{what.get('reason')}"
        case "HandlerAssigned":
            if what.get("handed_on"):
                key += ".handed_on"
    for field, lookup in (("category", category_name), ("district", district_name),
                          ("department", department_name)):
        if isinstance(what.get(field), str):
            fields[field] = lookup(city, str(what[field]), language)
    template = message(language, key)
    if template == key:
        template = message(language, "entry.unknown")
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError):
        return message(language, "entry.unknown")


def local_date(moment: datetime, city: CityConfig) -> str:
    return moment.astimezone(_zone(city)).date().isoformat()


def present_entry(entry: Entry, language: Language, city: CityConfig, *,
                  private: bool = False) -> dict[str, Any]:
    """An entry as JSON for a reader; `private` adds the resident's own fields and shows
    the free texts as written (else masked)."""
    what = {**entry.what, **entry.private} if private else masked(entry.what, FREE_TEXT)
    shown = entry.model_copy(update={"what": what})
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "date": local_date(entry.at, city),
        "type": entry.type,
        "status": entry.status.value,
        "who": {
            "role": entry.who.role.value,
            "department": entry.who.department,
            "name": actor_name(entry.who, city, language),
        },
        "what": what,
        "public": entry.public,
        "text": render(shown, language, city),
    }


def public_location(location: Location | None, category: str, city: CityConfig,
                    language: Language) -> dict[str, Any]:
    """Where the case is, as the public may see it."""
    if location is None:
        return {}
    shown: dict[str, Any] = {
        "district": location.district,
        "district_name": district_name(city, location.district, language),
        "street": location.street,
    }
    entry = city.category(category)
    if entry is not None and entry.address_public:
        shown.update(address=location.address, lat=location.lat, lon=location.lon)
    return shown


def full_location(location: Location | None, city: CityConfig,
                  language: Language) -> dict[str, Any]:
    if location is None:
        return {}
    return {
        **location.model_dump(mode="json"),
        "district_name": district_name(city, location.district, language),
    }


def _named(code: str | None, name: str) -> dict[str, str] | None:
    return {"code": code, "name": name} if code else None


def _head(view: CaseView, language: Language, city: CityConfig) -> dict[str, Any]:
    facts = view.facts
    return {
        "case_id": view.case_id,
        "seq": view.seq,
        "status": facts.status.value,
        "status_name": message(language, f"status.{facts.status.value}"),
        "category": _named(facts.category, category_name(city, facts.category, language)),
        "district": _named(facts.district, district_name(city, facts.district, language)),
        "department": _named(facts.department,
                             department_name(city, facts.department, language)),
        "channel": facts.channel.value,
        "priority": facts.priority.value,
        "merged_into": facts.merged_into,
        "submitted_at": facts.submitted_at.isoformat(),
        "updated_at": view.updated_at.isoformat() if view.updated_at else None,
        "language": language,
    }


def _assisting(view: CaseView, language: Language, city: CityConfig) -> list[dict[str, str]]:
    return [{"code": code, "name": department_name(city, code, language)}
            for code in view.assisting]


def public_view(view: CaseView, language: Language, city: CityConfig) -> dict[str, Any]:
    """What anyone may read of a case: no name, phone, email or private address."""
    feedback = view.feedback
    return {
        **_head(view, language, city),
        "facts": view.facts.model_dump(mode="json"),
        "location": public_location(view.location, view.facts.category, city, language),
        "description": mask(view.description),
        "media": [m.model_dump(mode="json") for m in view.media],
        "attributes": masked(view.attributes),
        "stories": [s.model_dump(mode="json") for s in view.stories],
        "reporter_following": view.reporter_following,
        "feedback": feedback.model_dump(mode="json", exclude={"comment"}) if feedback else None,
        "disputed": view.disputed,
        "timeline": [present_entry(e, language, city) for e in view.timeline if e.public],
    }


def private_location(view: CaseView, personal: PersonalData | None) -> Location | None:
    """The case's location with the private address and point the resident gave."""
    if view.location is None or personal is None or not (personal.address or personal.lat):
        return view.location
    return view.location.model_copy(
        update={"address": personal.address, "lat": personal.lat, "lon": personal.lon})


def resident_view(view: CaseView, language: Language, city: CityConfig,
                  personal: PersonalData | None = None) -> dict[str, Any]:
    """What the resident with the tracking code reads: their own details too (`personal`,
    the case's sealed personal data opened for them)."""
    shown = public_view(view, language, city)
    contact = personal.contact if personal else None
    shown.update(
        description=personal.description if personal and personal.description
        else view.description,
        attributes=view.attributes,
        location=full_location(private_location(view, personal), city, language),
        contact=contact.details() if contact else None,  # not the consent: notify's business
        personal_data_erased=view.erased,
        feedback=view.feedback.model_dump(mode="json") if view.feedback else None,
        submitted_language=view.language,
        timeline=[present_entry(e, language, city, private=True)
                  for e in view.timeline if e.public],
    )
    return shown


def staff_view(view: CaseView, language: Language, city: CityConfig, *,
               personal: PersonalData | None = None, withheld: bool = False) -> dict[str, Any]:
    """Everything staff may read, internal notes included (never the tracking-code hash);
    the resident's personal data (`personal`, opened for this reader) unless `withheld`
    (`contact_withheld` says so, so that a case without it does not read as anonymous)."""
    shown = resident_view(view, language, city, None if withheld else personal)
    shown["contact_withheld"] = withheld
    shown["assisting"] = _assisting(view, language, city)
    shown["timeline"] = [present_entry(e, language, city, private=True) for e in view.timeline]
    shown["handler"] = view.handler  # staff personal data: staff views only
    return shown


def summary(view: CaseView, language: Language, city: CityConfig, *,
            staff: bool = False) -> dict[str, Any]:
    """A case as one row of a list."""
    row = _head(view, language, city)
    public_entries = [e for e in view.timeline if staff or e.public]
    last = public_entries[-1] if public_entries else None
    row.update(
        description=(view.description if staff else mask(view.description))[:200],
        location=(full_location(view.location, city, language) if staff else
                  public_location(view.location, view.facts.category, city, language)),
        last_entry=present_entry(last, language, city, private=staff) if last else None,
    )
    if staff:
        facts = view.facts
        row.update(
            assisting=_assisting(view, language, city),
            due_at=facts.due_at.isoformat() if facts.due_at else None,
            overdue=facts.overdue,
            escalated=facts.escalated,
            disputed=view.disputed,
            reopened=facts.reopened,
            triage_due_at=facts.triage_due_at.isoformat() if facts.triage_due_at else None,
            response_due_at=(facts.response_due_at.isoformat() if facts.response_due_at
                             else None),
            responded=facts.responded_at is not None,
            triage_overdue=facts.triage_overdue,
            response_overdue=facts.response_overdue,
            handler=view.handler,  # staff personal data: staff lists only
        )
    return row
