"""Which of our languages a reader gets: one negotiation for the API, the web and Open311."""

from __future__ import annotations

import pytest

from services.common.i18n import UnknownLanguage, language_of_tag, negotiate, pick_language
from services.web.pages import choose_language


@pytest.mark.parametrize(("tag", "language"), [
    ("en", "en"), ("en-GB", "en"), ("EN_us", "en"),
    ("zh", "zh-Hans"), ("zh-CN", "zh-Hans"), ("zh-SG", "zh-Hans"), ("zh-Hans-CN", "zh-Hans"),
    ("zh-TW", "zh-Hant"), ("zh-HK", "zh-Hant"), ("zh_mo", "zh-Hant"), ("zh-Hant", "zh-Hant"),
    ("zh-Hant-HK", "zh-Hant"), ("zh-yue-HK", "zh-Hant"), ("zh-Hans-HK", "zh-Hans"),
    ("fr", None), ("", None), ("*", None), ("english", None),
])
def test_a_tag_is_ours_by_its_language_and_the_first_subtag_that_names_a_script(
        tag: str, language: str | None) -> None:
    assert language_of_tag(tag) == language


@pytest.mark.parametrize(("header", "language"), [
    (None, None),
    ("", None),
    ("de, fr", None),
    ("fr, en", "en"),
    ("en;q=0.5, zh-TW;q=0.8", "zh-Hant"),
    ("en, zh-TW", "en"),
    ("zh-TW;q=0.8, en;q=0.8", "zh-Hant"),
    ("en;q=0, zh-CN;q=0.1", "zh-Hans"),
    ("en;q=nonsense, zh-HK;q=0.2", "zh-Hant"),
    ("en;level=1;q=0.1, zh;q=0.5", "zh-Hans"),
])
def test_accept_language_gives_the_best_of_ours_by_quality_then_order(
        header: str | None, language: str | None) -> None:
    assert negotiate(header) == language


@pytest.mark.parametrize(("lang", "accept", "chosen"), [
    (None, None, "zh-Hans"),
    (None, "zh-TW,zh;q=0.9,en;q=0.8", "zh-Hant"),
    (None, "en-GB,en;q=0.9", "en"),
    (None, "fr-FR, en;q=0.5, zh-CN;q=0.7", "zh-Hans"),
    (None, "zh-Hant-HK", "zh-Hant"),
    (None, "de, fr", "zh-Hans"),
    ("en", "zh-TW", "en"),
    ("zh-hant", None, "zh-Hant"),
    ("zh-CN", "en", "zh-Hans"),
])
def test_the_language_comes_from_the_query_then_accept_language(
        lang: str | None, accept: str | None, chosen: str) -> None:
    assert pick_language(lang, accept) == chosen


def test_an_unknown_language_is_refused_by_name() -> None:
    with pytest.raises(UnknownLanguage, match="'fr'"):
        pick_language("fr", None)


def test_the_web_remembers_a_choice_and_ignores_a_language_that_is_not_ours() -> None:
    assert choose_language("zh-TW", "en", "en") == ("zh-Hant", True)
    assert choose_language("klingon", "en", "zh-CN") == ("en", False)
    assert choose_language(None, None, "en-GB, zh;q=0.5") == ("en", False)
    assert choose_language(None, "nonsense", None) == ("zh-Hans", False)
