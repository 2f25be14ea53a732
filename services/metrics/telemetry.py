"""Prometheus: the headline figures as gauges, and how the projection is doing.

No personal data, and no label with an unbounded set of values (no case ids).
"""

from __future__ import annotations

import math

from prometheus_client import Counter, Gauge, Histogram

from services.metrics.report import Row
from services.metrics.store import Applied

CASES = Gauge("zaiban_figures_cases", "Headline case counts (see GET /api/stats/definitions)",
              ["figure"])
RATES = Gauge("zaiban_figures_rate", "Headline rates as fractions (NaN when undefined)",
              ["rate"])
DURATIONS = Gauge("zaiban_figures_duration_seconds",
                  "Estimated median (q=0.5) and 90th percentile (q=0.9) durations",
                  ["duration", "q"])

EVENTS = Counter("zaiban_metrics_events_total",
                 "Records the figures saw, by outcome: applied, duplicate (same case seq "
                 "again), stale (after the case finished), redelivered (offset already "
                 "applied), gap (read back from the log to close a hole)", ["outcome"])
BATCHES = Counter("zaiban_metrics_batches_total", "Batches applied to the figures")
CONFLICTS = Counter("zaiban_metrics_write_conflicts_total",
                    "Partition writes lost to another writer and redone")
DEAD_LETTERS = Counter("zaiban_metrics_dead_letters_total",
                       "Records the metrics service could not read, sent to its dead-letter topic")
BATCH_SECONDS = Histogram("zaiban_metrics_batch_seconds", "Time to apply one batch")

HEADLINE_COUNTS = ("received", "accepted", "resolved", "on_time", "open", "feedback",
                   "satisfied", "unanswered", "reopened", "rejected", "merged")


def observe_batch(applied: Applied, seconds: float) -> None:
    BATCHES.inc()
    BATCH_SECONDS.observe(seconds)
    for outcome, count in (("applied", applied.applied), ("duplicate", applied.duplicates),
                           ("stale", applied.stale), ("redelivered", applied.redelivered),
                           ("gap", applied.gap_records)):
        if count:
            EVENTS.labels(outcome).inc(count)
    if applied.conflicts:
        CONFLICTS.inc(applied.conflicts)


def show_headline(row: Row) -> None:
    for name in HEADLINE_COUNTS:
        CASES.labels(name).set(getattr(row, name))
    for rate in ("resolution", "on_time", "satisfaction", "reopen"):
        value = getattr(row, f"{rate}_rate")
        RATES.labels(rate).set(math.nan if value is None else value)
    for duration, figures in (("first_response", row.first_response),
                              ("resolution", row.resolution_time)):
        for q, value in (("0.5", figures.median_s if figures else None),
                         ("0.9", figures.p90_s if figures else None)):
            DURATIONS.labels(duration, q).set(math.nan if value is None else value)
