"""The lists over HTTP, as a client pages them: `next` cursors, a period in city dates, and
a clear 422 for a cursor or a date it cannot use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from helpers import client_for
from unit.tracking.test_tracking_audit import SETTINGS, TOKENS, Keys
from unit.tracking.tracking_stories import CITY, day, submitted

from services.common.cityconfig import LiveCity
from services.common.clock import ManualClock
from services.common.http import install_error_handlers
from services.lifecycle.history import History
from services.tracking.api import install_routes
from services.tracking.live import Signals
from services.tracking.store import TimelineStore, document, row_fields
from services.tracking.timeline import fold


class Documents:
    """What the lists read of the store: documents by `_id`."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.database: dict[str, dict[str, Any]] = {"tracking_codes": {}}

    async def find_one(self, query: dict[str, Any], *_: Any, **__: Any) -> dict[str, Any] | None:
        return self.documents.get(query["_id"])


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    documents = Documents()
    store = TimelineStore(documents)  # type: ignore[arg-type]
    for n in range(30):  # one a day from 10-01, 08:00 UTC (16:00 in Zhengzhou)
        case_id = f"ZB2610{n:02d}-LIST-{n:04d}"
        story = History(case_id).given(day("10-01", 8) + timedelta(days=n), submitted(case_id))
        view = fold(None, story.envelopes)
        assert view is not None
        documents.documents[case_id] = document(view)
        store.rows.put(row_fields(view))
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter()
    install_routes(router, store=store, city=LiveCity(CITY), settings=SETTINGS,
                   signals=Signals(), keys=Keys(),
                   audit=None,  # type: ignore[arg-type]
                   tokens=TOKENS, clock=ManualClock(day("11-01")))
    app.include_router(router)
    async with client_for(app) as client:
        yield client


async def test_a_client_pages_the_whole_list_by_its_next_cursors(http: httpx.AsyncClient) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 7}
    while True:
        answer = await http.get("/api/cases", params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        seen.extend(item["case_id"] for item in page["items"])
        assert page["total"] == 30
        if page["next"] is None:
            break
        params = {"limit": 7, "after": page["next"]}
    assert len(seen) == len(set(seen)) == 30
    assert seen == sorted(seen, reverse=True)  # newest first


async def test_a_period_is_city_dates_both_included(http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/cases", params={"since": "2026-10-03", "until": "2026-10-05",
                                                  "limit": 50})
    assert answer.status_code == 200, answer.text
    assert [item["case_id"][:8] for item in answer.json()["items"]] == [
        "ZB261004", "ZB261003", "ZB261002"]  # submitted 10-05, 10-04, 10-03 (city dates)


@pytest.mark.parametrize(("params", "named"), [
    ({"after": "not-a-cursor"}, "after"),
    ({"until": "9999-12-31"}, "until"),
    ({"since": "2026-02-30"}, "since"),
    ({"since": "0001-01-01"}, "since"),
])
async def test_what_a_list_cannot_use_is_a_422_naming_it(
        http: httpx.AsyncClient, params: dict[str, str], named: str) -> None:
    answer = await http.get("/api/cases", params=params)
    assert answer.status_code == 422
    assert named in answer.text
