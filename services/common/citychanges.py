"""What happens when an admin changes the city's configuration while it runs.

Pure: no broker, no store. An admin puts (adds or replaces) or removes one item — a
category with its attributes, a district, a department, a dispatch rule — against the
version of the configuration they saw (`ChangeCity`). `change` decides it:

- the configuration has moved on since that version: refused (`Stale`, 409, naming the
  current version), nothing changes — the admin reloads and decides again;
- the item is not what the configuration files allow, or the configuration after the
  change would not hold together (a rule naming an unknown department, a category removed
  while rules name it, two items with one code): refused (`Invalid`, 422), each problem
  naming its field;
- else `CityChanged`: who, when, what, the next version, and the whole configuration after.

`Applied` is what one instance knows of the configuration topic, folded in order: an event
whose version does not follow the last one applied (two admins raced; the later one lost)
changes nothing, so every instance, reading the same partition, ends on the same value.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from contracts.cityconfig import Change, ChangeCity, CityChanged, Kind
from services.common.catalogue import (
    LANGUAGES,
    Category,
    CityConfig,
    Department,
    DispatchRule,
    District,
)
from services.common.workdays import CalendarRules, TimeLimits
from services.lifecycle.errors import Invalid, NotNow, Problem

LISTS: dict[Kind, tuple[str, type[BaseModel]]] = {
    "category": ("categories", Category),
    "district": ("districts", District),
    "department": ("departments", Department),
    "rule": ("rules", DispatchRule),
}
"""Each kind of item: the list of the configuration it is in, and its model."""

CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
"""A code a new item may have (`contracts.text.Code`): it names topics and URLs too."""


class Stale(NotNow):
    """The change was made against a version that is no longer the current one."""

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"the configuration is at version {current}, not {expected}: "
                         f"reload it and make the change again")
        self.current = current


def code_of(kind: Kind, item: Any) -> str:
    """An item's code: its `code`, a dispatch rule's `category@district`."""
    return str(item.name if kind == "rule" else item.code)


def problems_of(error: ValidationError, prefix: str) -> list[Problem]:
    return [Problem(".".join([prefix, *(str(part) for part in e["loc"])]), e["msg"])
            for e in error.errors()]


def check(city: CityConfig) -> list[Problem]:
    """What is wrong with `city` as a whole: two items of one list with one code, and what
    `CityConfig.check` finds (rules naming what the city does not have)."""
    problems: list[Problem] = []
    for kind, (field, _) in LISTS.items():
        seen: set[str] = set()
        for item in getattr(city, field):
            code = code_of(kind, item)
            if code in seen:
                problems.append(Problem(f"{field}.{code}", f"two {field} with the code {code}"))
            seen.add(code)
    try:
        city.check()
    except ValueError as error:
        problems.append(Problem("rules", str(error)))
    return problems


def _put(items: list[Any], kind: Kind, code: str, item: Any) -> list[Any]:
    """Replace the item with `code` where it stands; a new one goes last — a new dispatch
    rule for one district goes before its category's city-wide rule, which it narrows
    (the first matching rule wins)."""
    for at, old in enumerate(items):
        if code_of(kind, old) == code:
            return [*items[:at], item, *items[at + 1:]]
    if kind == "rule" and item.district != "*":
        for at, old in enumerate(items):
            if old.category == item.category and old.district == "*":
                return [*items[:at], item, *items[at:]]
    return [*items, item]


def blank_names(data: Any, where: str) -> Iterator[Problem]:
    """A name or text in one of the three languages left empty: residents would see nothing."""
    if isinstance(data, dict):
        if set(LANGUAGES) <= set(data):
            for language in LANGUAGES:
                if not str(data[language] or "").strip():
                    yield Problem(f"{where}.{language}", "must not be empty")
            return
        for key, value in data.items():
            yield from blank_names(value, f"{where}.{key}")
    elif isinstance(data, list):
        for at, value in enumerate(data):
            yield from blank_names(value, f"{where}.{at}")


CALENDAR = "changes"
"""The code of the calendar's one item: the city's changes to the official calendar."""


def changed_part(city: CityConfig, kind: Kind, code: str, command: ChangeCity) -> CityConfig:
    """The configuration with a part that always exists replaced: a priority class's time
    limits (`limits`, the class its code) or the city's changes to the official calendar
    (`calendar`, code `changes`). Such a part is replaced, never removed. Cases keep the
    deadlines they were given (recorded when each clock started); the new part counts for
    those to come."""
    codes = tuple(type(city.deadlines).model_fields) if kind == "limits" else (CALENDAR,)
    if code not in codes:
        raise Invalid.of([Problem("code", f"there is no {kind} {code}: "
                                          f"{' or '.join(codes)}")])
    if command.item is None:
        raise Invalid.of([Problem("code", f"the {kind} {code} is changed, not removed")])
    model: type[BaseModel] = TimeLimits if kind == "limits" else CalendarRules
    try:
        part = model.model_validate(command.item)
    except ValidationError as error:
        raise Invalid.of(problems_of(error, "item")) from None
    update: dict[str, Any] = (
        {"deadlines": city.deadlines.model_copy(update={code: part})} if kind == "limits"
        else {"calendar": part})
    return CityConfig.model_validate(city.model_copy(update=update).model_dump(by_alias=True))


def changed(city: CityConfig, kind: Kind, code: str, command: ChangeCity) -> CityConfig:
    """The configuration after putting or removing (no `item`) the `kind` item `code`."""
    if kind in ("limits", "calendar"):
        return changed_part(city, kind, code, command)
    field, model = LISTS[kind]
    items = list(getattr(city, field))
    if command.item is None:
        if not any(code_of(kind, old) == code for old in items):
            raise Invalid.of([Problem("code", f"there is no {kind} {code}")])
        kept = [old for old in items if code_of(kind, old) != code]
        after = city.model_copy(update={field: tuple(kept)})
    else:
        try:
            item = model.model_validate(command.item)
        except ValidationError as error:
            raise Invalid.of(problems_of(error, "item")) from None
        blank = list(blank_names(command.item, "item"))
        if blank:
            raise Invalid.of(blank)
        if code_of(kind, item) != code:
            raise Invalid.of([Problem("item.code", f"{code_of(kind, item)} is not {code}, "
                                                   "the code this change is for")])
        if kind != "rule" and CODE.fullmatch(code) is None:
            raise Invalid.of([Problem("item.code", "lower-case letters, digits, - and _, "
                                                   "at most 63, starting with a letter or digit")])
        after = city.model_copy(update={field: tuple(_put(items, kind, code, item))})
    # Validated again as a whole: a copy with updated fields is not.
    after = CityConfig.model_validate(after.model_dump(by_alias=True))
    problems = check(after)
    if problems:
        raise Invalid.of(problems)
    return after


def change(city: CityConfig, version: int, kind: Kind, code: str, command: ChangeCity, *,
           by: str, now: datetime) -> CityChanged:
    """What `by` changing the `kind` item `code` of `city` (at `version`) records."""
    if command.expected_version != version:
        raise Stale(command.expected_version, version)
    after = changed(city, kind, code, command)
    return CityChanged(change_id=uuid.uuid4(), version=version + 1, by=by, at=now,
                       change=Change(kind=kind, code=code,
                                     action="remove" if command.item is None else "put",
                                     note=command.note),
                       city=after.model_dump(mode="json", by_alias=True))


@dataclass(frozen=True)
class Applied:
    """The configuration an instance runs with: its version and the event that made it (none
    for version 0, the initial configuration from `deploy/config/`)."""

    city: CityConfig
    version: int = 0
    event: CityChanged | None = None
    initial: CityConfig | None = None
    """Version 0: what a part of the configuration an older event does not carry is taken
    from (a field the configuration gained since that event was recorded)."""

    def then(self, event: CityChanged) -> Applied:
        """After `event`: the next version, or unchanged when it does not follow this one (a
        change that lost a race, or one read twice)."""
        if event.version != self.version + 1:
            return self
        initial = self.city if self.version == 0 else self.initial
        carried = {**(initial.model_dump(mode="json", by_alias=True) if initial else {}),
                   **event.city}
        return Applied(CityConfig.model_validate(carried), event.version, event, initial)
