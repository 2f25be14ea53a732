"""The city's configuration, read from YAML: categories, districts, departments, dispatch.

These are configuration files (`deploy/config/` by default, `ZAIBAN_CONFIG_DIR`
to point elsewhere), not code: a city edits them without a release.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from contracts.facts import Priority

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

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    def district(self, code: str) -> District | None:
        return next((d for d in self.districts if d.code == code), None)

    def department(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def rule_for(self, category: str, district: str) -> DispatchRule | None:
        return next((r for r in self.rules if r.matches(category, district)), None)

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


@cache
def load_city(config_dir: Path) -> CityConfig:
    places = _read(config_dir / "districts.yaml")
    return CityConfig(
        city=City.model_validate(places["city"]),
        categories=_read(config_dir / "catalogue.yaml")["categories"],
        districts=places["districts"],
        departments=_read(config_dir / "departments.yaml")["departments"],
        rules=_read(config_dir / "dispatch.yaml")["rules"],
    ).check()


LAYOUT: dict[str, tuple[str, ...]] = {
    "districts.yaml": ("city", "districts"),
    "catalogue.yaml": ("categories",),
    "departments.yaml": ("departments",),
    "dispatch.yaml": ("rules",),
}
"""Which fields of `CityConfig` each file of a configuration directory holds. A field not
named here is written to (and read from) a file of its own, `<field>.yaml`."""


def as_files(city: CityConfig) -> dict[str, dict[str, Any]]:
    """`city` as the files of a configuration directory hold it (file name → its mapping):
    what `zaiban config export` writes, and `load_city` reads back as an equal value."""
    data = city.model_dump(mode="json", by_alias=True)
    files = {name: {field: data.pop(field) for field in fields if field in data}
             for name, fields in LAYOUT.items()}
    files.update({f"{field}.yaml": {field: value} for field, value in data.items()})
    return files
