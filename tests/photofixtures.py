"""Photos as phones send them, made with Pillow: real pictures carrying what a phone writes
into the file (EXIF with the GPS position, XMP, a maker note, a comment, an orientation), and
the bad ones (truncated, not an image, a decompression bomb)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo
from PIL.TiffImagePlugin import IFDRational

ORIENTATION, MAKE, EXIF_IFD, GPS_IFD, MAKER_NOTE, USER_COMMENT = (
    0x0112, 0x010F, 0x8769, 0x8825, 0x927C, 0x9286)
ROTATE_90_CW = 6
"""EXIF orientation 6: the sensor's picture is shown turned 90° clockwise."""

# Where the picture was taken (a home in Zhengzhou), as the GPS IFD stores it: degrees,
# minutes and seconds as rationals; the seconds are distinctive enough to find in raw bytes.
LATITUDE = (IFDRational(34), IFDRational(45), IFDRational(1234567, 100000))
LONGITUDE = (IFDRational(113), IFDRational(37), IFDRational(5678901, 100000))
GPS_VALUES = (struct.pack(">II", 1234567, 100000), struct.pack(">II", 5678901, 100000))
"""The GPS seconds as they sit in the file (big-endian rationals, as Pillow writes them)."""

XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
       b'exif:GPSLatitude="34,45.2057N" exif:GPSLongitude="113,37.9465E"/></rdf:RDF></x:xmpmeta>')
MAKER_NOTE_TEXT = b"HUAWEI-MAKERNOTE-SERIAL-4G7QX2"
COMMENT = b"at home, 3rd floor"
TRACES = (b"Exif\x00\x00", b"http://ns.adobe.com/xap", b"GPSLatitude", MAKER_NOTE_TEXT,
          COMMENT, b"HUAWEI", *GPS_VALUES)
"""What must not be found anywhere in a stripped photo's bytes."""


def phone_exif(orientation: int = ROTATE_90_CW) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "HUAWEI"
    exif[EXIF_IFD] = {MAKER_NOTE: MAKER_NOTE_TEXT,
                      USER_COMMENT: b"ASCII\x00\x00\x00" + COMMENT}
    exif[GPS_IFD] = {1: "N", 2: LATITUDE, 3: "E", 4: LONGITUDE}
    return exif


def two_halves(size: tuple[int, int] = (80, 40), mode: str = "RGB") -> Image.Image:
    """Red on the left half, blue on the right: shows which way a picture was turned."""
    width, height = size
    picture = Image.new(mode, size, "blue")
    picture.paste(Image.new(mode, (width // 2, height), "red"), (0, 0))
    return picture


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def phone_jpeg(size: tuple[int, int] = (80, 40)) -> bytes:
    """A JPEG as a phone writes it: sideways pixels with orientation 6, GPS, XMP, maker
    note, comment and an ICC profile."""
    out = io.BytesIO()
    two_halves(size).save(out, "JPEG", quality=95, exif=phone_exif(), xmp=XMP,
                          comment=COMMENT, icc_profile=srgb_profile())
    return out.getvalue()


def png_with_text(mode: str = "RGBA") -> bytes:
    info = PngInfo()
    info.add_text("Comment", COMMENT.decode())
    info.add_text("Location", "34.7534N 113.6324E", zip=True)
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    out = io.BytesIO()
    two_halves(mode=mode).save(out, "PNG", pnginfo=info, exif=phone_exif())
    return out.getvalue()


def webp_with_exif() -> bytes:
    out = io.BytesIO()
    two_halves().save(out, "WEBP", quality=95, exif=phone_exif(), xmp=XMP)
    return out.getvalue()


def small_png() -> bytes:
    """A plain small photo, no metadata."""
    out = io.BytesIO()
    two_halves((16, 16)).save(out, "PNG")
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A decompression bomb's header: a few dozen bytes that claim width × height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
