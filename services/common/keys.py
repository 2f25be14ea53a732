"""Data keys, one per case, and the sealing of personal data with them.

A case's personal data travels sealed (`contracts/personal.py`): AES-256-GCM
under a data key of its own, made when the case is submitted. Erasing the
personal data destroys the key; the sealed bytes stay wherever they were
copied (the log, write models, backups) and no longer open.

The keys live in a key store, never in a topic. `KeyStore` is what the
services need of one; `MongoKeyStore` keeps the keys in a database of their
own (`<db prefix>_keys`), each wrapped (encrypted) by the deployment's master
key, so a copy of that database alone opens nothing. A KMS or Vault can stand
in for it by implementing the same four operations: issue, find, destroy,
destroyed (with Vault's transit engine, wrapping is its encrypt and decrypt;
with a cloud KMS, its GenerateDataKey and Decrypt).

A destroyed key leaves a tombstone (when, by whom, why, never the key), so a
second erasure is told it came too late and a key is never issued again for
the same case. Keys are read from the store on every opening, never cached: a
key destroyed by one instance opens nothing on any other from that moment.

`KeyRing` holds keys in memory, for histories written in one go (the demo
city, the benchmarks, the stories of the unit tests), and hands them to a
store in bulk (`KeyRing.keep`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bson import Binary
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from contracts.personal import PersonalData, Sealed, SealedMessage
from services.common.grouped import GroupedWrites
from services.common.settings import CommonSettings
from services.common.store import insert_new, service_db

KEY_BYTES = 32
NONCE_BYTES = 12
KEYS_COLLECTION = "data_keys"


class KeyDestroyed(Exception):
    """The case's key was destroyed: its personal data is erased and stays so."""

    def __init__(self, destroyed: Destroyed) -> None:
        super().__init__(f"the personal data of case {destroyed.key_id} was erased "
                         f"at {destroyed.at.isoformat()}")
        self.destroyed = destroyed


class BrokenSeal(ValueError):
    """Sealed bytes that do not open with their key: altered, or sealed for another case."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class DataKey:
    """One case's key. Its `secret` never leaves the process except wrapped."""

    key_id: str
    secret: bytes

    @classmethod
    def new(cls, key_id: str) -> DataKey:
        return cls(key_id, AESGCM.generate_key(bit_length=KEY_BYTES * 8))

    def seal(self, data: PersonalData, *, repeatable: bool = False) -> Sealed:
        """`data` sealed with this key. `repeatable`: sealing the same data again gives the
        same bytes (the nonce derived from the data, as in AES-GCM-SIV's synthetic nonce), so
        a retried submission records the very same event; a nonce then repeats only with its
        own plaintext, which GCM allows (it tells only that the two sealed the same)."""
        plain = data.model_dump_json(exclude_defaults=True).encode()
        nonce = (hmac.new(self.secret, b"zaiban nonce\0" + plain, hashlib.sha256).digest()
                 [:NONCE_BYTES] if repeatable else os.urandom(NONCE_BYTES))
        cipher = AESGCM(self.secret).encrypt(nonce, plain, self.key_id.encode())
        return Sealed(key_id=self.key_id, nonce=_b64(nonce), ciphertext=_b64(cipher))

    def open(self, sealed: Sealed) -> PersonalData:
        if sealed.key_id != self.key_id:
            raise BrokenSeal(f"sealed with key {sealed.key_id}, not {self.key_id}")
        try:
            plain = AESGCM(self.secret).decrypt(_unb64(sealed.nonce), _unb64(sealed.ciphertext),
                                                self.key_id.encode())
            return PersonalData.model_validate_json(plain)
        except (InvalidTag, binascii.Error, ValueError, ValidationError) as error:
            raise BrokenSeal(f"the personal data sealed with key {self.key_id} does not "
                             f"open ({type(error).__name__})") from error


@dataclass(frozen=True)
class Destroyed:
    """What remains of a destroyed key: when, by whom, why."""

    key_id: str
    at: datetime
    by: str
    reason: str


class KeyStore(Protocol):
    async def issue(self, key_id: str) -> DataKey:
        """The key `key_id`, made now if there is none; KeyDestroyed if it was destroyed."""
        ...

    async def reserve(self, key_id: str) -> DataKey | None:
        """A key made now for `key_id`; None when there is one already (or was: destroyed).
        A case's key is made when its number is drawn: reserving it is what makes the
        number one case's (`services/intake/submissions.py`)."""
        ...

    async def release(self, key_ids: list[str]) -> None:
        """Forget keys reserved but never used (no tombstone: nothing was sealed with them),
        in one command."""
        ...

    async def find(self, key_id: str) -> DataKey | None:
        """The key, or None: never made, or destroyed."""
        ...

    async def destroy(self, key_id: str, *, at: datetime, by: str, reason: str) -> Destroyed:
        """Destroy the key (a tombstone stays, also where there was no key) and say so.
        Destroying again changes nothing and answers the first tombstone."""
        ...

    async def destroyed(self, key_id: str) -> Destroyed | None:
        ...


async def open_sealed(keys: KeyStore, sealed: Sealed | None) -> PersonalData | None:
    """The personal data `sealed` holds; None when there is none or its key is destroyed."""
    if sealed is None:
        return None
    key = await keys.find(sealed.key_id)
    return key.open(sealed) if key is not None else None


class MasterKey:
    """The deployment's key that wraps every data key (AES-256-GCM, the key id bound in)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != KEY_BYTES:
            raise ValueError(f"a master key is {KEY_BYTES} bytes, not {len(secret)}")
        self._aead = AESGCM(secret)

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        """From base64 (standard or URL-safe, padded or not) of 32 random bytes."""
        try:
            raw = _unb64(text.strip().replace("+", "-").replace("/", "_").rstrip("="))
        except (binascii.Error, ValueError) as error:
            raise ValueError("ZAIBAN_MASTER_KEY: not base64") from error
        if len(raw) != KEY_BYTES:
            raise ValueError(f"ZAIBAN_MASTER_KEY: decodes to {len(raw)} bytes; it must be "
                             f"{KEY_BYTES} random bytes (e.g. `openssl rand -base64 32`)")
        return cls(raw)

    def wrap(self, key: DataKey) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, key.secret, key.key_id.encode())

    def unwrap(self, key_id: str, wrapped: bytes) -> DataKey:
        try:
            secret = self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                                        key_id.encode())
        except InvalidTag as error:
            raise BrokenSeal(f"the key of {key_id} does not unwrap: another master key?") from error
        return DataKey(key_id, secret)


class MongoKeyStore:
    """Data keys in a collection of their own, wrapped by the master key.

    A key's document is `{_id: key id, wrapped, created_at}`; a destroyed one is
    replaced by its tombstone `{_id, destroyed_at, by, reason}` (no key material).
    """

    def __init__(self, collection: AsyncCollection[dict[str, Any]],
                 master: MasterKey | None) -> None:
        self.collection = collection
        self._master = master
        self._inserts = GroupedWrites(collection)

    @property
    def master(self) -> MasterKey:
        if self._master is None:
            raise RuntimeError("this key store was opened without the master key")
        return self._master

    async def issue(self, key_id: str) -> DataKey:
        # A case's key is made when it is submitted, so it is usually new: insert first (with
        # the keys other submissions make at the same moment, in one command), read only if
        # it was there already.
        key = await self.reserve(key_id)
        if key is not None:
            return key
        doc = await self.collection.find_one({"_id": key_id})
        if doc is None:  # destroyed and gone between the two: as good as destroyed
            raise KeyDestroyed(Destroyed(key_id, datetime.now().astimezone(), "", ""))
        return self._key_of(doc)

    async def reserve(self, key_id: str) -> DataKey | None:
        key = DataKey.new(key_id)
        return key if await self._inserts.insert(self._document(key)) else None

    async def release(self, key_ids: list[str]) -> None:
        # never a tombstone (no "wrapped"); on FerretDB 1.24 a filter beyond `_id` equality
        # reads the whole collection, so it is one command for all of them
        await self.collection.delete_many({"_id": {"$in": key_ids},
                                           "wrapped": {"$exists": True}})

    async def keep(self, keys: list[DataKey]) -> None:
        """Store keys made elsewhere (a `KeyRing`); those already kept stay as they are."""
        await insert_new(self.collection, [self._document(key) for key in keys])

    async def find(self, key_id: str) -> DataKey | None:
        doc = await self.collection.find_one({"_id": key_id})
        if doc is None or "wrapped" not in doc:
            return None
        return self.master.unwrap(key_id, bytes(doc["wrapped"]))

    async def destroy(self, key_id: str, *, at: datetime, by: str, reason: str) -> Destroyed:
        earlier = await self.destroyed(key_id)
        if earlier is not None:
            return earlier
        tombstone = {"_id": key_id, "destroyed_at": at, "by": by, "reason": reason}
        await self.collection.replace_one({"_id": key_id}, tombstone, upsert=True)
        return Destroyed(key_id, at, by, reason)

    async def destroyed(self, key_id: str) -> Destroyed | None:
        doc = await self.collection.find_one({"_id": key_id},
                                             projection={"wrapped": 0})
        if doc is None or "destroyed_at" not in doc:
            return None
        return Destroyed(key_id, doc["destroyed_at"], doc.get("by", ""), doc.get("reason", ""))

    def _document(self, key: DataKey) -> dict[str, Any]:
        return {"_id": key.key_id, "wrapped": Binary(self.master.wrap(key)),
                "created_at": datetime.now().astimezone()}

    def _key_of(self, doc: dict[str, Any]) -> DataKey:
        if "wrapped" not in doc:
            raise KeyDestroyed(Destroyed(doc["_id"], doc["destroyed_at"], doc.get("by", ""),
                                         doc.get("reason", "")))
        return self.master.unwrap(doc["_id"], bytes(doc["wrapped"]))


KEYS_DATABASE = "keys"
"""The key store's database: `<db prefix>_keys`, apart from every service's own."""


def key_store(client: AsyncMongoClient[dict[str, Any]], settings: CommonSettings, *,
              opens: bool = True) -> MongoKeyStore:
    """The deployment's key store, in its database of its own, under its master key. Without
    `opens`, a service that only asks whether keys were destroyed (routing) holds no master
    key: issuing or finding a key then fails."""
    master = MasterKey.from_text(settings.master_key_text()) if opens else None
    return MongoKeyStore(service_db(client, settings, KEYS_DATABASE)[KEYS_COLLECTION], master)


# --- sealed for intake: submissions on the bus ------------------------------------

SUBMISSION_KEY = "bus:submissions"
"""The key store's id of intake's X25519 key for submissions on the bus (32 random bytes,
kept like a case's key: a valid X25519 private key)."""
SEALED_INFO = b"zaiban sealed v1"


def _agreed(shared: bytes, epk: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=SEALED_INFO + epk + recipient).derive(shared)


def public_key_of(key: DataKey) -> bytes:
    """The X25519 public key of a key kept as 32 random bytes (`SUBMISSION_KEY`)."""
    return X25519PrivateKey.from_private_bytes(key.secret).public_key().public_bytes_raw()


def recipient_key(text: str) -> bytes:
    """A public key as `GET /api/bus/submission-key` gives it (base64url), as bytes."""
    return _unb64(text)


def public_key_text(key: DataKey) -> str:
    return _b64(public_key_of(key))


def seal_for(recipient: bytes, kid: str, message: bytes) -> SealedMessage:
    """`message` sealed for the holder of the X25519 public key `recipient`."""
    ephemeral = X25519PrivateKey.generate()
    epk = ephemeral.public_key().public_bytes_raw()
    key = _agreed(ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient)), epk,
                  recipient)
    nonce = os.urandom(NONCE_BYTES)
    cipher = AESGCM(key).encrypt(nonce, message, kid.encode())
    return SealedMessage(kid=kid, epk=_b64(epk), nonce=_b64(nonce), ciphertext=_b64(cipher))


def open_for(key: DataKey, sealed: SealedMessage) -> bytes:
    """The message sealed for `key`'s public half; BrokenSeal if it does not open."""
    if sealed.kid != key.key_id:
        raise BrokenSeal(f"sealed for key {sealed.kid!r}, not {key.key_id!r}")
    try:
        private = X25519PrivateKey.from_private_bytes(key.secret)
        epk = _unb64(sealed.epk)
        agreed = _agreed(private.exchange(X25519PublicKey.from_public_bytes(epk)), epk,
                         public_key_of(key))
        return AESGCM(agreed).decrypt(_unb64(sealed.nonce), _unb64(sealed.ciphertext),
                                      sealed.kid.encode())
    except (InvalidTag, binascii.Error, ValueError) as error:
        raise BrokenSeal(f"the message sealed for {sealed.kid} does not open "
                         f"({type(error).__name__})") from error


class KeyRing:
    """Keys held in memory while a history is written in one go; `keep` stores them."""

    def __init__(self) -> None:
        self.keys: dict[str, DataKey] = {}

    def seal(self, key_id: str, data: PersonalData) -> Sealed:
        key = self.keys.get(key_id) or self.keys.setdefault(key_id, DataKey.new(key_id))
        return key.seal(data)

    def open(self, sealed: Sealed) -> PersonalData | None:
        key = self.keys.get(sealed.key_id)
        return key.open(sealed) if key is not None else None

    async def keep(self, store: MongoKeyStore) -> None:
        await store.keep(list(self.keys.values()))
