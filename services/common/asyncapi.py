"""The AsyncAPI document of a process: every topic it reads and writes, with payload schemas.

FastStream builds the document from what is declared on each broker (services/common/bus.py):
a subscriber by its handler's typed argument, a topic a service writes by the publisher it
sends through, each with the topic's description from `contracts.topics`. One broker gives
a service's document; the public entry passes every service's broker and gets one document
with all their channels (a topic read or written by several services appears once for each
of them, named by the service and what it does there).

Served at `/asyncapi.json`, and at `/asyncapi` as plain HTML rendered here: FastStream's own
page loads its viewer from a CDN, which these machines (and many a city's network) cannot
reach, so the page is the document itself, laid out without scripts.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from functools import cache
from html import escape
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

DESCRIPTION = (
    "What zaiban reads and writes on Kafka. Every value is JSON. The case event log is the "
    "source of truth, keyed by case id, so a case's events are read in order; departments "
    "receive their cases on their own topic and answer on a replies topic of their own, "
    "which only they may write (a reply naming another department is refused); frontends "
    "publish submissions. What a service can never process goes to its dead-letter topic. "
    "Every read of a resident's personal data by staff is on the audit topic, kept forever."
)


def document(brokers: Sequence[KafkaBroker], *, title: str, version: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document FastStream generates from the brokers' declarations."""
    spec = AsyncAPI(*brokers, title=title, version=version, description=DESCRIPTION)
    jsonable: dict[str, Any] = spec.to_specification().to_jsonable()
    return jsonable


def asyncapi_routes(brokers: Sequence[KafkaBroker], *, title: str, version: str) -> APIRouter:
    """`GET /asyncapi.json` and `GET /asyncapi`, built once on first request (the
    declarations are all made when the services are)."""
    router = APIRouter(include_in_schema=False)

    @cache
    def the_document() -> dict[str, Any]:
        return document(brokers, title=title, version=version)

    @cache
    def the_page() -> str:
        return render(the_document())

    @router.get("/asyncapi.json")
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(the_document())

    @router.get("/asyncapi")
    async def asyncapi_html() -> HTMLResponse:
        return HTMLResponse(the_page(), headers=PAGE_HEADERS)

    return router


# --- the page ---------------------------------------------------------------------------------

STYLE = """
:root { --bg: #f5f3ef; --surface: #fff; --text: #1d1d1f; --muted: #57575c; --border: #d9d4cb;
  --brand: #a3202a; --link: #9b1c26; --send: #1f4e8c; --send-bg: #e3ecf8; --receive: #1d6b3a;
  --receive-bg: #e3f2e8; color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #111215; --surface: #1b1c21; --text: #ececf0; --muted: #a9a9b4;
    --border: #34363e; --brand: #c9343e; --link: #ff8a8f; --send: #94b8f0; --send-bg: #172338;
    --receive: #7fd49b; --receive-bg: #16301f; } }
body { margin: 0; background: var(--bg); color: var(--text); line-height: 1.5;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Noto Sans CJK SC",
  sans-serif; }
header { background: var(--brand); color: #fff; padding: 1.25rem 1.5rem; }
header h1 { margin: 0 0 .25rem; font-size: 1.5rem; }
header p { margin: .25rem 0; max-width: 60rem; }
header a { color: #fff; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
section, article { background: var(--surface); border: 1px solid var(--border);
  border-radius: 14px; padding: .75rem 1.25rem; margin: 1rem 0; }
h2 { font-size: 1.25rem; } h3 { font-size: 1.05rem; margin: .5rem 0; }
a { color: var(--link); }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: .92em; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem;
  border-bottom: 1px solid var(--border); }
th { color: var(--muted); font-weight: 600; font-size: .9rem; }
td:first-child { white-space: nowrap; }
.muted { color: var(--muted); font-size: .9rem; }
.send, .receive { display: inline-block; border-radius: 999px; padding: 0 .6rem;
  font-size: .85rem; font-weight: 600; }
.send { color: var(--send); background: var(--send-bg); }
.receive { color: var(--receive); background: var(--receive-bg); }
.required { color: var(--brand); font-weight: 700; }
ul.operations { list-style: none; padding: 0; } ul.operations li { margin: .3rem 0; }
"""

_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
PAGE_HEADERS = {
    # The page is the document and its own style: nothing to load, nothing to run.
    "Content-Security-Policy": (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
                                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

DIRECTION = {"send": "sends", "receive": "receives"}


def render(doc: dict[str, Any]) -> str:
    """The document as one HTML page: the topics, who sends and receives what on each,
    then every message schema (fields, types, constraints), linked by anchors."""
    info = doc.get("info", {})
    title = str(info.get("title", "AsyncAPI"))
    topics = by_topic(doc)
    schemas: dict[str, Any] = doc.get("components", {}).get("schemas", {})
    servers = ", ".join(
        f"<code>{escape(str(s.get('host', '')))}</code> ({escape(str(s.get('protocol', '')))})"
        for s in doc.get("servers", {}).values())
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)} · AsyncAPI</title><style>{STYLE}</style></head><body>",
        f"<header><h1>{escape(title)}</h1>",
        f"<p>{prose(info.get('description', ''))}</p>",
        f"<p>AsyncAPI {escape(str(doc.get('asyncapi', '')))} · version "
        f"{escape(str(info.get('version', '')))} · servers: {servers or '—'} · "
        '<a href="/asyncapi.json">asyncapi.json</a></p></header><main>',
        _topics_table(topics),
        *(_topic_section(address, operations) for address, operations in topics.items()),
        '<section id="schemas"><h2>Message schemas</h2>',
        *(_schema_article(name, schemas[name]) for name in _schema_order(topics, schemas)),
        "</section></main></body></html>",
    ]
    return "\n".join(parts)


def _schema_order(topics: dict[str, list[dict[str, Any]]], schemas: dict[str, Any]) -> list[str]:
    """The messages' own schemas first, in the order of the topics; then what they use."""
    payloads = [p for ops in topics.values() for o in ops for p in o["payloads"] if p in schemas]
    first = list(dict.fromkeys(payloads))
    return first + sorted(name for name in schemas if name not in first)


def by_topic(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Address -> what is done there: each operation's direction, name, description and
    payload schema name — sorted by address, the case event log first."""
    channels = doc.get("channels", {})
    messages = doc.get("components", {}).get("messages", {})
    topics: dict[str, list[dict[str, Any]]] = {}
    for name, operation in doc.get("operations", {}).items():
        channel = channels.get(_ref_name(operation.get("channel", {})), {})
        payloads = [
            _payload_name(messages.get(_ref_name(ref), {}).get("payload", {}))
            for ref in channel.get("messages", {}).values()
        ]
        topics.setdefault(str(channel.get("address", "")), []).append({
            "action": operation.get("action", ""),
            "name": name,
            "description": channel.get("description") or "",
            "payloads": payloads,
        })
    ordered = sorted(topics, key=lambda address: (not address.endswith("case-events"), address))
    return {address: sorted(topics[address], key=lambda o: (o["action"], o["name"]))
            for address in ordered}


def _topics_table(topics: dict[str, list[dict[str, Any]]]) -> str:
    rows = []
    for address, operations in topics.items():
        def who(action: str, ops: list[dict[str, Any]] = operations) -> str:
            return "<br>".join(escape(o["name"]) for o in ops if o["action"] == action) or "—"

        payloads = sorted({p for o in operations for p in o["payloads"]})
        rows.append(
            f'<tr><td><a href="#{_anchor("topic", address)}"><code>{escape(address)}</code></a>'
            f"</td><td>{who('send')}</td><td>{who('receive')}</td>"
            f"<td>{', '.join(_schema_link(p) for p in payloads)}</td></tr>")
    return ('<section id="topics"><h2>Topics</h2><table><thead><tr><th>topic</th>'
            "<th>sent by</th><th>received by</th><th>message</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></section>")


def _topic_section(address: str, operations: list[dict[str, Any]]) -> str:
    descriptions = sorted({o["description"] for o in operations if o["description"]})
    items = "".join(
        f'<li><span class="{escape(o["action"])}">{DIRECTION.get(o["action"], o["action"])}'
        f"</span> {escape(o['name'])} — {', '.join(_schema_link(p) for p in o['payloads'])}"
        "</li>"
        for o in operations)
    about = "".join(f"<p>{prose(d)}</p>" for d in descriptions)
    return (f'<section id="{_anchor("topic", address)}"><h3><code>{escape(address)}</code>'
            f'</h3>{about}<ul class="operations">{items}</ul></section>')


def _schema_article(name: str, schema: dict[str, Any]) -> str:
    about = prose(schema.get("description", ""))
    return (f'<article id="{_anchor("schema", name)}"><h3><code>{escape(name)}</code></h3>'
            f"{f'<p>{about}</p>' if about else ''}{_schema_body(schema)}</article>")


def _schema_body(schema: dict[str, Any]) -> str:
    properties: dict[str, Any] = schema.get("properties", {})
    if properties:
        required = set(schema.get("required", ()))
        rows = "".join(
            f"<tr><td><code>{escape(field)}</code>"
            f"{' <span class=required title=required>*</span>' if field in required else ''}"
            f"</td><td>{type_of(spec)}</td><td>{_notes(spec)}</td></tr>"
            for field, spec in properties.items())
        extra = ("" if schema.get("additionalProperties") is not False
                 else '<p class="muted">No other fields are accepted.</p>')
        return ("<table><thead><tr><th>field</th><th>type</th><th>about</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>{extra}")
    if "oneOf" in schema or "anyOf" in schema:
        tag = schema.get("discriminator")
        told = f" (told apart by <code>{escape(str(tag))}</code>)" if tag else ""
        return f"<p>One of{told}: {type_of(schema)}</p>"
    return f"<p>{type_of(schema)}</p>"


def type_of(schema: Any) -> str:
    """A field's type in a few words, with links to the schemas it names."""
    if not isinstance(schema, dict):
        return "any"
    if "$ref" in schema:
        return _schema_link(_ref_name(schema))
    for key in ("oneOf", "anyOf", "allOf"):
        if key in schema:
            return " | ".join(type_of(option) for option in schema[key])
    if "const" in schema:
        return f"<code>{escape(repr(schema['const']))}</code>"
    if "enum" in schema:
        return " | ".join(f"<code>{escape(str(value))}</code>" for value in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, dict):
            return f"map of text to {type_of(values)}"
        patterns = schema.get("patternProperties", {})
        if patterns:
            return "map of " + " | ".join(
                f"<code>{escape(pattern)}</code> to {type_of(value)}"
                for pattern, value in patterns.items())
        return "object"
    if isinstance(kind, str):
        return escape(kind) + (f" ({escape(schema['format'])})" if "format" in schema else "")
    return "any"


CONSTRAINTS = (("minLength", "at least {} characters"), ("maxLength", "at most {} characters"),
               ("pattern", "matching <code>{}</code>"), ("minimum", "≥ {}"), ("maximum", "≤ {}"),
               ("minItems", "at least {} items"), ("maxItems", "at most {} items"),
               ("maxProperties", "at most {} entries"))


def _notes(schema: Any) -> str:
    if not isinstance(schema, dict):
        return ""
    notes = [prose(schema["description"])] if schema.get("description") else []
    options = [schema, *schema.get("anyOf", ())]
    for key, text in CONSTRAINTS:
        for option in options:
            if isinstance(option, dict) and key in option:
                notes.append(f'<span class="muted">{text.format(escape(str(option[key])))}</span>')
    if "default" in schema and schema["default"] not in (None, "", [], {}):
        notes.append(f'<span class="muted">default <code>{escape(str(schema["default"]))}'
                     "</code></span>")
    return "<br>".join(notes)


def prose(text: Any) -> str:
    """A description as HTML: `names` in code, paragraphs kept apart."""
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(str(text)))
    return html.replace("\n\n", "<br><br>")


def _ref_name(ref: Any) -> str:
    """The last segment of a JSON reference (`#/components/schemas/Name` -> `Name`)."""
    target = ref.get("$ref", "") if isinstance(ref, dict) else ""
    return unquote(str(target).rsplit("/", 1)[-1])


def _payload_name(payload: dict[str, Any]) -> str:
    return _ref_name(payload) if "$ref" in payload else str(payload.get("title", "payload"))


def _schema_link(name: str) -> str:
    return f'<a href="#{_anchor("schema", name)}"><code>{escape(name)}</code></a>'


def _anchor(kind: str, name: str) -> str:
    return f"{kind}-" + "".join(c if c.isalnum() or c in "-_." else "-" for c in name)

