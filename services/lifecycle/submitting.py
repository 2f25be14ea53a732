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
"""

from __future__ import annotations

from contracts.case_commands import SubmitCase
from contracts.case_events import CaseSubmitted
from contracts.facts import Actor, Channel
from services.common.catalogue import Attribute, CityConfig
from services.lifecycle.errors import Invalid, Problem


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


def submitted(
    command: SubmitCase,
    city: CityConfig,
    *,
    tracking_code_hash: str,
    channel: Channel | None = None,
    entered_by: Actor | None = None,
) -> CaseSubmitted:
    """The event recording a valid submission (check it first)."""
    problems = check_submission(command, city)
    if problems:
        raise Invalid.of(problems)
    category = city.category(command.category)
    assert category is not None
    return CaseSubmitted(
        category=command.category,
        description=command.description,
        location=command.location,
        channel=channel or command.channel,
        priority=category.priority,
        contact=command.contact,
        tracking_code_hash=tracking_code_hash,
        media=command.media,
        attributes=command.attributes,
        language=command.language,
        entered_by=entered_by,
        external_ref=command.external_ref,
    )
