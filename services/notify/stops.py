"""The stop link every message ends with: signed, one click, no login.

`GET /notify/stop/{case}?s=<signature>` shows a page with one button (a link opened by a
mail scanner stops nothing); the button `POST`s to the same address and the stop is
recorded in notify's store before the page says so. A mail program that follows RFC 8058
POSTs `List-Unsubscribe=One-Click` to the same address without showing anything. The
signature is an HMAC-SHA256 of the case number under the deployment's secret, so the
link cannot be made for another case; a wrong or missing one is refused (403).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from html import escape
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import SecretStr

from services.common.catalogue import Language
from services.common.i18n import language_of_tag, negotiate

CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
STOP_PATH = "/notify/stop/{case_id}"
CaseId = Annotated[str, Path(pattern=CASE_ID_PATTERN, description="The case number.")]
Signature = Annotated[str, Query(alias="s", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                 description="The link's signature (base64url).")]
Lang = Annotated[str | None, Query(max_length=35)]


def signature_of(secret: SecretStr, text: str) -> str:
    """A link's signature: 144 bits of HMAC-SHA256 of `text` under the deployment's secret."""
    digest = hmac.new(secret.get_secret_value().encode(), text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def signed(expected: str, given: str) -> bool:
    """Whether `given` is the signature `expected`, in constant time (as bytes: a text that
    is not ASCII is simply not it)."""
    return hmac.compare_digest(expected.encode(), given.encode())


def stop_signature(secret: SecretStr, case_id: str) -> str:
    return signature_of(secret, f"notify-stop/{case_id}")


def stop_url(base: str, secret: SecretStr, case_id: str, language: str) -> str:
    return (f"{base.rstrip('/')}/notify/stop/{quote(case_id)}"
            f"?s={stop_signature(secret, case_id)}&lang={language}")


_PAGE: dict[Language, dict[str, str]] = {
    "zh-Hans": {"title": "退订通知", "ask": "不再接收诉求 {case} 的任何通知？",
                "button": "确认退订", "done": "已退订：诉求 {case} 不会再给您发送通知。",
                "refused": "此退订链接无效。"},
    "zh-Hant": {"title": "退訂通知", "ask": "不再接收訴求 {case} 的任何通知？",
                "button": "確認退訂", "done": "已退訂：訴求 {case} 不會再給您發送通知。",
                "refused": "此退訂連結無效。"},
    "en": {"title": "Stop messages", "ask": "Stop every message about request {case}?",
           "button": "Stop them", "done": "Done: you will get no more messages about "
                                         "request {case}.",
           "refused": "This stop link is not valid."},
}


def page(language: Language, title: str, body: str, status: int = 200) -> HTMLResponse:
    """A page of one of notify's links: a title and a few lines, never cached or indexed."""
    return HTMLResponse(
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><link rel="icon" href="data:,">'
        f'<title>{title}</title></head>'
        f"<body><main><h1>{title}</h1>{body}</main></body></html>",
        status_code=status, headers={"Cache-Control": "no-store",
                                     "Referrer-Policy": "no-referrer"})


def stop_routes(secret: SecretStr, record: Callable[[str], Awaitable[None]]) -> APIRouter:
    """The stop link's page and its one click; `record` keeps the stop of a case."""
    router = APIRouter(tags=["notify"])

    async def answer(request: Request, case_id: str, signature: str, lang: str | None,
                     stopping: bool) -> HTMLResponse:
        """In the reader's language: the link refused (403), the question, or the stop done."""
        chosen: Language = ((language_of_tag(lang) if lang else None)
                            or negotiate(request.headers.get("accept-language")) or "zh-Hans")
        words = _PAGE[chosen]
        if not signed(stop_signature(secret, case_id), signature):
            return page(chosen, words["title"], f"<p>{words['refused']}</p>", 403)
        if not stopping:
            return page(chosen, words["title"], (
                f"<p>{escape(words['ask'].format(case=case_id))}</p>"
                f'<form method="post"><button type="submit">{words["button"]}</button></form>'))
        await record(case_id)
        return page(chosen, words["title"], f"<p>{escape(words['done'].format(case=case_id))}</p>")

    @router.get(STOP_PATH, response_class=HTMLResponse,
                summary="The stop link's page: one button that stops the messages")
    async def ask(request: Request, case_id: CaseId, s: Signature,
                  lang: Lang = None) -> HTMLResponse:
        return await answer(request, case_id, s, lang, stopping=False)

    @router.post(STOP_PATH, response_class=HTMLResponse,
                 summary="Stop every message about the case (RFC 8058 one-click too)")
    async def stop(request: Request, case_id: CaseId, s: Signature,
                   lang: Lang = None) -> HTMLResponse:
        return await answer(request, case_id, s, lang, stopping=True)

    return router
