"""Photos residents attach: checked by their bytes, stripped of metadata, kept in intake's store.

The declared content type is not trusted: the first bytes must be those of a
JPEG, PNG or WebP image, and the size must be within the limit. Photos are
stored as documents (one per photo, under the store's 16 MB document limit)
so that any intake instance can serve any photo.

A phone writes where and with what a picture was taken into the file (EXIF
with its GPS position, XMP, maker notes, comments): often the resident's home.
So a photo is decoded and re-encoded before it is kept (`strip_metadata`):
only the pixels survive, turned the way the EXIF orientation said, in the same
format. The ICC colour profile is kept (without it a phone's Display P3 photo
looks washed out); it describes colours, not a place or a person.
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import Binary
from fastapi import HTTPException
from PIL import Image, ImageOps
from pymongo.asynchronous.collection import AsyncCollection

from contracts.case_events import MediaRef
from services.lifecycle.errors import Invalid, Problem

SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"WEBP", 8, "image/webp"),
)


FORMATS = {"image/jpeg": ("JPEG", "JPEG"), "image/png": ("PNG", "PNG"), "image/webp": ("WEBP", "WebP")}
"""Each accepted type: Pillow's name for its format, and ours."""
JPEG_QUALITY = WEBP_QUALITY = 90
"""Re-encoding quality: keeps the detail a case needs (a crack, a sign) at about a phone's size."""
MAX_STORED_BYTES = 15 * 1024 * 1024
"""A re-encoded photo must still fit in one store document (16 MB, with room for the rest)."""
PHOTO = "body.photo"  # the upload's form field, named in refusals like any other field

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


def refused(problem: str) -> Invalid:
    return Invalid.of([Problem(PHOTO, problem)])


def strip_metadata(data: bytes, content_type: str, *, max_pixels: int) -> bytes:
    """The photo re-encoded from its pixels alone: no EXIF (GPS, maker notes), XMP or comments.

    The bytes must decode as the type their signature claims (`content_type`, from
    `sniff_image`), and hold at most `max_pixels`: a few kilobytes can declare a picture
    of gigapixels (a decompression bomb), so the size in the header is checked before
    any pixel is decoded. JPEG stays JPEG, PNG stays PNG (lossless, its transparency
    kept), WebP stays WebP; an animation keeps its first frame. CPU-bound: run it off
    the event loop.
    """
    pillow_format, name = FORMATS[content_type]
    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as opened:
            width, height = opened.size
            if width * height > max_pixels:
                raise refused(f"the photo is {width}×{height} pixels; at most "
                              f"{max_pixels:,} pixels are accepted")
            opened.load()
            icc_profile = opened.info.get("icc_profile")
            transparency = opened.info.get("transparency")
            # Turned the way the EXIF orientation says, before the tag goes with the rest.
            upright = ImageOps.exif_transpose(opened)
        # Only what the encoder is told is written; nothing is carried over from the file.
        upright.info = {} if transparency is None else {"transparency": transparency}
        options: dict[str, Any] = {"icc_profile": icc_profile} if icc_profile else {}
        if pillow_format == "JPEG":
            options["quality"] = JPEG_QUALITY
        elif pillow_format == "WEBP":
            options["quality"] = WEBP_QUALITY
        out = io.BytesIO()
        upright.save(out, format=pillow_format, **options)
    except Invalid:
        raise
    except Image.DecompressionBombError:
        raise refused(f"the photo declares too many pixels; at most {max_pixels:,} "
                      "are accepted") from None
    except Exception:
        # Untrusted bytes: whatever Pillow raises on them (OSError for a truncated file,
        # SyntaxError, ValueError, struct.error, ... for a broken one) means "not an image".
        raise refused(f"the photo cannot be read as a {name} image (damaged, truncated, "
                      "or not really one)") from None
    clean = out.getvalue()
    if len(clean) > MAX_STORED_BYTES:
        raise refused(f"the photo is {len(clean)} bytes once re-encoded; at most "
                      f"{MAX_STORED_BYTES} can be kept: send a smaller picture")
    return clean


OUR_PHOTO = re.compile(r"(?:^|/)media/([0-9a-f]{32})$")
"""The path of a photo this store keeps (`StoredPhoto.url`)."""


@dataclass(frozen=True)
class StoredPhoto:
    media_id: str
    content_type: str
    size: int

    @property
    def url(self) -> str:
        return f"/media/{self.media_id}"


class PhotoStore:
    """Photos by id; only their stripped bytes are ever stored (`strip_metadata`)."""

    REENCODING_AT_ONCE = 2
    """Decoding holds a whole picture in memory (3 bytes a pixel): a few at a time."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], max_bytes: int,
                 max_pixels: int) -> None:
        self.collection = collection
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.reencoding = asyncio.Semaphore(self.REENCODING_AT_ONCE)

    async def put(self, data: bytes, now: datetime) -> StoredPhoto:
        if not data:
            raise refused("the photo is empty")
        # Too large, or not an image at all: HTTP's own answers for an upload (413, 415).
        if len(data) > self.max_bytes:
            raise HTTPException(413, f"the photo is {len(data)} bytes; at most {self.max_bytes} "
                                     "are accepted")
        content_type = sniff_image(data[:16])
        if content_type is None:
            raise HTTPException(415, "only JPEG, PNG or WebP photos are accepted")
        async with self.reencoding:
            data = await asyncio.to_thread(strip_metadata, data, content_type,
                                           max_pixels=self.max_pixels)
        media_id = uuid.uuid4().hex
        await self.collection.insert_one({"_id": media_id, "content_type": content_type,
                                          "size": len(data), "data": Binary(data), "stored_at": now})
        return StoredPhoto(media_id, content_type, len(data))

    async def get(self, media_id: str) -> tuple[str, bytes] | None:
        doc = await self.collection.find_one({"_id": media_id})
        if doc is None:
            return None
        return doc["content_type"], bytes(doc["data"])

    async def delete(self, media: Sequence[MediaRef]) -> int:
        """Delete the photos of ours these references name (`/media/<id>`, or a full URL
        ending so); how many there were. A photo kept elsewhere is not ours to delete."""
        deleted = 0
        for ref in media:
            found = OUR_PHOTO.search(ref.url)
            if found:
                result = await self.collection.delete_one({"_id": found.group(1)})
                deleted += result.deleted_count
        return deleted
