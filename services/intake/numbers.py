"""Case numbers people can read over the phone, unique without a central counter.

`ZB261006-7K3M-9QXA`: the day the case arrived (city time) and 40 random bits
in Crockford's base32 (no I, L, O or U to mishear). Any number of intake
instances draw numbers independently; the rare collision is caught when the
case document is created (its number is the key) and a new number is drawn.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_case_number(now: datetime, timezone: str) -> str:
    day = now.astimezone(ZoneInfo(timezone)).strftime("%y%m%d")
    bits = secrets.randbits(40)
    chars = "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(8))
    return f"ZB{day}-{chars[:4]}-{chars[4:]}"


def looks_like_case_number(text: str) -> bool:
    parts = text.split("-")
    return (
        len(parts) == 3
        and len(parts[0]) == 8
        and parts[0].startswith("ZB")
        and parts[0][2:].isdigit()
        and all(len(p) == 4 and all(c in ALPHABET for c in p) for p in parts[1:])
    )
