"""Importing a Weibo export: good rows become submissions, bad rows are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.facts import Channel
from services.common.catalogue import load_city
from services.common.settings import REPO_ROOT
from zaiban.social import prepare, read_rows

CITY = load_city(REPO_ROOT / "deploy" / "config")


def test_csv_and_json_exports_become_submissions_keyed_by_post(tmp_path: Path) -> None:
    csv_file = tmp_path / "weibo.csv"
    csv_file.write_text(
        "id,text,category,district,street,name\n"
        "9001,金水路和经三路交叉口的路面塌了一个大坑,roads,jinshui,金水路经三路口,王先生\n"
        "9002,短,roads,jinshui,金水路,\n"
        "9003,小区暖气一直不热已经一周了,heating,mars,某小区,\n", encoding="utf-8")
    ready, skipped = prepare(read_rows(csv_file), CITY, Channel.WEIBO,
                             default_category="inquiry", default_district="zhongyuan")
    assert [c.submission_id for c in ready] == ["weibo:9001"]
    assert ready[0].channel is Channel.WEIBO and ready[0].contact is not None
    assert [(s.number, s.reason.split(":")[0]) for s in skipped] == [
        (2, "invalid"), (3, "body.location.district")]

    json_file = tmp_path / "wechat.json"
    json_file.write_text(json.dumps({"posts": [
        {"id": "wx1", "text": "请问地铁6号线什么时候开通？", "street": "地铁6号线"}]},
        ensure_ascii=False), encoding="utf-8")
    ready, skipped = prepare(read_rows(json_file), CITY, Channel.WECHAT,
                             default_category="inquiry", default_district="zhongyuan")
    assert not skipped and ready[0].category == "inquiry" and ready[0].location.district == "zhongyuan"


def test_a_post_travels_the_bus_sealed_for_intake_and_opens_as_it_was() -> None:
    from contracts.case_commands import SealedSubmission, SubmitCase
    from services.common.keys import SUBMISSION_KEY, DataKey, open_for, public_key_of
    from zaiban.social import bus_message

    intake_key = DataKey.new(SUBMISSION_KEY)
    command = SubmitCase.model_validate({
        "category": "traffic-signals", "description": "沙口路红绿灯不亮，请联系13812345678。",
        "location": {"district": "zhongyuan", "street": "沙口路"}, "channel": "weibo",
        "contact": {"name": "王先生", "phone": "13812345678"}, "submission_id": "weibo:1"})
    message = bus_message(command, public_key_of(intake_key))
    assert b"13812345678" not in message and "王先生".encode() not in message
    sealed = SealedSubmission.model_validate_json(message).sealed
    assert SubmitCase.model_validate_json(open_for(intake_key, sealed)) == command


def test_a_post_is_answered_in_its_own_language_within_a_weibo_comment() -> None:
    from zaiban.social import MAX_REPLY, post_language, reply_text

    case_id = "ZB261006-7K3M-9QXA"
    assert post_language("沙口路的红绿灯不亮了，请尽快修") == "zh-Hans"
    assert post_language("請問這條路的路燈為什麼不亮？") == "zh-Hant"
    assert post_language("The lights on Shakou Road are dark") == "en"
    site = "https://zaiban.zhengzhou.example"
    for language, words in (("zh-Hans", "已登记为案件"), ("zh-Hant", "已登記為案件"),
                            ("en", "Recorded as case")):
        linked, bare = reply_text(case_id, language, site), reply_text(case_id, language, None)
        assert words in linked and words in bare, language
        assert f"{site}/cases/{case_id}" in linked and "http" not in bare
        assert case_id in bare and len(linked) <= MAX_REPLY and len(bare) <= MAX_REPLY
    # a long address drops the explanation before it would overflow the comment
    long_site = "https://" + "x" * 40 + ".example"
    assert reply_text(case_id, "en", long_site).startswith(f"Recorded as case {case_id}. Fo")
    assert len(reply_text(case_id, "en", long_site)) <= MAX_REPLY
    with pytest.raises(ValueError, match="shorter --site"):
        reply_text(case_id, "en", "https://" + "x" * 200)


def test_one_reply_line_per_post_whatever_became_of_it(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from contracts.receipts import SubmissionReceipt
    from zaiban.social import Skipped, reply_rows, write_replies

    export = tmp_path / "weibo.jsonl"
    export.write_text("\n".join(json.dumps(post, ensure_ascii=False) for post in [
        {"id": 1, "text": "金水路和经三路交叉口的路面塌了一个大坑", "category": "roads",
         "district": "jinshui", "street": "金水路经三路口", "author": "@老王"},
        {"id": 2, "text": "請問地鐵六號線什麼時候開通？", "street": "地鐵6號線"},
        {"id": 3, "text": "When does metro line 6 open?", "street": "Line 6", "language": "en"},
    ]) + "\n", encoding="utf-8")
    ready, skipped = prepare(read_rows(export), CITY, Channel.WEIBO,
                             default_category="inquiry", default_district="zhongyuan")
    assert [c.language for c in ready] == ["zh-Hans", "zh-Hant", "en"] and not skipped
    assert "老王" not in ready[0].model_dump_json()  # the author's handle is not kept
    now = datetime(2026, 10, 6, tzinfo=UTC)
    receipts = {
        "weibo:1": SubmissionReceipt(submission_id="weibo:1", outcome="recorded",
                                     case_id="ZB261006-AAAA-BBBB", issued_at=now),
        "weibo:2": SubmissionReceipt(submission_id="weibo:2", outcome="refused",
                                     reason="refused: too many photos", issued_at=now)}

    rows = reply_rows(ready, [Skipped(7, "no post id")], receipts, None)

    assert [(r["post_id"], r["case_id"]) for r in rows] == [
        ("1", "ZB261006-AAAA-BBBB"), ("2", None), ("3", None), (None, None)]
    assert rows[0]["reply"] == ("您反映的问题已登记为案件 ZB261006-AAAA-BBBB，信息员审核后转交"
                                "承办单位办理，凭案件号可查询进展。")
    assert rows[1]["refused"] == "refused: too many photos" and rows[1]["reply"] is None
    assert "no receipt from intake yet" in rows[2]["refused"]
    assert rows[3]["refused"] == "row 7: no post id"
    write_replies(tmp_path / "replies.jsonl", rows)
    write_replies(tmp_path / "replies.csv", rows)
    assert [json.loads(line) for line in
            (tmp_path / "replies.jsonl").read_text(encoding="utf-8").splitlines()] == rows
    table = (tmp_path / "replies.csv").read_text(encoding="utf-8-sig").splitlines()
    assert table[0] == "post_id,case_id,reply,refused,language"
    assert table[1].startswith("1,ZB261006-AAAA-BBBB,您反映的问题已登记为案件")
