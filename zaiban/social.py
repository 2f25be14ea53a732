"""Importing a social-media export (Weibo, WeChat) as cases.

Each post becomes a `SubmitCase` published on the submissions topic, sealed
for intake (`bus_message`: a post may name its author and their phone, which no
topic carries in clear), where intake opens it and checks it exactly like a
web submission. The post's id becomes the
submission id, so importing the same export twice makes no second case.
Rows that cannot become a case are reported with their row number and why,
before anything is sent.

Columns (CSV header or JSON object keys): `id`, `text`, and optionally
`category`, `district`, `street`, `address`, `lat`, `lon`, `name`, `phone`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contracts.case_commands import SealedSubmission, SubmitCase
from contracts.facts import Channel
from services.common.bus import describe_error
from services.common.catalogue import CityConfig
from services.common.keys import SUBMISSION_KEY, seal_for
from services.lifecycle.submitting import check_submission


@dataclass(frozen=True)
class Row:
    number: int
    fields: dict[str, Any]


@dataclass(frozen=True)
class Skipped:
    number: int
    reason: str


def read_rows(path: Path) -> Iterator[Row]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        items = data.get("posts", data) if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ValueError(f"{path}: expected a list of posts (or {{'posts': [...]}})")
        for number, item in enumerate(items, start=1):
            yield Row(number, item if isinstance(item, dict) else {})
    else:
        for number, item in enumerate(csv.DictReader(text.splitlines()), start=1):
            yield Row(number, {k.strip(): v for k, v in item.items() if k})


def to_submission(row: Row, channel: Channel, *, default_category: str,
                  default_district: str) -> SubmitCase:
    fields = row.fields

    def value(name: str) -> Any:
        item = fields.get(name)
        return item.strip() if isinstance(item, str) else item

    post_id = value("id")
    if not post_id:
        raise ValueError("no post id")
    contact = {k: value(k) for k in ("name", "phone") if value(k)}
    location: dict[str, Any] = {
        "district": value("district") or default_district,
        "street": value("street") or "",
        "address": value("address") or "",
    }
    if value("lat") not in (None, "") and value("lon") not in (None, ""):
        location["lat"], location["lon"] = float(value("lat")), float(value("lon"))
    return SubmitCase.model_validate({
        "category": value("category") or default_category,
        "description": value("text") or "",
        "location": location,
        "channel": channel.value,
        "contact": contact or None,
        "external_ref": f"{channel.value}:{post_id}",
        "submission_id": f"{channel.value}:{post_id}",
    })


def bus_message(command: SubmitCase, recipient: bytes) -> bytes:
    """The submission as the bus carries it: sealed for intake's key (`recipient`)."""
    sealed = seal_for(recipient, SUBMISSION_KEY, command.model_dump_json().encode())
    return SealedSubmission(sealed=sealed).model_dump_json().encode()


def prepare(rows: Iterable[Row], city: CityConfig, channel: Channel, *, default_category: str,
            default_district: str) -> tuple[list[SubmitCase], list[Skipped]]:
    ready: list[SubmitCase] = []
    skipped: list[Skipped] = []
    for row in rows:
        try:
            command = to_submission(row, channel, default_category=default_category,
                                    default_district=default_district)
        except ValidationError as error:
            skipped.append(Skipped(row.number, describe_error(error)))
            continue
        except (ValueError, TypeError) as error:
            skipped.append(Skipped(row.number, str(error)))
            continue
        problems = check_submission(command, city)
        if problems:
            skipped.append(Skipped(row.number, "; ".join(f"{p.where}: {p.problem}"
                                                         for p in problems)))
            continue
        ready.append(command)
    return ready, skipped
