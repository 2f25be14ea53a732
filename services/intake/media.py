"""Photos residents attach: checked by their bytes, kept in intake's store.

The declared content type is not trusted: the first bytes must be those of a
JPEG, PNG or WebP image, and the size must be within the limit. Photos are
stored as documents (one per photo, under the store's 16 MB document limit)
so that any intake instance can serve any photo.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection

from services.common.case import Refused

SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"WEBP", 8, "image/webp"),
)


def sniff_image(head: bytes) -> str | None:
    """The image type the bytes really are, or None."""
    for signature, offset, content_type in SIGNATURES:
        if head[offset:offset + len(signature)] == signature:
            if content_type == "image/webp" and not head.startswith(b"RIFF"):
                continue
            return content_type
    return None


@dataclass(frozen=True)
class StoredPhoto:
    media_id: str
    content_type: str
    size: int

    @property
    def url(self) -> str:
        return f"/media/{self.media_id}"


class PhotoStore:
    def __init__(self, collection: AsyncCollection[dict[str, Any]], max_bytes: int) -> None:
        self.collection = collection
        self.max_bytes = max_bytes

    async def put(self, data: bytes, now: datetime) -> StoredPhoto:
        if not data:
            raise Refused("the photo is empty", status=422)
        if len(data) > self.max_bytes:
            raise Refused(f"the photo is {len(data)} bytes; at most {self.max_bytes} are accepted",
                          status=413)
        content_type = sniff_image(data[:16])
        if content_type is None:
            raise Refused("only JPEG, PNG or WebP photos are accepted", status=415)
        media_id = uuid.uuid4().hex
        await self.collection.insert_one({"_id": media_id, "content_type": content_type,
                                          "size": len(data), "data": Binary(data), "stored_at": now})
        return StoredPhoto(media_id, content_type, len(data))

    async def get(self, media_id: str) -> tuple[str, bytes] | None:
        doc = await self.collection.find_one({"_id": media_id})
        if doc is None:
            return None
        return doc["content_type"], bytes(doc["data"])
