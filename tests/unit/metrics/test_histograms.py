"""Duration buckets hold their values, and quantiles land in the bucket of the true value."""

from __future__ import annotations

import math
import random

import pytest

from services.metrics.histograms import bucket_bounds, bucket_of, quantile


def test_duration_buckets_hold_their_values() -> None:
    rng = random.Random(2)
    for seconds in [0, 0.5, 1, 2, 3, 59.9, 60, 3600, 86_400, *[rng.uniform(1, 3e6) for _ in
                                                                range(2000)]]:
        low, high = bucket_bounds(bucket_of(seconds))
        assert low <= seconds < high
        if seconds >= 1:
            assert high / low == pytest.approx(2 ** (1 / 8))


def test_median_and_p90_are_estimated_within_the_bucket_of_the_true_value() -> None:
    rng = random.Random(3)
    for _trial in range(50):
        values = sorted(rng.lognormvariate(10, 1.5) for _ in range(rng.randrange(1, 400)))
        histogram: dict[int, int] = {}
        for value in values:
            histogram[bucket_of(value)] = histogram.get(bucket_of(value), 0) + 1
        for q in (0.5, 0.9):
            true = values[max(1, math.ceil(q * len(values))) - 1]  # nearest rank
            estimate = quantile(histogram, q)
            assert estimate is not None
            low, high = bucket_bounds(bucket_of(true))
            assert low <= estimate <= high
    assert quantile({}, 0.5) is None
    assert quantile({bucket_of(100): 1}, 0.5) == pytest.approx(
        bucket_bounds(bucket_of(100))[1])
