"""Settings of the tracking service (env prefix `ZAIBAN_`, e.g. `ZAIBAN_TRACKING_LIVE_POLL_S`)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class TrackingSettings(CommonSettings):
    tracking_batch_max: int = Field(
        default=2000, ge=1, le=20_000,
        description="Records of the case log per batch at most (live, a batch holds what "
                    "came in a moment; catching up, this many). Each case a batch touches is "
                    "one document written: larger batches write a case once for more of its "
                    "events (`zaiban bench seed` at the article's volume: 500 took 102 s, "
                    "2,000 took 60 s), and hold more envelopes at once (~7 KB each).")
    tracking_live_poll_s: float = Field(
        default=0.5, gt=0, le=30,
        description="How often an open live stream checks the store for news from other "
                    "instances (news projected by this instance arrive at once).")
    tracking_live_heartbeat_s: float = Field(
        default=15.0, gt=0, description="Seconds between keep-alive comments on a live stream.")
    tracking_live_max_age_s: float = Field(
        default=3600.0, gt=0,
        description="A live stream ends after this long; EventSource reconnects with "
                    "Last-Event-ID and misses nothing.")
    tracking_feed_cache_s: float = Field(
        default=10.0, ge=0, le=300,
        description="How long an instance answers a feed (`/feeds/...atom`) from the cases it "
                    "read last, whoever asks: feed readers poll, many of them the same feeds. "
                    "0 reads the store for every request.")
    tracking_kept_views: int = Field(
        default=2_000, ge=0, le=100_000,
        description="Views of cases an instance keeps in memory, the ones listed or projected "
                    "last (a view is some 10-45 KB): the newest pages, Open311's window and the "
                    "feeds are asked again and again, and the projection folds a case's next "
                    "event onto the view it wrote last. 0 reads each from the store.")
