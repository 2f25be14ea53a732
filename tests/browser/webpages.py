"""What a person does on the pages, as steps the browser tests share."""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import TEST_SECRET
from playwright.async_api import BrowserContext, Page, expect

from contracts.facts import Role
from services.common.auth import issue_token
from services.common.settings import CommonSettings

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
DESK = {"viewport": {"width": 1280, "height": 900}}

CATALOGUES = Path(__file__).resolve().parents[2] / "services" / "web" / "i18n"


@dataclass(frozen=True)
class Web:
    """The platform as a browser reaches it."""

    base_url: str
    settings: CommonSettings

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


def texts(language: str) -> dict[str, str]:
    """The web pages' catalogue of `language`: the tests look for the words a reader sees."""
    data: dict[str, str] = json.loads((CATALOGUES / f"{language}.json").read_text("utf-8"))
    return data


def a_photo(width: int = 24, height: int = 16) -> bytes:
    """A small real PNG (red), made here so the tests need no image library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xc0\x20\x30" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def staff_token(role: Role, department: str | None = None, subject: str = "tester",
                coordinator: bool = False) -> str:
    return issue_token(TEST_SECRET, subject, role, department, coordinator=coordinator)


def collect_errors(page: Page) -> list[str]:
    """Script errors on the page, so a test can say none happened."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    return errors


async def fill_submission(page: Page, **overrides: Any) -> None:
    """The reference case: the dark traffic lights at the Wangfufen market gate."""
    values = {
        "category": "traffic-signals",
        "signal_state": "dark",
        "description": "沙口路王府坟菜市场门口的红绿灯不亮了，过马路很危险。",
        "district": "zhongyuan",
        "street": "沙口路王府坟菜市场门口",
        "address": "沙口路王府坟菜市场正门东侧",
        "name": "李女士",
        "phone": "13800000000",
        **overrides,
    }
    await expect(page.locator("#submit-form[data-ready=true]")).to_have_count(1)
    await page.locator(f"label[for=category-{values['category']}]").click()
    if values.get("signal_state"):
        await page.select_option("#attribute-signal_state", values["signal_state"])
    await page.fill("#description", values["description"])
    await page.select_option("#district", values["district"])
    await page.fill("#street", values["street"])
    await page.fill("#address", values["address"])
    for field in ("lat", "lon"):
        if field in values:
            await page.fill(f"#{field}", values[field])
    await page.fill("#name", values["name"])
    await page.fill("#phone", values["phone"])


async def submit(page: Page) -> tuple[str, str]:
    """Send the form; the receipt shows the case number and the tracking code."""
    await page.click("#send")
    receipt = page.locator("#receipt")
    await expect(receipt).to_be_visible(timeout=20_000)
    case_id = (await page.locator("#receipt-case").text_content() or "").strip()
    code = (await page.locator("#receipt-code").text_content() or "").strip()
    assert case_id and code
    return case_id, code


async def sign_in(context: BrowserContext, base_url: str, token: str,
                  language: str = "zh-Hans") -> Page:
    """A member of staff opens the console in a tab of their own and pastes their token."""
    page = await context.new_page()
    await page.goto(f"{base_url}/staff?lang={language}")
    await page.fill("#token", token)
    await page.click("#signin-button")
    await expect(page.locator("#console[data-ready=true]")).to_be_visible(timeout=15_000)
    return page


def work_item(page: Page, case_id: str) -> Any:
    """The case's card in the console's visible panel."""
    return page.locator(f"[role=tabpanel]:not([hidden]) li.work-item[data-case='{case_id}']")


async def act(page: Page, case_id: str, action: str, fields: dict[str, str] | None = None,
              *, selects: dict[str, str] | None = None, status_after: str | None = None) -> None:
    """Open one action on a case's card, fill its form, confirm it, see the card move on."""
    card = work_item(page, case_id)
    await expect(card).to_be_visible(timeout=15_000)
    await card.locator(f"details.action-{action} > summary").click()
    form = card.locator(f"details.action-{action} form")
    for name, value in (fields or {}).items():
        await form.locator(f"[name='{name}']").fill(value)
    for name, value in (selects or {}).items():
        await form.locator(f"[name='{name}']").select_option(value)
    await form.locator("button[type=submit]").click()
    # done: the form closes (or goes, when the case moved on past this action)
    await expect(card.locator(f"details.action-{action}[open]")).to_have_count(0, timeout=30_000)
    if status_after is not None:
        await expect(work_item(page, case_id)).to_have_attribute(
            "data-status", status_after, timeout=15_000)
