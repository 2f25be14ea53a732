"""A replay on a log with nothing in it yet — a newcomer's first `zaiban replay` on a fresh
stack — rebuilds empty read models, rather than failing to swap in a collection nothing was
written to (FerretDB renames only a collection that exists)."""

from __future__ import annotations

import pytest
from servicefixtures import settings_in
from stackfixtures import a_namespace

from services.metrics.replay import rebuild as rebuild_metrics
from services.tracking.replay import rebuild as rebuild_tracking
from zaiban.infra import StackInfo

pytestmark = pytest.mark.stack


async def test_both_read_models_rebuild_empty_from_a_log_with_nothing_in_it(
        stack: StackInfo) -> None:
    async with a_namespace(stack) as namespace, settings_in(namespace) as settings:
        tracking = await rebuild_tracking(settings)
        figures = await rebuild_metrics(settings)
    assert (tracking.events, tracking.cases, tracking.unreadable) == (0, 0, 0)
    assert (figures.events, figures.received, figures.resolved) == (0, 0, 0)
