"""Every word on the pages comes from the translation catalogues, in all three languages.

No browser needed: these read the catalogues, the templates and the scripts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from contracts.facts import CaseStatus, Channel, Priority, Role
from services.common.catalogue import LANGUAGES, Language, load_city
from services.common.settings import CommonSettings
from services.web.pages import CATALOGUES, PAGES, STATIC, TEMPLATES, catalogue, render

CJK = re.compile(r"[\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf"
                 r"\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")
TEMPLATE_KEY = re.compile(r"\{\{\s*t:([A-Za-z0-9_.\-]+)\s*\}\}")
SCRIPT_KEY = re.compile(r"""\bt(?:Or)?\(\s*"([A-Za-z0-9_.\-]+)\"""")
FIELD = re.compile(r"\{(\w+)\}")

SOURCES = sorted([*TEMPLATES.glob("*.html"), *STATIC.glob("*.js"), *STATIC.glob("*.css"),
                  *STATIC.glob("*.svg")])


def keys_used() -> dict[str, set[str]]:
    """Each literal key the templates and scripts ask for, and where."""
    used: dict[str, set[str]] = {}
    for path in SOURCES:
        text = path.read_text("utf-8")
        pattern = TEMPLATE_KEY if path.suffix == ".html" else SCRIPT_KEY
        for key in pattern.findall(text):
            used.setdefault(key, set()).add(path.name)
    return used


def test_the_three_catalogues_have_the_same_keys() -> None:
    files = sorted(p.stem for p in CATALOGUES.glob("*.json"))
    assert files == sorted(LANGUAGES)
    english = set(catalogue("en"))
    for language in LANGUAGES:
        keys = set(catalogue(language))
        assert keys == english, (language, sorted(keys ^ english))
        raw = json.loads((CATALOGUES / f"{language}.json").read_text("utf-8"))
        empty = [key for key, value in raw.items() if not value.strip()]
        assert not empty, (language, empty)


def test_a_text_names_the_same_fields_in_every_language() -> None:
    for key, english in catalogue("en").items():
        for language in LANGUAGES:
            assert set(FIELD.findall(catalogue(language)[key])) == set(FIELD.findall(english)), (
                language, key)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_template_or_script_holds_chinese_text_of_its_own(path: Path) -> None:
    found = [(number, line.strip()) for number, line in
             enumerate(path.read_text("utf-8").splitlines(), 1) if CJK.search(line)]
    assert not found, f"{path.name}: words belong in services/web/i18n/*.json: {found[:3]}"


def test_every_key_the_pages_ask_for_is_in_the_catalogues() -> None:
    missing = {key: where for key, where in keys_used().items()
               if any(key not in catalogue(language) for language in LANGUAGES)}
    assert not missing, missing


def keys_built_at_run_time() -> set[str]:
    """The keys the scripts build from values: statuses, channels, staff actions and fields..."""
    keys = {f"status.{s.value}" for s in CaseStatus} | {f"channel.{c.value}" for c in Channel}
    keys |= {f"priority.{p.value}" for p in Priority}
    keys |= {f"staffrole.{r.value}" for r in Role if r not in (Role.RESIDENT, Role.SYSTEM)}
    keys |= {f"step.{s}" for s in ("submitted", "accepted", "routed", "acknowledged", "resolved",
                                   "closed")}
    keys |= {f"live.{s}" for s in ("connecting", "live", "offline")}
    keys |= {f"column.{c}" for c in ("inquiry", "supervision", "news")}
    keys |= {f"staff.empty_{v}" for v in ("triage", "inbox", "supervision", "search")}
    keys |= {f"dashboard.by_{d}" for d in ("category", "department", "district", "channel")}
    keys |= {f"dashboard.col_{d}" for d in ("category", "department", "district", "channel")}
    # every action of the staff console: its button, its confirmation, its fields and their errors
    staff = (STATIC / "staff.js").read_text("utf-8")
    for chunk in staff.split('form(item, "')[1:]:
        action = chunk.split('"', 1)[0]
        chunk = re.split(r"\(\) =>|\nfunction ", chunk)[0]  # this form's fields only
        fields = re.findall(r'(?:field\("(\w+)", "(\w+)"|departmentField\("(\w+)")', chunk)
        keys |= {f"action.{action}", f"action.{action}.confirm"}
        for name, kind, department in fields:
            keys.add(f"action.{action}.{name or department}")
            if kind != "checkbox":
                keys.add(f"error.{name or department}")
    keys |= {f"action.{name}" for name in ("duplicates", "merge")}
    return keys


def test_every_key_the_scripts_build_is_in_the_catalogues() -> None:
    keys = keys_built_at_run_time()
    assert "action.story.url" in keys and "error.reason" in keys  # the parsing found the forms
    missing = sorted(k for k in keys if any(k not in catalogue(lang) for lang in LANGUAGES))
    assert not missing, missing


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_page_renders_in_every_language(page: str, language: Language) -> None:
    city = load_city(CommonSettings().config_dir)
    html = render(page, language, city, {other: f"/?lang={other}" for other in LANGUAGES})
    assert f'<html lang="{language}"' in html
    assert "{{" not in html
    assert catalogue(language)["brand.name"] in html
