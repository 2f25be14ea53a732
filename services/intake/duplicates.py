"""Suggested duplicates for a new case: nearby, or saying the same thing.

Similarity of text works on character bigrams, so Chinese (which has no
spaces) compares as well as English: "王府坟菜市场红绿灯" and "王府坟菜市场门口
信号灯不亮" share 王府, 府坟, 坟菜, 菜市, 市场 ... A point within the radius, or
the same street, counts as nearby. Officers see the reasons, not just a score.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from itertools import pairwise

from services.lifecycle.case import Case

_WORD = re.compile(r"[a-z0-9]+")


def bigrams(text: str) -> set[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    grams: set[str] = set()
    cjk = [c for c in text if unicodedata.category(c) == "Lo"]
    grams.update(a + b for a, b in pairwise(cjk))
    grams.update(_WORD.findall(text))
    return grams


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' bigrams, 0..1."""
    left, right = bigrams(a), bigrams(b)
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


def suggest(case: Case, candidates: list[Case], *, radius_m: float, limit: int = 5,
            min_text: float = 0.25) -> list[Suggestion]:
    """Open candidates of the same category that are nearby or read alike, best first."""
    facts = case.require_facts()
    location = case.location
    found: list[Suggestion] = []
    for other in candidates:
        if other.case_id == case.case_id or other.facts is None or other.location is None:
            continue
        if other.facts.category != facts.category or not other.facts.status.is_open:
            continue
        reasons: list[str] = []
        score = 0.0
        metres: float | None = None
        if location and location.lat is not None and location.lon is not None \
                and other.location.lat is not None and other.location.lon is not None:
            metres = distance_m(location.lat, location.lon, other.location.lat, other.location.lon)
            if metres <= radius_m:
                reasons.append(f"within {round(metres)} m")
                score += 1.0 - metres / radius_m / 2
        if location and location.street and location.street == other.location.street:
            reasons.append("same street")
            score += 0.5
        text = similarity(case.description, other.description)
        if text >= min_text:
            reasons.append(f"similar text ({text:.0%})")
            score += text
        if reasons:
            found.append(Suggestion(other.case_id, round(score, 3), tuple(reasons), metres))
    found.sort(key=lambda s: (-s.score, s.case_id))
    return found[:limit]
