"""The city's configuration, read from YAML: categories, districts, departments, dispatch,
time limits (`deadlines.yaml`) and changes to the official calendar (`calendar.yaml`).

These are configuration files (`deploy/config/` by default, `ZAIBAN_CONFIG_DIR`
to point elsewhere), not code: a city edits them without a release.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.facts import Priority
from services.common.workdays import (
    CalendarRules,
    Clock,
    Deadlines,
    TimeLimits,
    TimeLimitsOverride,
    WorkCalendar,
)

Language = Literal["zh-Hans", "zh-Hant", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-Hans", "zh-Hant", "en")


class Names(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    zh_hans: str = Field(alias="zh-Hans")
    zh_hant: str = Field(alias="zh-Hant")
    en: str

    def in_(self, language: str) -> str:
        return {"zh-Hans": self.zh_hans, "zh-Hant": self.zh_hant}.get(language, self.en)


class AttributeValue(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    name: Names


class Attribute(BaseModel):
    """A question a category asks (an Open311 service attribute)."""

    model_config = ConfigDict(frozen=True)

    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool = False
    order: int = 1
    description: Names
    values: tuple[AttributeValue, ...] = ()


class Category(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    icon: str = ""
    priority: Priority
    address_public: bool
    names: Names
    description: Names
    attributes: tuple[Attribute, ...] = ()
    deadlines: TimeLimitsOverride | None = None
    """The category's own time limits, replacing its priority class's where given (for
    cases in that class: a case an officer moved to another class takes that class's)."""


class Bounds(BaseModel):
    model_config = ConfigDict(frozen=True)

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon


class District(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    names: Names
    center: tuple[float, float]


class City(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    names: Names
    bounds: Bounds
    timezone: str


class Department(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    names: Names
    contact: str = ""


class DispatchRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    category: str
    district: str = "*"
    lead: str
    assisting: tuple[str, ...] = ()

    def matches(self, category: str, district: str) -> bool:
        return self.category == category and self.district in ("*", district)

    @property
    def name(self) -> str:
        return f"{self.category}@{self.district}"


class CityConfig(BaseModel):
    """Everything a city configures, checked for consistency when loaded."""

    model_config = ConfigDict(frozen=True)

    city: City
    categories: tuple[Category, ...]
    districts: tuple[District, ...]
    departments: tuple[Department, ...]
    rules: tuple[DispatchRule, ...]
    deadlines: Deadlines = Deadlines()
    calendar: CalendarRules = CalendarRules()

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    def district(self, code: str) -> District | None:
        return next((d for d in self.districts if d.code == code), None)

    def department(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def rule_for(self, category: str, district: str) -> DispatchRule | None:
        return next((r for r in self.rules if r.matches(category, district)), None)

    def limits(self, category: str, priority: Priority) -> TimeLimits:
        """The time limits of a case of `category` in `priority` class."""
        limits = self.deadlines.of(priority.value)
        own = self.category(category)
        if own is not None and own.deadlines is not None and own.priority is priority:
            return own.deadlines.over(limits)
        return limits

    def due(self, clock: Clock, category: str, priority: Priority, start: datetime) -> datetime:
        """When `clock` of a case of `category` in `priority` class, started at `start`,
        runs out: counted in the city's timezone, working days by its calendar."""
        limit = self.limits(category, priority).of(clock)
        return work_calendar(self.calendar).due(start, limit, ZoneInfo(self.city.timezone))

    def check(self) -> CityConfig:
        categories = {c.code for c in self.categories}
        departments = {d.code for d in self.departments}
        districts = {d.code for d in self.districts}
        for rule in self.rules:
            if rule.category not in categories:
                raise ValueError(f"dispatch rule {rule.name}: unknown category {rule.category}")
            if rule.district != "*" and rule.district not in districts:
                raise ValueError(f"dispatch rule {rule.name}: unknown district {rule.district}")
            for department in (rule.lead, *rule.assisting):
                if department not in departments:
                    raise ValueError(f"dispatch rule {rule.name}: unknown department {department}")
        return self


def _read(path: Path) -> dict[str, object]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top")
    return data


FILES = {"city": "districts.yaml", "categories": "catalogue.yaml",
         "districts": "districts.yaml", "departments": "departments.yaml",
         "rules": "dispatch.yaml", "deadlines": "deadlines.yaml", "calendar": "calendar.yaml"}
"""The file each part of the configuration is read from."""


@cache
def load_city(config_dir: Path) -> CityConfig:
    """The city in `config_dir`; a mistake is named by its file and the key it is at
    (`deadlines.yaml: general.resolution: ...`). `deadlines.yaml` and `calendar.yaml` may be
    left out: the defaults then apply (`Deadlines`, the official calendar unchanged)."""
    places = _read(config_dir / "districts.yaml")
    parts: dict[str, Any] = dict(
        city=places["city"],
        categories=_read(config_dir / "catalogue.yaml")["categories"],
        districts=places["districts"],
        departments=_read(config_dir / "departments.yaml")["departments"],
        rules=_read(config_dir / "dispatch.yaml")["rules"],
    )
    for part in ("deadlines", "calendar"):
        if (config_dir / FILES[part]).exists():
            parts[part] = _read(config_dir / FILES[part])
    try:
        city = CityConfig.model_validate(parts)
    except ValidationError as invalid:
        first = invalid.errors()[0]
        where, *key = first["loc"]
        if where == "categories" and key:
            key[0] = parts["categories"][int(key[0])].get("code", key[0])
        raise ValueError(f"{FILES.get(str(where), where)}: "
                         f"{'.'.join(str(k) for k in key) or '(top)'}: {first['msg']}") from None
    return city.check()


@cache
def work_calendar(rules: CalendarRules) -> WorkCalendar:
    """The working-day calendar with the city's `rules` (one per rules: it caches years)."""
    return WorkCalendar(rules)


LAYOUT: dict[str, tuple[str, ...]] = {
    "districts.yaml": ("city", "districts"),
    "catalogue.yaml": ("categories",),
    "departments.yaml": ("departments",),
    "dispatch.yaml": ("rules",),
}
"""Which fields of `CityConfig` each file of a configuration directory holds, each under its
name. Any other field is a file of its own whose whole mapping it is (`FILES`: the time
limits in `deadlines.yaml`, the calendar in `calendar.yaml`)."""


def as_files(city: CityConfig) -> dict[str, dict[str, Any]]:
    """`city` as the files of a configuration directory hold it (file name → its mapping):
    what `zaiban config export` writes, and `load_city` reads back as an equal value."""
    data = city.model_dump(mode="json", by_alias=True)
    files = {name: {field: data.pop(field) for field in fields if field in data}
             for name, fields in LAYOUT.items()}
    files.update({FILES.get(field, f"{field}.yaml"): value for field, value in data.items()})
    return files
