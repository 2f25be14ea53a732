"""Intake's settings (env prefix ZAIBAN_)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class IntakeSettings(CommonSettings):
    max_photo_bytes: int = Field(default=5 * 1024 * 1024, description="Largest photo accepted.")
    max_photo_pixels: int = Field(
        default=60_000_000,
        description="Largest picture accepted, in pixels (a 50-megapixel phone camera's fit); "
                    "guards against decompression bombs.")
    max_photos: int = Field(default=6, description="Photos per case.")
    duplicate_window_days: int = Field(default=30, description="How far back duplicates are sought.")
    duplicate_radius_m: float = Field(default=300.0, description="Nearby means within this distance.")
