"""Suggested duplicates for a new case: nearby, or saying the same thing.

Similarity of text works on character bigrams, so Chinese (which has no
spaces) compares as well as English: "王府坟菜市场红绿灯" and "王府坟菜市场门口
信号灯不亮" share 王府, 府坟, 坟菜, 菜市, 市场 ... A point within the radius, or
the same street, counts as nearby. Officers see the reasons, not just a score.

The candidates are *rows* (`services/common/rowindex.py`), not whole cases: the
few top-level fields of a snapshot of intake's write model that a suggestion
reads (`fields_of`, written with every snapshot). Every intake instance keeps
the rows of all the cases in memory (`case_rows`, kept current by a
`RowFollower`), so finding the open cases of a category within the window
costs the same on FerretDB 1.24, which would read every snapshot for such a
filter, as on MongoDB; and all of them are weighed, however many.

Only a public place's point is in the write model in clear: for a category whose
address is private (a flat), the point and the address travel sealed with the
resident's personal data (`submitting.public_location`), so such a case is
nearby only by its street, and reads alike by its (masked) description.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any

from contracts.facts import CaseStatus
from services.common.rowindex import Row, RowIndex, Selector
from services.lifecycle.case import Case

_WORD = re.compile(r"[a-z0-9]+")

OPEN = tuple(status.value for status in CaseStatus if status.is_open)
"""The statuses a duplicate may have: a closed, rejected or merged case is done with."""
FIELDS = ("status", "category", "submitted_at", "street", "lat", "lon", "description")
"""What a row keeps of a snapshot for the suggestions (`fields_of`)."""


def bigrams(text: str) -> set[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    grams: set[str] = set()
    cjk = [c for c in text if unicodedata.category(c) == "Lo"]
    grams.update(a + b for a, b in pairwise(cjk))
    grams.update(_WORD.findall(text))
    return grams


@lru_cache(maxsize=4096)
def _bigrams_of(text: str) -> frozenset[str]:
    """`bigrams`, remembered: the open cases of a window are weighed again at each request
    (three times faster at 30,000 cases); about 3 KB a short description, so the
    4,096 used last (some 12 MB) rather than all of them."""
    return frozenset(bigrams(text))


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' bigrams, 0..1."""
    return _jaccard(_bigrams_of(a), _bigrams_of(b))


def _jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    radius = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * radius * math.asin(math.sqrt(h))


@dataclass(frozen=True)
class Suggestion:
    case_id: str
    score: float
    reasons: tuple[str, ...]
    distance_m: float | None


# ---- the rows ---------------------------------------------------------------------------------


def fields_of(case: Case) -> dict[str, Any]:
    """The top-level fields of a case's snapshot that its row keeps for the suggestions
    (status, category and submitted_at are written by intake's `index_fields` already).
    `street` is None only for a case without a location (its submission was never seen
    here): such a case is never suggested."""
    location = case.location
    return {
        "street": location.street if location else None,
        "lat": location.lat if location else None,
        "lon": location.lon if location else None,
        "description": case.description,
    }


def row_of(case: Case) -> Row:
    """The row of `case` as its snapshot gives it (what `suggest` compares)."""
    facts = case.facts
    return {"_id": case.case_id,
            "status": facts.status.value if facts else None,
            "category": facts.category if facts else None,
            **fields_of(case)}


def case_rows(also: Iterable[str] = ()) -> RowIndex:
    """An empty index of the rows of intake's snapshots (version: the case's last seq),
    keeping `also` these fields beside the suggestions' own."""
    return RowIndex(fields=(*FIELDS, *also), keyed=("status", "category"),
                    ranged=("submitted_at",), version="version")


def candidates(category: str, since: datetime) -> Selector:
    """The open cases of `category` submitted since `since`: a filter the rows answer from
    their sets alone (a category, the open statuses, a range of times)."""
    return {"category": category, "status": {"$in": list(OPEN)},
            "submitted_at": {"$gte": since}}


def open_alike(rows: RowIndex, case: Case, window: timedelta) -> list[Row]:
    """The rows of every open case of the category of `case`, submitted at most `window`
    before it (`case` among them, if open)."""
    facts = case.require_facts()
    found = rows.find(candidates(facts.category, facts.submitted_at - window),
                      sort=(("_id", 1),), limit=max(len(rows), 1), count=False)
    return [row for row_id in found.ids if (row := rows.row(row_id)) is not None]


# ---- the decision -----------------------------------------------------------------------------


def suggest(case: Row, candidates: Iterable[Row], *, radius_m: float, limit: int = 5,
            min_text: float = 0.25) -> list[Suggestion]:
    """Open candidates of the same category that are nearby or read alike, best first.

    `case` and the candidates are rows (`row_of`); a candidate without a location (its
    `street` None) or without facts (its `status` None) is never suggested."""
    case_id, category = case["_id"], case.get("category")
    lat, lon, street = case.get("lat"), case.get("lon"), case.get("street")
    words = _bigrams_of(case.get("description") or "")
    found: list[Suggestion] = []
    for other in candidates:
        if other["_id"] == case_id or other.get("status") is None or other.get("street") is None:
            continue
        if other.get("category") != category or other["status"] not in OPEN:
            continue
        reasons: list[str] = []
        score = 0.0
        metres: float | None = None
        if lat is not None and lon is not None and other.get("lat") is not None \
                and other.get("lon") is not None:
            metres = distance_m(lat, lon, other["lat"], other["lon"])
            if metres <= radius_m:
                reasons.append(f"within {round(metres)} m")
                score += 1.0 - metres / radius_m / 2
        if street and street == other["street"]:
            reasons.append("same street")
            score += 0.5
        text = _jaccard(words, _bigrams_of(other.get("description") or ""))
        if text >= min_text:
            reasons.append(f"similar text ({text:.0%})")
            score += text
        if reasons:
            found.append(Suggestion(str(other["_id"]), round(score, 3), tuple(reasons), metres))
    found.sort(key=lambda s: (-s.score, s.case_id))
    return found[:limit]
