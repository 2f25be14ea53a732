"""Settings of the metrics service (env prefix `ZAIBAN_`, e.g. `ZAIBAN_METRICS_BATCH_MAX`)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import GatheringSettings


class MetricsSettings(GatheringSettings):
    metrics_collection: str = Field(
        default="figures", pattern=r"^[a-z][a-z0-9_]{0,62}$",
        description="The collection of the figures (one document per log partition).")
    metrics_batch_max: int = Field(
        default=5000, ge=1, le=20_000,
        description="Records per batch at most; each partition of a batch is one store write.")
    metrics_dedupe_window: int = Field(
        default=2_000_000, ge=1000,
        description="Records of a partition during which a finished case's last seq is "
                    "remembered, to recognise a duplicated record of it.")
    metrics_gauge_refresh_s: float = Field(
        default=5.0, gt=0, le=3600,
        description="How often the Prometheus gauges of the headline figures are refreshed.")
    metrics_ranking_min_cases: int = Field(
        default=10, ge=1, le=1_000_000,
        description="Departments with fewer cases received (in the period asked for) are left "
                    "out of the ranking, and the ranking says which.")
