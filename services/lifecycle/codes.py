"""Tracking codes: how a resident proves a case is theirs.

The code is derived from the case number under the deployment's secret (so a
retried submission gets the same one back); the log keeps only its SHA-256
(`CaseSubmitted.tracking_code_hash`). A code is read as four groups of four
letters and digits, forgiving case, spaces and dashes, and compared in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr

TRACKING_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U


def tracking_code_for(secret: SecretStr, case_id: str) -> str:
    """The case's private tracking code: 80 bits, read as four groups of four."""
    digest = hmac.new(secret.get_secret_value().encode(), f"tracking/{case_id}".encode(),
                      hashlib.sha256).digest()
    number = int.from_bytes(digest[:10], "big")
    chars = [TRACKING_ALPHABET[(number >> (5 * i)) & 31] for i in range(16)]
    code = "".join(chars)
    return "-".join(code[i:i + 4] for i in range(0, 16, 4))


def normalise_tracking_code(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


def hash_tracking_code(code: str) -> str:
    return hashlib.sha256(normalise_tracking_code(code).encode()).hexdigest()


def tracking_code_matches(code: str | None, expected_hash: str) -> bool:
    if not code or not expected_hash:
        return False
    return hmac.compare_digest(hash_tracking_code(code), expected_hash)
