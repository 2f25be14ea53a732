"""Area alerts by email: anyone may follow a district or a category — with double opt-in, and
one click to leave.

`POST /api/notify/subscriptions` `{"email", "district" | "category", "language"}` answers 202
and mails a confirmation link (the same answer whether or not the address follows it
already: it says nothing about who subscribes). Nothing is sent to the address until its
owner opens the link and presses the button (a GET shows the page, a POST confirms, so a
mail scanner that opens links confirms nothing). From then on, each case of the area that
is accepted ("new") or resolved is mailed: its number, category, district and its public
page — public data only. Every alert ends with a signed link that ends the subscription at
once (RFC 8058 one-click in the headers too).

The address is personal data: it is sealed with a key of the subscription's own in the key
store (`sub:<id>`), like a case's contact, and the key is destroyed when the subscription
ends; the store keeps, besides the sealed bytes, only a keyed hash of the address and area
(so a second request for the same finds the first). A subscription never confirmed is
forgotten after `PENDING_DAYS`.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pymongo.asynchronous.collection import AsyncCollection

from contracts.personal import PersonalData, ResidentContact, Sealed
from contracts.text import Code, Email
from services.common.catalogue import CityConfig, Language
from services.common.cityconfig import LiveCity
from services.common.i18n import language_of_tag, negotiate
from services.common.keys import MongoKeyStore, open_sealed
from services.notify.stops import Signature, page, signature_of, signed

PENDING_DAYS = 7
SUBSCRIPTION_ID = r"^[0-9a-f]{32}$"


class Subscribe(BaseModel):
    """Follow the new and resolved cases of one district or one category, by email."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: Email = Field(min_length=3)
    district: Code | None = None
    category: Code | None = None
    language: Literal["zh-Hans", "zh-Hant", "en"] = "zh-Hans"

    @model_validator(mode="after")
    def _one_area(self) -> Subscribe:
        if (self.district is None) == (self.category is None):
            raise ValueError("give a district or a category (one of them)")
        return self

    @property
    def area(self) -> tuple[Literal["district", "category"], str]:
        return ("district", self.district) if self.district else (
            "category", self.category or "")


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    kind: Literal["district", "category"]
    code: str
    language: Language
    confirmed: bool


def _of(doc: dict[str, Any]) -> Subscription:
    return Subscription(doc["_id"], doc["kind"], doc["code"], doc["language"],
                        doc.get("confirmed_at") is not None)


def key_of(subscription_id: str) -> str:
    """The key store's id of a subscription's key."""
    return f"sub:{subscription_id}"


class Subscriptions:
    def __init__(self, collection: AsyncCollection[dict[str, Any]], keys: MongoKeyStore,
                 secret: SecretStr) -> None:
        self.collection = collection
        self.keys = keys
        self.secret = secret

    def _fingerprint(self, email: str, kind: str, code: str) -> str:
        return hmac.new(self.secret.get_secret_value().encode(),
                        f"subscription/{email.lower()}/{kind}/{code}".encode(),
                        hashlib.sha256).hexdigest()

    async def add(self, asked: Subscribe, now: datetime) -> tuple[Subscription, bool]:
        """The subscription for this address and area, and whether it waits for its
        confirmation (a new one, or one asked again before being confirmed)."""
        kind, code = asked.area
        fingerprint = self._fingerprint(asked.email, kind, code)
        found = await self.collection.find_one({"fingerprint": fingerprint})
        if found is not None:
            known = _of(found)
            return known, not known.confirmed
        subscription_id = uuid.uuid4().hex
        key = await self.keys.issue(key_of(subscription_id))
        sealed = key.seal(PersonalData(contact=ResidentContact(email=asked.email)))
        await self.collection.insert_one({
            "_id": subscription_id, "kind": kind, "code": code, "language": asked.language,
            "fingerprint": fingerprint, "sealed": sealed.model_dump(), "created_at": now,
            "confirmed_at": None})
        return Subscription(subscription_id, kind, code, asked.language, False), True

    async def get(self, subscription_id: str) -> Subscription | None:
        doc = await self.collection.find_one({"_id": subscription_id})
        return _of(doc) if doc is not None else None

    async def confirm(self, subscription_id: str, now: datetime) -> bool:
        result = await self.collection.update_one({"_id": subscription_id},
                                                  {"$set": {"confirmed_at": now}})
        return result.matched_count == 1

    async def end(self, subscription_id: str, now: datetime) -> None:
        """Forget the subscription: its key destroyed, its document gone."""
        await self.keys.destroy(key_of(subscription_id), at=now, by="subscriber",
                                reason="unsubscribed")
        await self.collection.delete_one({"_id": subscription_id})

    async def address_of(self, subscription_id: str) -> str | None:
        doc = await self.collection.find_one({"_id": subscription_id})
        if doc is None:
            return None
        personal = await open_sealed(self.keys, Sealed.model_validate(doc["sealed"]))
        return personal.contact.email if personal and personal.contact else None

    async def following(self, district: str | None, category: str) -> list[Subscription]:
        """The confirmed subscriptions to this district or this category."""
        areas = [{"kind": "category", "code": category}]
        if district:
            areas.append({"kind": "district", "code": district})
        found = []
        for area in areas:
            async for doc in self.collection.find({**area, "confirmed_at": {"$ne": None}}):
                found.append(_of(doc))
        return found

    async def forget_unconfirmed(self, now: datetime) -> int:
        gone = 0
        async for doc in self.collection.find(
                {"confirmed_at": None, "created_at": {"$lt": now - timedelta(days=PENDING_DAYS)}},
                projection={"_id": 1}):
            await self.end(doc["_id"], now)
            gone += 1
        return gone


# --- links and pages ---------------------------------------------------------------------


def subscription_link(base: str, secret: SecretStr, subscription_id: str,
                      action: Literal["confirm", "stop"], language: str) -> str:
    signed = signature_of(secret, f"notify-sub/{action}/{subscription_id}")
    return (f"{base.rstrip('/')}/notify/subscriptions/{subscription_id}/{action}"
            f"?s={signed}&lang={language}")


_WORDS: dict[Language, dict[str, str]] = {
    "zh-Hans": {"confirm_title": "确认订阅", "confirm_ask": "确认订阅{area}的新诉求和已办结诉求？",
                "confirm_button": "确认订阅", "confirmed": "已确认：{area}的新诉求和已办结诉求会发送给您。",
                "stop_title": "退订", "stop_ask": "不再接收{area}的诉求通知？",
                "stop_button": "退订", "stopped": "已退订，您的邮箱地址已删除。",
                "refused": "此链接无效或已过期。", "district": "{name}", "category": "“{name}”类"},
    "zh-Hant": {"confirm_title": "確認訂閱", "confirm_ask": "確認訂閱{area}的新訴求和已辦結訴求？",
                "confirm_button": "確認訂閱", "confirmed": "已確認：{area}的新訴求和已辦結訴求會發送給您。",
                "stop_title": "退訂", "stop_ask": "不再接收{area}的訴求通知？",
                "stop_button": "退訂", "stopped": "已退訂，您的電子郵件地址已刪除。",
                "refused": "此連結無效或已過期。", "district": "{name}", "category": "「{name}」類"},
    "en": {"confirm_title": "Confirm your alerts", "confirm_ask": "Get the new and resolved "
           "requests of {area} by email?", "confirm_button": "Yes, send them",
           "confirmed": "Done: the new and resolved requests of {area} will be mailed to you.",
           "stop_title": "Stop alerts", "stop_ask": "Stop the alerts for {area}?",
           "stop_button": "Stop them", "stopped": "Done: no more alerts; your address is deleted.",
           "refused": "This link is not valid, or no longer.", "district": "{name}",
           "category": "the category {name}"},
}


def area_name(city: CityConfig, kind: str, code: str, language: Language) -> str:
    named = city.district(code) if kind == "district" else city.category(code)
    name = named.names.in_(language) if named is not None else code
    return _WORDS[language][kind].format(name=name)


SubscriptionId = Annotated[str, Path(pattern=SUBSCRIPTION_ID, description="The subscription.")]
Lang = Annotated[str | None, Query(max_length=35)]


def subscription_routes(subscriptions: Subscriptions, city: LiveCity, secret: SecretStr,
                        clock: Callable[[], datetime],
                        ask_confirmation: Callable[[Subscription], Awaitable[None]],
                        admit: Callable[[Request], Awaitable[None]],
                        mails: bool) -> APIRouter:
    """Subscribing (rate-limited per client), confirming, and leaving. Without a way to
    mail (`mails`), subscribing answers 503: nothing could ever be confirmed."""
    router = APIRouter(tags=["notify"])

    @router.post("/api/notify/subscriptions", status_code=202, dependencies=[Depends(admit)],
                 summary="Follow a district's or a category's new and resolved cases by email")
    async def subscribe(asked: Subscribe) -> JSONResponse:
        kind, code = asked.area
        now = city.current
        if (now.district(code) if kind == "district" else now.category(code)) is None:
            raise HTTPException(422, f"unknown {kind} {code!r}")
        if not mails:
            raise HTTPException(503, "this deployment sends no email (ZAIBAN_SMTP_URL is not "
                                     "set): area alerts cannot be had here")
        subscription, waits = await subscriptions.add(asked, clock())
        if waits:
            await ask_confirmation(subscription)
        return JSONResponse({"status": "check your email: the link in it confirms"}, 202)

    async def answer(request: Request, subscription_id: str, given: str, lang: str | None,
                     action: Literal["confirm", "stop"], acting: bool) -> HTMLResponse:
        chosen: Language = ((language_of_tag(lang) if lang else None)
                            or negotiate(request.headers.get("accept-language")) or "zh-Hans")
        words = _WORDS[chosen]
        valid = signed(signature_of(secret, f"notify-sub/{action}/{subscription_id}"), given)
        subscription = await subscriptions.get(subscription_id) if valid else None
        title = words[f"{action}_title"]
        if subscription is None:
            if valid and action == "stop":  # already gone: that is what was asked
                return page(chosen, title, f"<p>{words['stopped']}</p>")
            return page(chosen, title, f"<p>{words['refused']}</p>", 403 if not valid else 404)
        area = escape(area_name(city.current, subscription.kind, subscription.code, chosen))
        if not acting:
            return page(chosen, title, (
                f"<p>{words[f'{action}_ask'].format(area=area)}</p><form method=\"post\">"
                f"<button type=\"submit\">{words[f'{action}_button']}</button></form>"))
        if action == "confirm":
            await subscriptions.confirm(subscription_id, clock())
            return page(chosen, title, f"<p>{words['confirmed'].format(area=area)}</p>")
        await subscriptions.end(subscription_id, clock())
        return page(chosen, title, f"<p>{words['stopped']}</p>")

    def routes(action: Literal["confirm", "stop"]) -> None:
        path = f"/notify/subscriptions/{{subscription_id}}/{action}"

        @router.get(path, response_class=HTMLResponse,
                    summary=f"The {action} link's page: one button")
        async def ask(request: Request, subscription_id: SubscriptionId, s: Signature,
                      lang: Lang = None) -> HTMLResponse:
            return await answer(request, subscription_id, s, lang, action, False)

        @router.post(path, response_class=HTMLResponse,
                     summary=f"{action.capitalize()} the subscription (one click)")
        async def act(request: Request, subscription_id: SubscriptionId, s: Signature,
                      lang: Lang = None) -> HTMLResponse:
            return await answer(request, subscription_id, s, lang, action, True)

    routes("confirm")
    routes("stop")
    return router
