"""`zaiban import social` on the real stack, as a newsroom runs it: the posts of a Weibo export
go to intake over the bus, and the command writes, per post, the case it became and the reply
to post under it — in the post's language, short enough for a Weibo comment."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import read_events, running
from typer.testing import CliRunner

from services.common.settings import CommonSettings
from services.composition import build
from services.lifecycle.codes import tracking_code_for
from zaiban.cli import app as cli

pytestmark = pytest.mark.stack

SITE = "https://zaiban.zhengzhou.example"
POSTS = [
    {"id": "4990001", "author": "@老郑", "time": "2026-10-06T08:30:00+08:00",
     "text": "沙口路王府坟菜市场门口的红绿灯全都不亮了，过马路太危险，电话13812345678",
     "category": "roads", "district": "jinshui", "street": "沙口路王府坟菜市场门口"},
    {"id": "4990002", "author": "@阿明", "time": "2026-10-06T09:00:00+08:00",
     "text": "請問這條路的路燈為什麼一直不開？晚上回家很黑", "category": "inquiry",
     "district": "erqi", "street": "大學路"},
    {"id": "4990003", "author": "@visitor", "time": "2026-10-06T10:00:00+08:00",
     "text": "When will the metro line 6 open? The signs at the station say nothing.",
     "street": "Metro line 6"},
    {"id": "4990004", "author": "@someone", "text": "火星上的路坏了", "district": "mars",
     "street": "火星路"},
]


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_an_import_writes_one_reply_per_post_with_the_case_it_became(
        settings: CommonSettings, tmp_path: Path) -> None:
    export = tmp_path / "weibo.jsonl"
    export.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in POSTS),
                      encoding="utf-8")
    environment = {"ZAIBAN_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                   "ZAIBAN_TOPIC_PREFIX": settings.topic_prefix,
                   "ZAIBAN_MONGO_URL": settings.mongo_url, "ZAIBAN_DB_PREFIX": settings.db_prefix}

    def zaiban(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["import", "social", str(export), "--site", SITE,
                                          *args], env=environment)
        return result.exit_code, result.stdout, result.stderr

    intake = build("intake", settings)
    async with running(intake):
        code, said, warned = await asyncio.to_thread(zaiban)
        assert code == 0, (said, warned)
        assert "row 4: skipped: body.location.district" in warned
        replies = tmp_path / "weibo.replies.jsonl"
        assert said.strip() == f"3 posts are cases, 1 are not; one reply per post in {replies}"
        first = lines(replies)

        # imported again (the newsroom lost the file): the same cases, no new ones
        code, _, warned = await asyncio.to_thread(zaiban, "--replies",
                                                  str(tmp_path / "again.csv"))
        assert code == 0, warned
        again = (tmp_path / "again.csv").read_text(encoding="utf-8-sig")

    events = await read_events(settings)
    cases = {e.data["external_ref"]: e.case_id for e in events if e.type == "CaseSubmitted"}
    assert len(events) == 3 and sorted(cases) == ["weibo:4990001", "weibo:4990002",
                                                  "weibo:4990003"]
    assert [row["post_id"] for row in first] == ["4990001", "4990002", "4990003", "4990004"]
    by_post = {row["post_id"]: row for row in first}
    for post in ("4990001", "4990002", "4990003"):
        row = by_post[post]
        assert row["case_id"] == cases[f"weibo:{post}"] and row["refused"] is None
        assert row["case_id"] in row["reply"] and len(row["reply"]) <= 140
        assert f"{SITE}/cases/{row['case_id']}" in row["reply"]
        assert row["case_id"] in again
    assert (by_post["4990001"]["language"], by_post["4990002"]["language"],
            by_post["4990003"]["language"]) == ("zh-Hans", "zh-Hant", "en")
    assert "已登记为案件" in by_post["4990001"]["reply"]
    assert "已登記為案件" in by_post["4990002"]["reply"]
    assert by_post["4990003"]["reply"].startswith("Recorded as case ")
    assert by_post["4990004"]["case_id"] is None and by_post["4990004"]["reply"] is None
    assert "unknown district 'mars'" in by_post["4990004"]["refused"]
    # the reply is public: nothing of the resident, no tracking code
    written = replies.read_text(encoding="utf-8")
    assert "13812345678" not in written and "老郑" not in written
    for case_id in cases.values():
        assert tracking_code_for(intake.settings.secret(), case_id) not in written + again
    # and each case is kept in its post's language
    assert {e.data["external_ref"]: e.data["language"] for e in events} == {
        "weibo:4990001": "zh-Hans", "weibo:4990002": "zh-Hant", "weibo:4990003": "en"}
