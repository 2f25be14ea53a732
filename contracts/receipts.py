"""The answer a frontend gets for a submission it published on the bus.

A frontend publishes `SubmitCase` (sealed for intake: `SealedSubmission`) on the
submissions topic and cannot be answered the way an HTTP client is. Intake answers on
the receipts topic (`Topics.receipts`), keyed by the submission's id: `recorded`, with
the case number and the tracking code, or `refused`, with the reason. One submission id
has one receipt: a redelivered or retried submission is answered by the receipt already
given, byte for byte, and is not given a second.

The tracking code is the resident's key to the case's private view (their contact, their
address): a secret, which no topic carries in clear. It travels sealed for the frontend
(`SealedMessage`, as submissions travel sealed for intake) with the X25519 public key the
submission names in `receipt_key`; a submission without one gets the case number alone.
Whoever may read the receipts topic thus learns case numbers, which are public anyway,
and refusals, whose reasons name fields and never echo what was sent.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.personal import SealedMessage

ReceiptKey = Annotated[str, Field(
    pattern=r"^$|^[A-Za-z0-9_-]{43}$",
    description="On the bus only: an X25519 public key (32 bytes, unpadded base64url) to "
                "seal the tracking code for in the submission's receipt "
                "(`SubmissionReceipt`). Without one the receipt carries no tracking code.")]


class SubmissionReceipt(BaseModel):
    """Intake's answer to one submission on the bus, keyed by its submission id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    submission_id: str = Field(
        description="The submission's `submission_id`; for one that has none or could not "
                    "be read, the record's key, or else `<topic>/<partition>/<offset>`.")
    outcome: Literal["recorded", "refused"]
    case_id: str | None = Field(default=None, description="The case number (recorded).")
    tracking_code: SealedMessage | None = Field(
        default=None,
        description="The case's tracking code (its UTF-8 text), sealed for the submission's "
                    "`receipt_key`, with the submission id as `kid`; null without a key.")
    reason: str | None = Field(default=None, description="Why it was refused (refused).")
    issued_at: AwareDatetime
