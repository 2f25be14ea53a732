"""The fault tests kill and restart processes and time how the rest copes: under `make test`'s
two test processes they run one after another in one of them (--dist loadgroup), so no two
fault stories load the machine at once."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(item.path).is_relative_to(HERE):
            item.add_marker(pytest.mark.xdist_group("faults"))
