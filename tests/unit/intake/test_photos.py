"""A resident's photo keeps its picture and loses where it was taken: `strip_metadata`
re-encodes the pixels alone, upright, in the same format; what is no image is refused."""

from __future__ import annotations

import io

import pytest
from photofixtures import (
    TRACES,
    phone_jpeg,
    png_declaring,
    png_with_text,
    small_png,
    srgb_profile,
    two_halves,
    webp_with_exif,
)
from PIL import Image

from services.intake.media import sniff_image, strip_metadata
from services.lifecycle.errors import Invalid

PIXELS = 60_000_000


def stripped(data: bytes, max_pixels: int = PIXELS) -> bytes:
    content_type = sniff_image(data[:16])
    assert content_type is not None
    return strip_metadata(data, content_type, max_pixels=max_pixels)


def opened(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def traces_in(data: bytes) -> list[bytes]:
    return [trace for trace in TRACES if trace in data]


def colour_at(picture: Image.Image, x: int, y: int) -> str:
    red, _, blue = picture.convert("RGB").getpixel((x, y))  # type: ignore[misc]
    return "red" if red > blue else "blue"


def test_a_phone_jpeg_loses_its_gps_xmp_maker_note_and_comment_and_stands_upright() -> None:
    original = phone_jpeg(size=(80, 40))
    assert len(traces_in(original)) == len(TRACES)  # the phone wrote them all

    clean = stripped(original)

    picture = opened(clean)
    assert picture.format == "JPEG"
    assert not picture.getexif()  # no EXIF at all: no GPS IFD, no maker note, no orientation
    assert {"exif", "xmp", "comment"}.isdisjoint(picture.info)
    assert traces_in(clean) == []
    # orientation 6 applied to the pixels: 80×40 sideways becomes 40×80, left half on top
    assert picture.size == (40, 80)
    assert (colour_at(picture, 20, 10), colour_at(picture, 20, 70)) == ("red", "blue")
    assert picture.info["icc_profile"] == srgb_profile()  # colours, not a place: kept


def test_a_png_loses_its_text_chunks_and_exif_and_keeps_every_pixel() -> None:
    original = png_with_text(mode="RGBA")
    clean = stripped(original)

    picture = opened(clean)
    assert picture.format == "PNG" and picture.mode == "RGBA"
    assert not picture.getexif() and not getattr(picture, "text", {})
    assert not any(chunk in clean for chunk in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"))
    assert traces_in(clean) == []
    # lossless, and turned upright: the original's pixels rotated 90° clockwise
    assert picture.tobytes() == two_halves(mode="RGBA").transpose(
        Image.Transpose.ROTATE_270).tobytes()


def test_a_palette_png_keeps_its_transparency() -> None:
    original = io.BytesIO()
    two_halves((16, 16)).convert("P").save(original, "PNG", transparency=0)
    picture = opened(stripped(original.getvalue()))
    assert picture.mode == "P" and picture.info["transparency"] == 0


def test_a_webp_loses_its_exif_and_xmp() -> None:
    clean = stripped(webp_with_exif())
    picture = opened(clean)
    assert picture.format == "WEBP" and picture.size == (40, 80)
    assert not picture.getexif() and "xmp" not in picture.info
    assert b"EXIF" not in clean and b"XMP " not in clean and traces_in(clean) == []
    assert (colour_at(picture, 20, 10), colour_at(picture, 20, 70)) == ("red", "blue")


def test_a_photo_without_metadata_comes_back_the_same_picture() -> None:
    clean = stripped(small_png())
    assert opened(clean).tobytes() == opened(small_png()).tobytes()


def refusal(data: bytes, content_type: str, max_pixels: int = PIXELS) -> str:
    with pytest.raises(Invalid) as refused:
        strip_metadata(data, content_type, max_pixels=max_pixels)
    [problem] = refused.value.problems
    assert problem["where"] == "body.photo"
    return problem["problem"]


def test_what_cannot_be_decoded_as_its_claimed_type_is_refused_naming_the_field() -> None:
    jpeg = phone_jpeg()
    assert "cannot be read as a JPEG" in refusal(jpeg[: len(jpeg) // 2], "image/jpeg")
    assert "cannot be read as a JPEG" in refusal(b"\xff\xd8\xff" + b"hello" * 20, "image/jpeg")
    # a PNG is no JPEG: the bytes must decode as the type their signature claims
    assert "cannot be read as a JPEG" in refusal(small_png(), "image/jpeg")
    assert "cannot be read as a PNG" in refusal(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
    assert "cannot be read as a WebP" in refusal(b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8,
                                                 "image/webp")


def test_a_decompression_bomb_is_refused_before_its_pixels_are_decoded() -> None:
    # beyond the configured limit: refused from the header
    assert "at most 1,000 pixels" in refusal(png_declaring(100, 100), "image/png", max_pixels=1000)
    # far beyond Pillow's own limit too (10 gigapixels in 60 bytes)
    bomb = png_declaring(100_000, 100_000)
    assert len(bomb) < 100
    assert "too many pixels" in refusal(bomb, "image/png")
