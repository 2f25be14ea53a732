"""Settings of the open-data service (env prefix `ZAIBAN_`, e.g. `ZAIBAN_OPENDATA_GRACE_S`)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import GatheringSettings


class OpenDataSettings(GatheringSettings):
    opendata_batch_max: int = Field(
        default=2000, ge=1, le=20_000,
        description="Records per batch at most; a batch is one insert of its lines.")
    opendata_grace_s: float = Field(
        default=600.0, ge=0, le=7 * 86400,
        description="A city day is published this long after it ended, at the earliest: "
                    "events recorded just before midnight have time to reach the log.")
    opendata_settle_s: float = Field(
        default=30.0, ge=0, le=3600,
        description="A day is published only when the feed has caught up with the log and "
                    "projected nothing for this long.")
    opendata_publish_every_s: float = Field(
        default=30.0, gt=0, le=3600,
        description="How often the publisher looks for a day it may publish.")
    opendata_poll_s: float = Field(
        default=1.0, gt=0, le=60,
        description="How often a live stream (events.sse) looks for new lines.")
    opendata_live_heartbeat_s: float = Field(
        default=15.0, gt=0, le=600,
        description="A quiet live stream sends a comment line this often, so proxies keep it.")
    opendata_live_max_age_s: float = Field(
        default=3600.0, gt=0, le=86400,
        description="A live stream ends after this long; the client reconnects with its "
                    "Last-Event-ID and misses nothing.")
