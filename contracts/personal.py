"""A resident's personal data, and the sealed form in which it travels.

The case event log is kept forever and replayed from its start, so nothing in
it can ever be deleted. Personal data therefore never enters it in clear: what
identifies the resident is gathered into one `PersonalData` and encrypted with
a key of its own case (`Sealed`, AES-256-GCM, the case id bound in as
associated data). The keys live outside the log, in a key store
(`services/common/keys.py`). Erasing a case's personal data destroys its key:
every copy of the sealed bytes — in Kafka, in each service's write model, in
backups — becomes noise at once, and a replay from offset 0 rebuilds the case
without the person while every public fact stays as it was ("crypto-shredding").

What is personal, and sealed:
- the contact: name, phone, email;
- the exact address and the point, when the category's address is private (a
  heating outage in a flat); a public place (a traffic light) stays in clear;
- the description as written, when it names a detail (a phone number, an ID
  card, an email, a plate): the log then keeps the masked text in clear.

What is not kept at all: the device and account ids an Open311 client sends
(`services/intake/open311/parse.py`).

A frontend that submits on the bus (the submissions topic) writes to a topic
itself, so it seals the whole submission for intake (`SealedMessage`: an
ephemeral X25519 key agreed with intake's public key, `GET
/api/bus/submission-key`; HKDF-SHA256; AES-256-GCM), and intake opens it. A
submission on the bus that carries personal data in clear is refused.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.text import Email, Phone, ShortLine

NotifyChannel = Literal["email", "sms"]
"""How a resident may be told that their case moved (services/notify/)."""


class ResidentContact(BaseModel):
    """How to reach the resident, and whether they agreed to be told. Private: never in
    public views, logs or metrics.

    Being told is opt-in (`notify`), by the `channels` the resident chose, each with its
    address given (email: `email`; sms: `phone`); agreeing without naming channels means
    every channel whose address was given. A contact sealed before consent existed reads
    as not agreed."""

    model_config = ConfigDict(frozen=True)

    name: ShortLine = ""
    phone: Phone = ""
    email: Email = ""
    notify: bool = Field(default=False, description="The resident agreed to be told when "
                                                    "the case moves (opt-in).")
    channels: tuple[NotifyChannel, ...] = Field(
        default=(), max_length=2,
        description="How to tell them: email, sms; none named means every one whose "
                    "address is given.")

    @model_validator(mode="after")
    def _each_channel_has_its_address(self) -> ResidentContact:
        for channel in self.channels:
            if not self.address_of(channel):
                needed = "email" if channel == "email" else "phone"
                raise ValueError(f"channel {channel!r} needs the contact's {needed}")
        return self

    def details(self) -> dict[str, str]:
        """How to reach the resident, as given (what views of the contact show)."""
        return {"name": self.name, "phone": self.phone, "email": self.email}

    def address_of(self, channel: NotifyChannel) -> str:
        return self.email if channel == "email" else self.phone

    @property
    def reach(self) -> tuple[NotifyChannel, ...]:
        """The channels the resident agreed to be told by (none without consent)."""
        if not self.notify:
            return ()
        chosen: tuple[NotifyChannel, ...] = self.channels or ("email", "sms")
        return tuple(dict.fromkeys(c for c in chosen if self.address_of(c)))


class PersonalData(BaseModel):
    """Everything about one case that identifies its resident, in clear (never logged)."""

    model_config = ConfigDict(frozen=True)

    contact: ResidentContact | None = None
    address: str = Field(default="", description="The exact address of a private-address category.")
    lat: float | None = None
    lon: float | None = None
    description: str | None = Field(
        default=None, description="The description as written, when the log keeps it masked.")

    @property
    def empty(self) -> bool:
        return self == PersonalData()


class Sealed(BaseModel):
    """A `PersonalData` encrypted with its case's data key: opaque without the key.

    `ciphertext` is AES-256-GCM over the JSON of the personal data (tag appended),
    with `key_id` as associated data, so a sealed value moved to another case does
    not open. Both are unpadded base64url.
    """

    model_config = ConfigDict(frozen=True)

    alg: Literal["A256GCM"] = "A256GCM"
    key_id: str = Field(description="The data key: the case's own (its case id).")
    nonce: str = Field(description="96 random bits, base64url.")
    ciphertext: str = Field(description="Ciphertext and tag, base64url.")


SEALED_FOR_INTAKE: Literal["X25519-HKDF-SHA256-A256GCM"] = "X25519-HKDF-SHA256-A256GCM"


class SealedMessage(BaseModel):
    """Bytes sealed for one recipient's X25519 public key (an ECIES, as HPKE's base mode).

    The sender makes an ephemeral X25519 key pair (`epk`, its public half), agrees a shared
    secret with the recipient's public key, and derives a 256-bit key with HKDF-SHA256
    (no salt; info = "zaiban sealed v1" + epk + recipient public key); `ciphertext` is
    AES-256-GCM of the message under it (tag appended), with `kid` as associated data.
    All binary fields are unpadded base64url.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    alg: Literal["X25519-HKDF-SHA256-A256GCM"] = SEALED_FOR_INTAKE
    kid: str = Field(description="Which of the recipient's keys it was sealed for.")
    epk: str = Field(description="The sender's ephemeral X25519 public key, base64url.")
    nonce: str = Field(description="96 random bits, base64url.")
    ciphertext: str = Field(description="Ciphertext and tag, base64url.")
