"""Durations as histograms: logarithmic buckets of seconds, and quantiles read from them.

Durations are kept with `BUCKETS_PER_DOUBLING` buckets per doubling of
seconds: a median or 90th percentile is an estimate that lies within the
bucket holding the true value (at most 9% wide), see `quantile`. The counts
and rates are exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

BUCKETS_PER_DOUBLING = 8
"""Bucket b >= 0 holds durations in [2^(b/8), 2^((b+1)/8)) seconds, 9% wide; b = -1 holds [0, 1)."""


def bucket_of(seconds: float) -> int:
    if seconds < 1:
        return -1
    b = math.floor(BUCKETS_PER_DOUBLING * math.log2(seconds))
    # guard float error at the edges so bounds(b) always contains `seconds`
    while seconds < bucket_bounds(b)[0]:
        b -= 1
    while seconds >= bucket_bounds(b)[1]:
        b += 1
    return b


def bucket_bounds(b: int) -> tuple[float, float]:
    if b < 0:
        return 0.0, 1.0
    return 2 ** (b / BUCKETS_PER_DOUBLING), 2 ** ((b + 1) / BUCKETS_PER_DOUBLING)


def quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (nearest rank: the value of rank ceil(q*n)) estimated from `histogram`.

    The walk finds the bucket holding that rank, so the estimate lies in the same
    bucket as the true value; within it, it interpolates geometrically by rank.
    """
    n = sum(count for count in histogram.values() if count > 0)
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for b in sorted(histogram):
        count = histogram[b]
        if count <= 0:
            continue
        if seen + count >= rank:
            share = (rank - seen) / count
            low, high = bucket_bounds(b)
            if b < 0:
                return low + (high - low) * share
            return float(low * (high / low) ** share)
        seen += count
    return None  # pragma: no cover - rank <= n
