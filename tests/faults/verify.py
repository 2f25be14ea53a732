"""The fault tests' checks: `zaiban.chaos.verify`'s."""

from zaiban.chaos.verify import (
    clean_replay,
    dead_letters,
    metrics_caught_up,
    metrics_counters,
    the_log,
    tracking_caught_up,
)

__all__ = ["clean_replay", "dead_letters", "metrics_caught_up", "metrics_counters", "the_log",
           "tracking_caught_up"]
