"""Counter keys: how a counter names the measure it counts and the group it counts in.

The figures are counters summed over cases (see `marks.py` for what one case
adds, `report.py` for how they are read back). A key is
``measure|dimension=value``::

    received|all=*   received|category=roads   resolved|day=2026-10-06
    fr#37|department=signal-co   (first-response histogram, bucket 37)
    rt#52|all=*                  (resolution-time histogram, bucket 52)

Keys live inside a stored blob, never as document field names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

ALL = ("all", "*")
"""The group of every case: `received|all=*`."""
FIRST_RESPONSE = "fr"
RESOLUTION_TIME = "rt"
"""The duration histograms' measures; a bucket's count is the measure `fr#<bucket>`."""


def key(measure: str, dimension: str, value: str) -> str:
    return f"{measure}|{dimension}={value}"


def parse_key(text: str) -> tuple[str, str, str]:
    measure, _, group = text.partition("|")
    dimension, _, value = group.partition("=")
    return measure, dimension, value


def add_counters(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return {k: v for k, v in total.items() if v}
