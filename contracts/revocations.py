"""Taking staff access back: revoking staff tokens and Open311 api keys.

A token is signed, not stored (`services/common/auth.py`), so it cannot be deleted: it is
revoked. `RevokeTokens` asks for it (an admin, `POST /api/admin/tokens/revoke`, or the
console, `zaiban token revoke`); `TokenRevoked` records it on the revocations topic
(`Topics.revocations`, kept forever), keyed by the subject — or by the token id, when only
that is named. Every instance of every service that checks tokens reads the whole topic
into memory and refuses, from then on, either the one token with that id, or every token
of that subject issued before `not_before`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.text import ShortLine

TokenId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$",
                               description="A token's id (`jti`), as `zaiban token issue` "
                                           "prints it.")]
Subject = Annotated[str, Field(min_length=1, max_length=200,
                               description="Whom tokens were issued to (a staff id, an "
                                           "integration's name): the tokens' subject.")]


def _one_of(token_id: str | None, subject: str | None) -> None:
    named = sum(1 for given in (token_id, subject) if given is not None)
    if named != 1:
        raise ValueError("name either token_id (one token) or subject (all of theirs), "
                         "not both or neither")


class RevokeTokens(BaseModel):
    """Take access back: one token by its id, or every token of a subject issued until now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: TokenId | None = None
    subject: Subject | None = None
    reason: ShortLine = Field(default="", description="Why, for the record.")

    @model_validator(mode="after")
    def _names_one(self) -> Self:
        _one_of(self.token_id, self.subject)
        return self


class TokenRevoked(BaseModel):
    """Staff access was taken back: one token, or a subject's tokens issued before a moment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    revocation_id: uuid.UUID = Field(description="This revocation; read twice, it is one.")
    token_id: TokenId | None = Field(default=None, description="The one token refused.")
    subject: Subject | None = Field(default=None, description="Whose tokens are refused.")
    not_before: AwareDatetime | None = Field(
        default=None, description="For a subject: their tokens issued before this are refused "
                                  "(one issued later is not).")
    by: Subject = Field(description="Who took it back: an admin's staff id, or `console`.")
    at: AwareDatetime
    reason: ShortLine = ""

    @model_validator(mode="after")
    def _names_one(self) -> Self:
        _one_of(self.token_id, self.subject)
        if (self.subject is None) != (self.not_before is None):
            raise ValueError("not_before goes with a subject, and only with one")
        return self

    def key(self) -> bytes:
        """The record's key: the subject (so theirs are read in order), else the token id."""
        return (self.subject or self.token_id or "").encode()
