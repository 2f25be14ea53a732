"""Intake's settings (env prefix ZAIBAN_)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import GatheringSettings


class IntakeSettings(GatheringSettings):
    max_photo_bytes: int = Field(default=5 * 1024 * 1024, description="Largest photo accepted.")
    max_photo_pixels: int = Field(
        default=60_000_000,
        description="Largest picture accepted, in pixels (a 50-megapixel phone camera's fit); "
                    "guards against decompression bombs.")
    max_photos: int = Field(default=6, description="Photos per case.")
    duplicate_window_days: int = Field(default=30, description="How far back duplicates are sought.")
    duplicate_radius_m: float = Field(default=300.0, description="Nearby means within this distance.")
    sweep_every_s: float = Field(
        default=5.0, gt=0,
        description="How often the deadline sweep looks for cases past their triage deadline.")
    sweep_batch: int = Field(default=500, ge=1, description="Cases handled per sweep.")
    retention_days: float = Field(
        default=180.0, gt=0,
        description="How long a finished case (closed, rejected, merged) keeps its resident's "
                    "personal data before it is erased by itself.")
    retention_sweep_every_s: float = Field(
        default=3600.0, gt=0, description="How often intake looks for personal data past its time.")
    retention_batch: int = Field(default=500, ge=1, description="Erasures requested per sweep.")
    bus_receipt_days: float = Field(
        default=60.0, gt=0,
        description="How long intake remembers the receipt it gave a submission on the bus, "
                    "so that a redelivery is not answered twice: longer than the submissions "
                    "topic keeps its records (30 days).")
