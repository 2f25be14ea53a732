"""The city's configuration, changed while running: one event per accepted change.

An admin changes one item of the city's configuration — a category (with its attributes),
a district, a department, a dispatch rule — by putting it (new or replaced) or removing it,
against the version they saw (`ChangeCity`, `PUT`/`DELETE /api/admin/city/...`). The change
accepted, `CityChanged` records it on the configuration topic (`Topics.city_config`: one
partition, so versions are read in order; kept forever): who, when, what, the version it
makes, and the whole configuration after it. The running configuration is the last event;
with none yet, it is `deploy/config/` (version 0). Every instance of every service reads the
topic from its beginning and decides with the last version it read.

The configuration travels as the mapping `deploy/config/`'s files describe
(`services.common.catalogue.CityConfig`, dumped by alias), so a field the city's
configuration gains flows through these events untouched.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.text import ShortLine

Kind = Literal["category", "district", "department", "rule", "limits", "calendar"]
"""What an admin changes: each is one list of the configuration, its items keyed by code (a
dispatch rule by `category@district`); `limits` are the time limits of one priority class
(keyed by the class: emergency, utilities, general, complex) and `calendar` the city's
changes to the official calendar (one item, `changes`): replaced, never removed."""

Action = Literal["put", "remove"]


class ChangeCity(BaseModel):
    """Put (add or replace) or remove one item of the city's configuration, against the
    version the admin saw: if the configuration has moved on since, nothing changes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    expected_version: int = Field(ge=0, description="The version this change was made against "
                                                    "(`GET /api/admin/city` says the current one).")
    item: dict[str, Any] | None = Field(
        default=None, description="For a put: the item as the configuration files describe it "
                                  "(its code in the URL); none for a removal.")
    note: ShortLine = Field(default="", description="Why, for the record.")


class Change(BaseModel):
    """What changed: one item put or removed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    code: str = Field(max_length=140)
    action: Action
    note: ShortLine = ""


class CityChanged(BaseModel):
    """The city's configuration changed: who, when, what, and the whole configuration after."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    change_id: uuid.UUID = Field(description="This change; read twice, it is one.")
    version: int = Field(ge=1, description="The version this change makes: the one before, plus "
                                           "one. An event whose version does not follow the "
                                           "last applied one (a lost race) changes nothing.")
    by: str = Field(min_length=1, max_length=200, description="The admin's staff id.")
    at: AwareDatetime
    change: Change
    city: dict[str, Any] = Field(description="The whole configuration after the change, as the "
                                             "files of `deploy/config/` describe it.")

    def key(self) -> bytes:
        return b"city"
