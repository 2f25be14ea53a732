"""Importing a social-media export (Weibo, WeChat) as cases, and the replies to post back.

Each post becomes a `SubmitCase` published on the submissions topic, sealed
for intake (`bus_message`: a post may name its author and their phone, which no
topic carries in clear), where intake opens it and checks it exactly like a
web submission. The post's id becomes the
submission id, so importing the same export twice makes no second case.
Rows that cannot become a case are reported with their row number and why,
before anything is sent.

Intake answers each submission on the receipts topic (`contracts/receipts.py`);
the import reads those answers (`collect_receipts`) and writes one line per post
(`reply_rows`): the case number and a reply for the newsroom to post under the
post (`reply_text`: in the post's language, at most 140 characters, with the case
number and, given the site's address, the case's page), or why no case was made.
A reply is public: it carries the case number, never the tracking code.

Exports: CSV (a header row), JSON (a list, or `{"posts": [...]}`) or JSON lines
(`.jsonl`, one post an object). Columns: `id`, `text`, and optionally `category`,
`district`, `street`, `address`, `lat`, `lon`, `name`, `phone`, `language`
(`zh-Hans`, `zh-Hant` or `en`; else told from the text, `post_language`). Other
columns (the author's handle, the time) are not kept: a case needs neither.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError

from contracts.case_commands import SealedSubmission, SubmitCase
from contracts.facts import Channel
from contracts.receipts import SubmissionReceipt
from contracts.topics import Topics
from services.common.bus import describe_error
from services.common.catalogue import LANGUAGES, CityConfig, Language
from services.common.kafka import ADMIN, kafka_options
from services.common.keys import SUBMISSION_KEY, seal_for
from services.common.settings import CommonSettings
from services.lifecycle.submitting import check_submission


@dataclass(frozen=True)
class Row:
    number: int
    fields: dict[str, Any]


@dataclass(frozen=True)
class Skipped:
    number: int
    reason: str
    post_id: str | None = None


def read_rows(path: Path) -> Iterator[Row]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                item = json.loads(line)
                yield Row(number, item if isinstance(item, dict) else {})
    elif path.suffix.lower() == ".json":
        data = json.loads(text)
        items = data.get("posts", data) if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ValueError(f"{path}: expected a list of posts (or {{'posts': [...]}})")
        for number, item in enumerate(items, start=1):
            yield Row(number, item if isinstance(item, dict) else {})
    else:
        for number, item in enumerate(csv.DictReader(text.splitlines()), start=1):
            yield Row(number, {k.strip(): v for k, v in item.items() if k})


def to_submission(row: Row, channel: Channel, *, default_category: str,
                  default_district: str) -> SubmitCase:
    fields = row.fields

    def value(name: str) -> Any:
        item = fields.get(name)
        return item.strip() if isinstance(item, str) else item

    post_id = value("id")
    if not post_id:
        raise ValueError("no post id")
    contact = {k: value(k) for k in ("name", "phone") if value(k)}
    location: dict[str, Any] = {
        "district": value("district") or default_district,
        "street": value("street") or "",
        "address": value("address") or "",
    }
    if value("lat") not in (None, "") and value("lon") not in (None, ""):
        location["lat"], location["lon"] = float(value("lat")), float(value("lon"))
    language = value("language") or post_language(str(value("text") or ""))
    if language not in LANGUAGES:
        raise ValueError(f"language: {language!r} is not one of {', '.join(LANGUAGES)}")
    return SubmitCase.model_validate({
        "category": value("category") or default_category,
        "description": value("text") or "",
        "location": location,
        "channel": channel.value,
        "contact": contact or None,
        "language": language,
        "external_ref": f"{channel.value}:{post_id}",
        "submission_id": f"{channel.value}:{post_id}",
    })


def bus_message(command: SubmitCase, recipient: bytes) -> bytes:
    """The submission as the bus carries it: sealed for intake's key (`recipient`)."""
    sealed = seal_for(recipient, SUBMISSION_KEY, command.model_dump_json().encode())
    return SealedSubmission(sealed=sealed).model_dump_json().encode()


def prepare(rows: Iterable[Row], city: CityConfig, channel: Channel, *, default_category: str,
            default_district: str) -> tuple[list[SubmitCase], list[Skipped]]:
    ready: list[SubmitCase] = []
    skipped: list[Skipped] = []
    for row in rows:
        raw_id = row.fields.get("id")
        post_id = str(raw_id).strip() if isinstance(raw_id, str | int) else None
        try:
            command = to_submission(row, channel, default_category=default_category,
                                    default_district=default_district)
        except ValidationError as error:
            skipped.append(Skipped(row.number, describe_error(error), post_id))
            continue
        except (ValueError, TypeError) as error:
            skipped.append(Skipped(row.number, str(error), post_id))
            continue
        problems = check_submission(command, city)
        if problems:
            skipped.append(Skipped(row.number, "; ".join(f"{p.where}: {p.problem}"
                                                         for p in problems), post_id))
            continue
        ready.append(command)
    return ready, skipped


# --- the replies -------------------------------------------------------------------------------

MAX_REPLY = 140
"""A Weibo comment's length, which WeChat's replies are well within."""

# Characters written differently in simplified and traditional Chinese, common in requests.
_SIMPLIFIED = "这们说为请问题灯号区来时会对发现与该还过点让车门间开关电话没处实东马见长书买卖网边头个气坏楼红绿烂热难脏扰务办乱报应谁几给觉后里吗"
_TRADITIONAL = "這們說為請問題燈號區來時會對發現與該還過點讓車門間開關電話沒處實東馬見長書買賣網邊頭個氣壞樓紅綠爛熱難髒擾務辦亂報應誰幾給覺後裡嗎"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

REPLIES: dict[Language, tuple[str, ...]] = {
    # longest first: the first that fits in MAX_REPLY is used
    "zh-Hans": ("您反映的问题已登记为案件 {case_id}，信息员审核后转交承办单位办理。办理进展：{page}",
                "已登记为案件 {case_id}，办理进展：{page}",
                "您反映的问题已登记为案件 {case_id}，信息员审核后转交承办单位办理，凭案件号可查询进展。"),
    "zh-Hant": ("您反映的問題已登記為案件 {case_id}，信息員審核後轉交承辦單位辦理。辦理進展：{page}",
                "已登記為案件 {case_id}，辦理進展：{page}",
                "您反映的問題已登記為案件 {case_id}，信息員審核後轉交承辦單位辦理，憑案件號可查詢進展。"),
    "en": ("Recorded as case {case_id}: an officer reviews it, then the department "
           "responsible handles it. Follow it at {page}",
           "Recorded as case {case_id}. Follow it at {page}",
           "Recorded as case {case_id}: an officer reviews it, then the department "
           "responsible handles it."),
}


def post_language(text: str) -> Language:
    """A post's language as its text shows it: Chinese (traditional when more of its
    characters are written the traditional way than the simplified), else English."""
    if not _CJK.search(text):
        return "en"
    traditional = sum(text.count(c) for c in _TRADITIONAL)
    simplified = sum(text.count(c) for c in _SIMPLIFIED)
    return "zh-Hant" if traditional > simplified else "zh-Hans"


def reply_text(case_id: str, language: Language, site: str | None) -> str:
    """The reply to a post: its case number and, with the site's address, its page; the
    longest wording that fits a Weibo comment."""
    page = f"{site.rstrip('/')}/cases/{case_id}" if site else None
    for template in REPLIES[language]:
        if ("{page}" in template) != (page is not None):
            continue
        text = template.format(case_id=case_id, page=page)
        if len(text) <= MAX_REPLY:
            return text
    raise ValueError(f"a reply with the page {page} is longer than {MAX_REPLY} characters: "
                     "give a shorter --site")


def post_id_of(command: SubmitCase) -> str:
    return command.submission_id.split(":", 1)[1]


def reply_rows(ready: Sequence[SubmitCase], skipped: Sequence[Skipped],
               receipts: dict[str, SubmissionReceipt], site: str | None) -> list[dict[str, Any]]:
    """One line per post, in the export's order of what was sent, then what was not:
    `post_id`, `case_id`, `reply` (to post), `refused` (why no case), `language`."""
    rows: list[dict[str, Any]] = []
    for command in ready:
        row: dict[str, Any] = {"post_id": post_id_of(command), "case_id": None, "reply": None,
                               "refused": None, "language": command.language}
        receipt = receipts.get(command.submission_id)
        if receipt is None:
            row["refused"] = "no receipt from intake yet (is intake running?); import again " \
                             "later: the same posts make no second case"
        elif receipt.outcome == "recorded" and receipt.case_id:
            row["case_id"] = receipt.case_id
            row["reply"] = reply_text(receipt.case_id, command.language, site)
        else:
            row["refused"] = receipt.reason or "refused"
        rows.append(row)
    rows += [{"post_id": item.post_id, "case_id": None, "reply": None,
              "refused": f"row {item.number}: {item.reason}", "language": None}
             for item in skipped]
    return rows


def write_replies(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """The replies as CSV (for a spreadsheet; `.csv`) or JSON lines (anything else)."""
    if path.suffix.lower() == ".csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["post_id", "case_id", "reply", "refused",
                                                 "language"])
        writer.writeheader()
        writer.writerows(rows)
        path.write_text(out.getvalue(), encoding="utf-8-sig")  # the BOM: Excel reads UTF-8
    else:
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows),
                        encoding="utf-8")


async def collect_receipts(settings: CommonSettings, submission_ids: Iterable[str], *,
                           timeout_s: float) -> dict[str, SubmissionReceipt]:
    """Intake's receipts for `submission_ids`, read from the receipts topic's start (a post
    imported before was answered then), until each has one or `timeout_s` passed. The last
    receipt of an id wins (a corrected post, refused first, recorded later)."""
    wanted = set(submission_ids)
    found: dict[str, SubmissionReceipt] = {}
    if not wanted:
        return found
    topic = Topics(settings.topic_prefix).receipts
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                **kafka_options(settings, ADMIN))
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code") or not described.get("partitions"):
        raise RuntimeError(f"no topic {topic}: run `zaiban topics ensure`")
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, **kafka_options(settings, ADMIN))
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        assigned = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        while time.monotonic() < deadline and not wanted <= set(found):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    key = (record.key or b"").decode("utf-8", "replace")
                    if key in wanted:
                        try:
                            found[key] = SubmissionReceipt.model_validate_json(record.value)
                        except ValidationError:
                            continue  # not a receipt: nothing to reply with
    finally:
        await consumer.stop()
    return found
