"""Importing a Weibo export: good rows become submissions, bad rows are named."""

from __future__ import annotations

import json
from pathlib import Path

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
