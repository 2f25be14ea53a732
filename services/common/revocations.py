"""Staff access taken back: deciding a revocation, and the list every instance keeps.

Pure: no broker, no store. `revoke` turns a request (`RevokeTokens`, from an admin or the
console) into the fact recorded on the revocations topic (`TokenRevoked`). `Revocations`
is what one instance knows of that topic, folded into memory, so that checking a token on
a request is a lookup and never I/O (`services/common/auth.py` `TokenCheck`). Folding is
order-free — a token id is refused or not, a subject's moment only moves later — so an
instance reading the topic from its beginning, a redelivery, or two partitions read in any
interleaving all end with the same list.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from contracts.revocations import RevokeTokens, TokenRevoked


def revoke(request: RevokeTokens, *, by: str, now: datetime) -> TokenRevoked:
    """What `by` taking access back at `now` records: the one token named, or every token
    of the subject named issued before now."""
    return TokenRevoked(revocation_id=uuid.uuid4(), token_id=request.token_id,
                        subject=request.subject,
                        not_before=now if request.subject is not None else None,
                        by=by, at=now, reason=request.reason)


@dataclass
class Revocations:
    """Every revocation read so far: token ids refused, and per subject the moment before
    which their tokens are refused."""

    tokens: dict[str, TokenRevoked] = field(default_factory=dict)
    subjects: dict[str, TokenRevoked] = field(default_factory=dict)

    def add(self, revoked: TokenRevoked) -> None:
        if revoked.token_id is not None:
            self.tokens.setdefault(revoked.token_id, revoked)
        if revoked.subject is not None and revoked.not_before is not None:
            known = self.subjects.get(revoked.subject)
            if known is None or (known.not_before and known.not_before < revoked.not_before):
                self.subjects[revoked.subject] = revoked

    def refusing(self, token_id: str, subject: str, issued_at: float) -> TokenRevoked | None:
        """The revocation that refuses the token `token_id` of `subject`, issued at
        `issued_at` (seconds since the epoch), if any."""
        if token_id and token_id in self.tokens:
            return self.tokens[token_id]
        revoked = self.subjects.get(subject)
        if revoked is not None and revoked.not_before is not None and \
                datetime.fromtimestamp(issued_at, UTC) < revoked.not_before:
            return revoked
        return None

    def __len__(self) -> int:
        return len(self.tokens) + len(self.subjects)
