"""The proof that nothing personal is kept in clear: every topic and every database, read raw.

A city's auditor (or a test) names the details to look for — a resident's name,
phone, email, home address, coordinates — and `scan` reads everything the
deployment keeps, as stored, without decoding it through zaiban's models:

- Kafka: every topic named `<topic prefix>zaiban.*` (listed with the admin client,
  so a topic nobody remembers is read too), every partition from its first offset
  to the end it had when the scan began; the key, the value and the headers of
  each message, as bytes.
- The store: every collection of every database named `<db prefix>_*` (the key
  store `<db prefix>_keys` included), each document as its raw BSON bytes (a
  string is there in UTF-8) and as its extended JSON (where a number — a
  coordinate — is written out as text).

A detail can be written in more ways than one, and each is looked for
(`forms_of`): as given; a phone without its spaces and dashes ('138 0000 0000'
→ '13800000000') and an 11-digit mobile with them; JSON's \\u escapes of a
non-ASCII text; URL encoding; base64 (a dead letter keeps a payload it could
not decode as UTF-8 in base64). Matching ignores the case of ASCII letters
(an email may have been lower-cased). A hit names where (topic, partition and
offset, or database.collection and `_id`), which part of the message, the
field (a JSON path, also into JSON kept inside a string) and which detail in
which form. Anything sealed (`contracts/personal.py`) is AES-GCM ciphertext:
no form of a detail appears in it.

`zaiban privacy scan` prints the figures and the hits and fails when there is a
hit; tests call `scan` and assert on the `ScanResult`.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote, quote_plus

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from bson import decode, json_util
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from services.common.kafka import ADMIN, kafka_options
from services.common.settings import CommonSettings
from services.common.store import make_client

MIN_NEEDLE_BYTES = 4
"""A shorter needle (two Latin letters, a digit) would be found everywhere and prove nothing."""
MIN_BASE64_CHARS = 8
"""The shortest base64 fragment looked for: shorter ones occur by chance in ciphertext."""
SEPARATORS = " -()\u00a0\u3000"
"""What people put between a phone number's digits (a dot is left alone: 34.7512 is a point)."""
IDLE_LIMIT_S = 30.0
"""A partition that yields nothing for this long before its end fails the scan."""
RAW = CodecOptions(document_class=RawBSONDocument)
AS_GIVEN = "as given"
Progress = Callable[[str], None]


class ScanIncomplete(Exception):
    """Something could not be read to its end: the scan proves nothing about it."""


# --- what is looked for ------------------------------------------------------------


@dataclass(frozen=True)
class Needle:
    """A detail to look for, and every form (case-folded bytes) it may be written in."""

    label: str
    forms: tuple[tuple[str, bytes], ...]

    @classmethod
    def of(cls, needle: str | bytes) -> Needle:
        if isinstance(needle, bytes):  # raw bytes (a GPS rational in a photo): only as given
            if len(needle) < MIN_NEEDLE_BYTES:
                raise ValueError(f"needle 0x{needle.hex()}: at least {MIN_NEEDLE_BYTES} bytes")
            return cls(f"0x{needle.hex()}", (("bytes", needle.lower()),))
        return cls(needle.strip(), forms_of(needle))

    def found_in(self, data: bytes) -> str | None:
        """The name of the first form of this needle in `data` (case-folded), or None."""
        for name, form in self.forms:
            if form in data:
                return name
        return None


def forms_of(text: str) -> tuple[tuple[str, bytes], ...]:
    """Each way `text` may sit in stored bytes, named, case-folded, without repeats."""
    text = text.strip()
    if len(text.encode()) < MIN_NEEDLE_BYTES:
        raise ValueError(f"needle {text!r}: at least {MIN_NEEDLE_BYTES} bytes, or it is "
                         "found everywhere and proves nothing")
    written = [(AS_GIVEN, text)]
    compact = "".join(char for char in text if char not in SEPARATORS)
    if compact != text and _phone_like(compact):
        written.append(("without separators", compact))
    if len(compact) == 11 and compact.isdigit() and compact.startswith("1"):  # a mobile
        written += [("spaced", f"{compact[:3]} {compact[3:7]} {compact[7:]}"),
                    ("dashed", f"{compact[:3]}-{compact[3:7]}-{compact[7:]}")]
    forms: dict[bytes, str] = {}
    for name, variant in written:
        encoded = variant.encode()
        forms.setdefault(encoded, name)
        forms.setdefault(json.dumps(variant)[1:-1].encode(), f"{name}, JSON-escaped")
        forms.setdefault(quote(variant, safe="").encode(), f"{name}, URL-encoded")
        forms.setdefault(quote_plus(variant, safe="").encode(), f"{name}, URL-encoded")
        for fragment in base64_fragments(encoded):
            forms.setdefault(fragment, f"{name}, base64")
    return tuple((name, form.lower()) for form, name in forms.items())


def _phone_like(compact: str) -> bool:
    digits = compact.removeprefix("+")
    return len(digits) >= 7 and digits.isdigit()


def base64_fragments(data: bytes) -> list[bytes]:
    """What base64 of any text containing `data` contains, whatever its alignment: for
    each of the three offsets, the characters made of `data`'s bits alone (standard and
    URL-safe alphabets)."""
    fragments = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data)
        start = -(-8 * offset // 6)  # the first character without bits of the padding
        end = 8 * (offset + len(data)) // 6  # after the last one with all its bits known
        fragment = encoded[start:end]
        if len(fragment) >= MIN_BASE64_CHARS:
            fragments.append(fragment)
            fragments.append(fragment.replace(b"+", b"-").replace(b"/", b"_"))
    return fragments


def needles_of(given: Iterable[str | bytes]) -> list[Needle]:
    needles = [Needle.of(item) for item in given if not isinstance(item, str) or item.strip()]
    if not needles:
        raise ValueError("no needle: name at least one detail to look for")
    return needles


# --- where a needle is -------------------------------------------------------------


def fields_holding(value: Any, needle: Needle, path: str = "") -> list[str]:
    """The paths of the leaves of a decoded JSON or BSON `value` that hold `needle`
    (also inside JSON kept in a string: `payload>contact.phone`)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if needle.found_in(str(key).encode().lower()):
                found.append(f"{inner} (the key)")
            found += fields_holding(item, needle, inner)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found += fields_holding(item, needle, f"{path}[{index}]")
    else:
        leaf = bytes(value) if isinstance(value, bytes) else str(value).encode()
        form = needle.found_in(leaf.lower())
        if form is not None:
            nested = _json_in(value)
            deeper = fields_holding(nested, needle) if nested is not None else []
            here = path or "(the whole)"
            found += [f"{path}>{inner}" for inner in deeper] or [
                here if form == AS_GIVEN else f"{here} ({form})"]
    return found


def _json_in(value: Any) -> Any:
    head = value[:1] if isinstance(value, str | bytes) else None
    if head not in ("{", "[", b"{", b"["):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


# --- what the scan found -------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One needle found in one stored thing."""

    needle: str
    form: str
    place: str  # a topic, or database.collection
    at: str  # partition/offset, or the document's _id
    part: str  # key, value, header <name>; document
    fields: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.place}/{self.at}"

    def __str__(self) -> str:
        inside = f" field {', '.join(self.fields)}" if self.fields else ""
        return f"{self.where} {self.part}{inside}: {self.needle!r} ({self.form})"


@dataclass
class ScanResult:
    """The figures of a scan (what was read) and its hits."""

    topics: int = 0
    partitions: int = 0
    messages: int = 0
    message_bytes: int = 0
    databases: int = 0
    collections: int = 0
    documents: int = 0
    document_bytes: int = 0
    messages_by_topic: dict[str, int] = field(default_factory=dict)
    documents_by_collection: dict[str, int] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.hits

    def hits_of(self, needle: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.needle == needle]

    def figures(self) -> str:
        return (f"Kafka: {self.topics} topics, {self.partitions} partitions, "
                f"{self.messages:,} messages, {self.message_bytes:,} bytes; "
                f"store: {self.databases} databases, {self.collections} collections, "
                f"{self.documents:,} documents, {self.document_bytes:,} bytes; "
                f"{len(self.hits)} hits")


def hits_in(data: bytes, needles: Sequence[Needle], place: str, at: str, part: str,
            decoded: Callable[[], Any]) -> Iterator[Hit]:
    """The needles in `data`, each once; `decoded` gives its JSON/BSON reading for the fields."""
    folded = data.lower()
    for needle in needles:
        form = needle.found_in(folded)
        if form is not None:
            value = decoded()
            fields = tuple(fields_holding(value, needle)) if value is not None else ()
            yield Hit(needle.label, form, place, at, part, fields)


# --- reading everything --------------------------------------------------------------


def deployment_topic(topic: str, prefix: str) -> bool:
    return topic.startswith(f"{prefix}zaiban.")


def deployment_database(name: str, db_prefix: str) -> bool:
    return name == db_prefix or name.startswith(f"{db_prefix}_")


async def scan(settings: CommonSettings, needles: Iterable[str | bytes], *,
               progress: Progress | None = None) -> ScanResult:
    """Read every topic and every database of the deployment `settings` describe, raw,
    and look for each needle in every form; ScanIncomplete if something could not be
    read to its end."""
    wanted = needles_of(needles)
    result = ScanResult()
    say = progress or (lambda _: None)
    await scan_topics(settings, wanted, result, say)
    await scan_store(settings, wanted, result, say)
    return result


async def scan_topics(settings: CommonSettings, needles: Sequence[Needle], result: ScanResult,
                      say: Progress) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                request_timeout_ms=15_000, **kafka_options(settings, ADMIN))
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics()
                       if deployment_topic(t, settings.topic_prefix))
        described = await admin.describe_topics(names) if names else []
    finally:
        await admin.close()
    partitions = sorted((TopicPartition(topic["topic"], part["partition"])
                         for topic in described for part in topic["partitions"]),
                        key=lambda tp: (tp.topic, tp.partition))
    result.topics += len(names)
    result.partitions += len(partitions)
    result.messages_by_topic.update(dict.fromkeys(names, 0))
    if not partitions:
        return
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=8 * 1024 * 1024,
                                **kafka_options(settings, ADMIN))
    await consumer.start()
    try:
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > starts[tp]}
        for tp in pending:
            consumer.seek(tp, starts[tp])
        consumer.pause(*(set(partitions) - pending))
        say(f"reading {len(names)} topics to their ends")
        await _read_to_ends(consumer, pending, ends, needles, result)
    finally:
        await consumer.stop()


async def _read_to_ends(consumer: AIOKafkaConsumer, pending: set[TopicPartition],
                        ends: dict[TopicPartition, int], needles: Sequence[Needle],
                        result: ScanResult) -> None:
    last_progress = time.monotonic()
    while pending:
        batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
        for tp, records in batch.items():
            for record in records:
                if record.offset < ends[tp]:  # later ones arrived after the scan began
                    _scan_record(record, needles, result)
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
                consumer.pause(tp)
        if batch:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > IDLE_LIMIT_S:
            stuck = ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(
                pending, key=lambda tp: (tp.topic, tp.partition)))
            raise ScanIncomplete(f"no message for {IDLE_LIMIT_S:.0f}s before the end of {stuck}")


def _scan_record(record: Any, needles: Sequence[Needle], result: ScanResult) -> None:
    at = f"{record.partition}/{record.offset}"
    parts = [("key", record.key or b""), ("value", record.value or b"")]
    parts += [(f"header {name}", value or b"") for name, value in record.headers or ()]
    result.messages += 1
    result.messages_by_topic[record.topic] = result.messages_by_topic.get(record.topic, 0) + 1
    for part, data in parts:
        result.message_bytes += len(data)
        result.hits += hits_in(data, needles, record.topic, at, part,
                               partial(_json_in, data))


async def scan_store(settings: CommonSettings, needles: Sequence[Needle], result: ScanResult,
                     say: Progress) -> None:
    client = make_client(settings)
    try:
        names = sorted(name for name in await client.list_database_names()
                       if deployment_database(name, settings.db_prefix))
        result.databases += len(names)
        for name in names:
            database = client.get_database(name, codec_options=RAW)
            for collection_name in sorted(await database.list_collection_names()):
                say(f"reading {name}.{collection_name}")
                result.collections += 1
                await _scan_collection(database.get_collection(collection_name), needles, result)
    finally:
        await client.close()


async def _scan_collection(collection: Any, needles: Sequence[Needle],
                           result: ScanResult) -> None:
    place = f"{collection.database.name}.{collection.name}"
    result.documents_by_collection[place] = 0
    async for document in collection.find({}, batch_size=500):
        raw = bytes(document.raw)
        value = decode(raw)
        at = str(value.get("_id"))
        as_json = json_util.dumps(value, json_options=json_util.RELAXED_JSON_OPTIONS,
                                  ensure_ascii=False).encode()
        result.documents += 1
        result.document_bytes += len(raw)
        result.documents_by_collection[place] += 1
        reading: Callable[[], Any] = partial(dict, value)
        found = {hit.needle: hit for hit in hits_in(raw, needles, place, at, "document", reading)}
        for hit in hits_in(as_json, needles, place, at, "document (as JSON)", reading):
            found.setdefault(hit.needle, hit)
        result.hits += found.values()
