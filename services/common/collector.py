"""Python's cycle collector, set for processes that fold the log.

A projection allocates many short-lived objects per event (the envelope, its facts, the
views or marks it folds) and keeps a large heap besides (the views in memory, the lists'
rows). With the default thresholds (700, 10, 10) the collector runs every few events and,
often enough, walks the whole heap: measured on the bench's histories, a third of the CPU
of folding tracking's views and 40% of folding the figures (`zaiban bench projections`,
`zaiban bench replay`, profiled). The folds make no reference cycles of their own, so
collecting less often frees the same memory, a little later.
"""

from __future__ import annotations

import gc

YOUNG = 50_000
"""Allocations (of objects the collector tracks) between two collections of the youngest
generation: ~70 times the default, a few MB of garbage at most."""
MIDDLE = 50
OLDEST = 100


def for_folding() -> None:
    """Collect cycles less often in this process (idempotent; never lowers what is set)."""
    young, middle, oldest = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG), max(middle, MIDDLE), max(oldest, OLDEST))
