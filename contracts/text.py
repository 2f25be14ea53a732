"""Text that is safe to store and show.

The document store refuses NUL characters and some keys outright, so text is
checked where it enters (commands, submissions), never left to fail in a
projection. Unicode is normalised to NFC so the same words compare equal.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field

_ALLOWED_CONTROLS = {"\n", "\t"}


def clean_text(value: str) -> str:
    value = unicodedata.normalize("NFC", value)
    for char in value:
        if (unicodedata.category(char) in {"Cc", "Cs"}) and char not in _ALLOWED_CONTROLS:
            raise ValueError(f"contains a control character (U+{ord(char):04X}), which is not allowed")
    return value.replace("\r\n", "\n").strip()


def clean_line(value: str) -> str:
    value = clean_text(value)
    if "\n" in value or "\t" in value:
        raise ValueError("must be a single line")
    return value


def text(max_length: int, min_length: int = 0) -> object:
    """A multi-line text field of bounded length."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length), AfterValidator(clean_text)]


def line(max_length: int, min_length: int = 0) -> object:
    """A single-line text field of bounded length."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length), AfterValidator(clean_line)]


Code = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
"""Identifiers in configuration: categories, districts, departments."""

Description = Annotated[str, Field(min_length=5, max_length=4000), AfterValidator(clean_text)]
Note = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(clean_text)]
Reason = Annotated[str, Field(min_length=2, max_length=500), AfterValidator(clean_text)]
ShortLine = Annotated[str, Field(max_length=200), AfterValidator(clean_line)]
Title = Annotated[str, Field(min_length=2, max_length=200), AfterValidator(clean_line)]
Phone = Annotated[str, Field(pattern=r"^[0-9+()\- ]{0,32}$")]
Email = Annotated[str, Field(pattern=r"^$|^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$", max_length=254),
                  AfterValidator(clean_line)]
AttributeValue = Annotated[str, Field(max_length=500), AfterValidator(clean_line)]
Url = Annotated[str, Field(max_length=2000), AfterValidator(clean_line)]
