"""The reader's language: which of ours (zh-Hans, zh-Hant, en) an answer is written in.

One negotiation for every face of zaiban — the JSON API, the web pages, Open311:

- A language tag (`zh-Hant-TW`, `zh-CN`, `en-GB`, `zh_hk`) is ours by its first
  subtag: `en` is English; `zh` is traditional Chinese when a later subtag says so
  (`Hant`, `TW`, `HK`, `MO`), simplified otherwise; any other language is none of ours.
- `Accept-Language` gives the best of ours by its q-values (a tie goes to the one
  listed first; q=0 means "not this one").
- `pick_language`: `?lang=` if given (one that is none of ours is `UnknownLanguage`),
  else Accept-Language, else simplified Chinese, the platform's first language.

Each face decides what an unknown `?lang=` means to it: the JSON API answers 422
(`services/tracking/api.py`), Open311 the spec's 400 (`services/common/open311/params.py`),
and the web ignores it and falls back to the cookie that remembers the reader's choice
(`services/web/pages.py`).

The words live with whoever writes them: the timeline's sentences in
`services/tracking/messages.py` (only tracking writes them: its API and Open311's status
notes), the web's in `services/web/i18n/*.json`, the city's names in the catalogue
(`deploy/config/*.yaml`).
"""

from __future__ import annotations

from services.common.catalogue import LANGUAGES, Language

DEFAULT_LANGUAGE: Language = "zh-Hans"

# The Chinese subtags people's browsers send, mapped to the script we write.
_CHINESE: dict[str, Language] = {
    "hans": "zh-Hans", "cn": "zh-Hans", "sg": "zh-Hans", "my": "zh-Hans",
    "hant": "zh-Hant", "tw": "zh-Hant", "hk": "zh-Hant", "mo": "zh-Hant",
}


class UnknownLanguage(ValueError):
    """A language asked for by name that is none of ours."""

    def __init__(self, given: str) -> None:
        super().__init__(f"unknown language {given!r}: use one of {', '.join(LANGUAGES)}")


def language_of_tag(tag: str) -> Language | None:
    """Our language for a BCP 47 tag (`zh-Hant-TW`, `zh-CN`, `en-GB`...), or None."""
    parts = tag.strip().lower().replace("_", "-").split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] != "zh":
        return None
    return next((_CHINESE[part] for part in parts[1:] if part in _CHINESE), "zh-Hans")


def negotiate(accept_language: str | None) -> Language | None:
    """The best of our languages in an `Accept-Language` header, or None."""
    choices: list[tuple[float, int, Language]] = []
    for index, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = language_of_tag(tag)
        if language and quality > 0:
            choices.append((-quality, index, language))
    return min(choices)[2] if choices else None


def pick_language(lang: str | None, accept_language: str | None) -> Language:
    """`?lang=` if given (an unknown one is UnknownLanguage), else Accept-Language, else zh-Hans."""
    if lang:
        chosen = language_of_tag(lang)
        if chosen is None:
            raise UnknownLanguage(lang)
        return chosen
    return negotiate(accept_language) or DEFAULT_LANGUAGE
