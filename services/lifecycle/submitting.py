"""What happens when a resident submits a request: it is checked, and becomes a case.

A request arrives in one step (web, app, hotline, Open311, a frontend on the
bus); every way in ends here. The shape of a submission (`SubmitCase`) is
checked by pydantic wherever it arrives; this module checks what only the
city knows: the category and district exist, the point lies inside the city,
the category's required questions are answered with allowed values. Problems are reported with the
field they concern, in the same form as a shape error (`Invalid`), and
nothing is recorded. A valid submission becomes `CaseSubmitted` with the
category's priority class and the hash of the case's tracking code
(`codes.py`); the case then waits for triage (`triage.py`).

What in a submission is personal (`personal_part`) leaves it sealed
(`contracts/personal.py`): the contact; the address and point when the
category's address is private; the description as written when it names a
detail, of which the event keeps the masked text. The sealing itself (a key,
a cipher) is the caller's: the event takes the sealed value as given.
"""

from __future__ import annotations

from datetime import datetime

from contracts.case_commands import SubmitCase
from contracts.case_events import CaseSubmitted
from contracts.facts import Actor, Channel, Location
from contracts.personal import PersonalData, ResidentContact, Sealed
from services.common.catalogue import Attribute, CityConfig
from services.common.masking import mask
from services.lifecycle.errors import Invalid, Problem
from services.lifecycle.policy import due_in


def check_submission(command: SubmitCase, city: CityConfig) -> list[Problem]:
    problems: list[Problem] = []
    category = city.category(command.category)
    if category is None:
        known = ", ".join(c.code for c in city.categories)
        problems.append(Problem("body.category", f"unknown category {command.category!r}; one of: {known}"))
    if city.district(command.location.district) is None:
        known = ", ".join(d.code for d in city.districts)
        problems.append(Problem("body.location.district",
                                f"unknown district {command.location.district!r}; one of: {known}"))
    lat, lon = command.location.lat, command.location.lon
    if (lat is None) != (lon is None):
        problems.append(Problem("body.location", "give both lat and lon, or neither"))
    elif lat is not None and lon is not None and not city.city.bounds.contains(lat, lon):
        problems.append(Problem("body.location", f"the point ({lat}, {lon}) is outside {city.city.names.en}"))
    if not command.location.address and not command.location.street and lat is None:
        problems.append(Problem("body.location", "say where: an address, a street or landmark, or a point"))
    if category is not None:
        problems.extend(_check_attributes(command, category.attributes))
    return problems


def _check_attributes(command: SubmitCase, attributes: tuple[Attribute, ...]) -> list[Problem]:
    problems: list[Problem] = []
    known = {a.code: a for a in attributes}
    for code in command.attributes:
        if code not in known:
            problems.append(Problem(f"body.attributes.{code}", "not a question of this category"))
    for attribute in attributes:
        value = command.attributes.get(attribute.code)
        where = f"body.attributes.{attribute.code}"
        if value in (None, "", ()):
            if attribute.required:
                problems.append(Problem(where, "required for this category"))
            continue
        allowed = {v.key for v in attribute.values}
        if attribute.datatype == "singlevaluelist":
            if not isinstance(value, str) or value not in allowed:
                problems.append(Problem(where, f"one of: {', '.join(sorted(allowed))}"))
        elif attribute.datatype == "multivaluelist":
            values = (value,) if isinstance(value, str) else value
            if not set(values) <= allowed:
                problems.append(Problem(where, f"each one of: {', '.join(sorted(allowed))}"))
        elif attribute.datatype == "number":
            try:
                number = float(value) if isinstance(value, str) else None
            except ValueError:
                number = None
            if number is None or number != number or number in (float("inf"), float("-inf")):
                problems.append(Problem(where, "must be a number"))
        elif not isinstance(value, str):
            problems.append(Problem(where, "must be text"))
    return problems


def address_private(command: SubmitCase, city: CityConfig) -> bool:
    category = city.category(command.category)
    return category is None or not category.address_public


def personal_part(command: SubmitCase, city: CityConfig) -> PersonalData | None:
    """What in the submission identifies the resident; None when nothing does."""
    location = command.location
    private_place = address_private(command, city)
    masked = mask(command.description)
    personal = PersonalData(
        contact=command.contact if command.contact != ResidentContact() else None,
        address=location.address if private_place else "",
        lat=location.lat if private_place else None,
        lon=location.lon if private_place else None,
        description=command.description if masked != command.description else None,
    )
    return None if personal.empty else personal


def public_location(command: SubmitCase, city: CityConfig) -> Location:
    """The location the log keeps in clear: without address and point if they are private."""
    if not address_private(command, city):
        return command.location
    return command.location.model_copy(update={"address": "", "lat": None, "lon": None})


def submitted(
    command: SubmitCase,
    city: CityConfig,
    *,
    tracking_code_hash: str,
    personal: Sealed | None = None,
    channel: Channel | None = None,
    entered_by: Actor | None = None,
    at: datetime | None = None,
) -> CaseSubmitted:
    """The event recording a valid submission (check it first), its personal part sealed
    in `personal` (`personal_part`, sealed by the caller; without it, none is recorded),
    due for triage by the category's time limit from `at` (without it, no triage deadline)."""
    problems = check_submission(command, city)
    if problems:
        raise Invalid.of(problems)
    category = city.category(command.category)
    assert category is not None
    return CaseSubmitted(
        category=command.category,
        description=mask(command.description),
        location=public_location(command, city),
        channel=channel or command.channel,
        priority=category.priority,
        personal=personal,
        tracking_code_hash=tracking_code_hash,
        media=command.media,
        attributes=command.attributes,
        language=command.language,
        entered_by=entered_by,
        external_ref=command.external_ref,
        triage_due_at=(due_in(city, "triage", category.code, category.priority, at)
                       if at is not None else None),
    )
