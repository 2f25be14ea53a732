"""Routing's settings: the feedback window, the sweep.

Every value comes from the environment with the prefix `ZAIBAN_`; durations
are ISO 8601 (`ZAIBAN_FEEDBACK_REMINDER=P7D`, `ZAIBAN_FEEDBACK_WINDOW=P10D`).
The deadlines of cases are the city's (`deploy/config/deadlines.yaml`, `calendar.yaml`).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from services.common.catalogue import CityConfig
from services.common.settings import CommonSettings
from services.lifecycle.policy import Policy


class RoutingSettings(CommonSettings):
    feedback_reminder: timedelta = Field(
        default=timedelta(days=7),
        description="A resolved case with no answer from its resident after this long: the "
                    "resident is asked once more (ResidentAskedAgain). Shorter than the window.",
    )
    feedback_window: timedelta = Field(
        default=timedelta(days=10),
        description="A resolved case with no answer from its resident closes after this long "
                    "(and never sooner than the window's rest after the asking again).",
    )
    sweep_every_s: float = Field(
        default=5.0, gt=0, description="How often the deadline sweep looks for due cases."
    )
    sweep_batch: int = Field(default=500, ge=1, description="Cases handled per sweep and rule.")
    relay_every_s: float = Field(
        default=5.0, gt=0, description="How often outboxes left by a crash are published."
    )
    routing_reacts: bool = Field(
        default=True,
        description=(
            "React to the log (auto-route, sweep deadlines). Turn off to rebuild routing's "
            "store by replaying the log without deciding anything again."
        ),
    )

    def policy(self, city: CityConfig, *, version: int | None = None) -> Policy:
        """What the lifecycle's deciders decide with, in `city` (at configuration `version`),
        as configured."""
        return Policy(city=city, feedback_reminder=self.feedback_reminder,
                      feedback_window=self.feedback_window, config_version=version)
