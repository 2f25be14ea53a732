"""Photos residents attach: checked by their bytes, kept in intake's store.

The declared content type is not trusted: the first bytes must be those of a
JPEG, PNG or WebP image, and the size must be within the limit. Photos are
stored as documents (one per photo, under the store's 16 MB document limit)
so that any intake instance can serve any photo.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import Binary
from fastapi import HTTPException
from pymongo.asynchronous.collection import AsyncCollection

from contracts.case_events import MediaRef
from services.lifecycle.errors import Invalid, Problem

SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"WEBP", 8, "image/webp"),
)


ACCEPTED_TYPES = frozenset(content_type for _, _, content_type in SIGNATURES)
OWN_PHOTO = re.compile(r"^/media/[0-9a-f]{32}$")
"""A photo uploaded here (`POST /api/media` answers this URL)."""
WEB_PHOTO = re.compile(r"^https?://[^\s/?#]+[^\s\x00-\x1f\x7f]*$")
"""A photo elsewhere on the web (Open311's media_url): http(s), no spaces or control characters."""


def check_media(media: Sequence[MediaRef], *, max_photos: int, max_bytes: int) -> list[Problem]:
    """The photos attached to a submission: how many, where they are, what they claim to be.

    A link is shown on the case's public page, so it must be one of our uploads or a plain
    http(s) URL (never `javascript:` or `data:`).
    """
    problems: list[Problem] = []
    if len(media) > max_photos:
        problems.append(Problem("body.media", f"at most {max_photos} photos per case"))
    for index, photo in enumerate(media):
        where = f"body.media.{index}"
        if not (OWN_PHOTO.match(photo.url) or WEB_PHOTO.match(photo.url)):
            problems.append(Problem(f"{where}.url", "a photo uploaded with POST /api/media "
                                                    "(/media/<id>) or an http(s) URL"))
        if photo.content_type and photo.content_type not in ACCEPTED_TYPES:
            problems.append(Problem(f"{where}.content_type",
                                    f"one of: {', '.join(sorted(ACCEPTED_TYPES))}"))
        if photo.size is not None and photo.size > max_bytes:
            problems.append(Problem(f"{where}.size", f"at most {max_bytes} bytes"))
    return problems


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
            raise Invalid("the photo is empty")
        # Too large, or not an image at all: HTTP's own answers for an upload (413, 415).
        if len(data) > self.max_bytes:
            raise HTTPException(413, f"the photo is {len(data)} bytes; at most {self.max_bytes} "
                                     "are accepted")
        content_type = sniff_image(data[:16])
        if content_type is None:
            raise HTTPException(415, "only JPEG, PNG or WebP photos are accepted")
        media_id = uuid.uuid4().hex
        await self.collection.insert_one({"_id": media_id, "content_type": content_type,
                                          "size": len(data), "data": Binary(data), "stored_at": now})
        return StoredPhoto(media_id, content_type, len(data))

    async def get(self, media_id: str) -> tuple[str, bytes] | None:
        doc = await self.collection.find_one({"_id": media_id})
        if doc is None:
            return None
        return doc["content_type"], bytes(doc["data"])
