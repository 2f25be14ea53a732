"""Personal details in free text, masked for the public. Pure.

Residents write their phone number, ID card number, email or licence plate into
a description ("我的电话13812345678，车牌豫A·12345"), and officers quote them
in notes. A case's free texts (description, notes, resolution, reasons,
comments, string attributes) are public; the details inside them are not.
`mask(text)` returns the text with every detail it recognises masked, and
everything else (dates, amounts, case numbers, street and house numbers) as
written.

The scheme: a masked detail keeps its shape and the parts that say what kind
of thing it is and let its owner recognise it; every hidden character becomes
one `*` (an email's hidden part is always `***`, so its length says nothing).

    mobile     1[3-9]x xxxx xxxx, also +86 / 0086 / 86 / 0 in front and spaces or
               dashes inside: the first 3 and last 4 digits stay.
                   13812345678 -> 138****5678      +86 138-1234-5678 -> +86 138-****-5678
    landline   with its area code (010, 02x, 0xxx): the area code and the last 4
               digits stay.          0371-12345678 -> 0371-****5678
    service    400 / 800 numbers: the first 3 and last 4 digits stay.
                                     400-123-4567 -> 400-***-4567
    ID card    PRC resident ID, 18 characters (GB 11643): a plausible birth date and
               a right check character, else it is just a number (an 18-digit order
               number is left alone): the first 4 and last 4 stay.
                                     41010219900307123X -> 4101**********123X
    email      the first 2 characters of the name (1 when it is short) and the domain
               stay.                 lisi@example.com -> li***@example.com
    plate      province, city letter and separator stay, and the last 2 characters:
               ordinary (5) and new-energy (6 characters, D/F first or last) plates.
                                     豫A·12345 -> 豫A·***45    豫AD12345 -> 豫A****45

Full-width characters (１３８…, ＠, ＋) count as their ASCII twins, and are kept
as written where they stay visible. A number inside a longer run of letters and
digits (ZB261006-7K3M-9QXA), after a decimal point or before one, is not a
detail. Not recognised: 15-digit first-generation ID numbers (15 digits are too
often something else), local numbers without an area code, numbers written in
Chinese numerals, names and addresses (those are kept out of free text by
asking for them in fields of their own).

Where it applies: twice. When a submission is recorded, the log keeps its
description masked, and the description as written only sealed with the
resident's other personal data (`lifecycle/submitting.py`,
`contracts/personal.py`): the resident and staff who may see it read the
original. And when a public text is produced (tracking's public views, the
public list, the live stream for the public, Open311 answers) for every other
free text (notes, resolutions, reasons, comments, attributes), which the log
and the read models keep as written; a read model written before masking
existed is shown masked without being rewritten. A better recogniser later
applies at once to every public answer, and to descriptions from then on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal

Kind = Literal["mobile", "landline", "service", "id_card", "email", "plate"]

HIDDEN = "*"
EMAIL_HIDDEN = "***"

# Full-width ASCII (U+FF01..U+FF5E) and the ideographic space, read as ASCII: one
# character for one, so a position in the narrowed text is a position in the original.
_NARROW = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

# Not part of a longer token: no letter or digit next to it, no decimal point or
# thousands separator between it and a digit.
_BEFORE = r"(?<![0-9A-Za-z])(?<![0-9][.,])"
_AFTER = r"(?![0-9A-Za-z])(?![.,][0-9])"
_SEP = r"[ \-]?"

_MOBILE = re.compile(
    _BEFORE + r"(?:(?:\+|00)?86" + _SEP + r"|\(\+?86\)" + _SEP + r"|0)?"
    r"(?P<keep>1[3-9][0-9](?:" + _SEP + r"[0-9]{4}){2})" + _AFTER)
_LANDLINE = re.compile(
    _BEFORE + r"\(?0(?:10|2[0-9]|[3-9][0-9]{2})\)?" + _SEP
    + r"(?P<keep>[1-9][0-9]{6,7})(?:-[0-9]{1,5})?" + _AFTER)
_SERVICE = re.compile(_BEFORE + r"(?P<keep>[48]00" + _SEP + r"[0-9]{3}" + _SEP + r"[0-9]{4})"
                      + _AFTER)
_ID_CARD = re.compile(
    _BEFORE + r"(?P<keep>[1-9][0-9]{5} ?(?:18|19|20)[0-9]{2}[01][0-9][0-3][0-9] ?[0-9]{3}[0-9Xx])"
    + _AFTER)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])(?P<keep>[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63})"
    r"@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])")
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼" "滬遼魯蘇贛陝閩貴粵瓊寧晉雲"
"""The one-character names on plates (simplified, and the traditional forms)."""
_PLATE = re.compile(
    r"[" + PROVINCES + r"][A-Za-z][·・•. \-]?"
    r"(?P<keep>[DFdf][A-HJ-NP-Za-hj-np-z0-9][0-9]{4}|[0-9]{5}[DFdf]"
    r"|[A-HJ-NP-Za-hj-np-z0-9]{4}[A-HJ-NP-Za-hj-np-z0-9挂学警港澳])" + _AFTER)

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def id_check_character(first17: str) -> str:
    """The 18th character of a resident ID number (GB 11643: ISO 7064 MOD 11-2)."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def is_id_number(text: str) -> bool:
    """Whether `text` (18 characters, spaces ignored) is a plausible resident ID number:
    a real birth date and the right check character."""
    number = text.replace(" ", "").upper()
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return id_check_character(number[:17]) == number[17]


@dataclass(frozen=True)
class Detail:
    """A personal detail found in a text: where it is, and how it is shown masked."""

    kind: Kind
    start: int
    end: int
    masked: str


def _hide(original: str, head: int, tail: int) -> str:
    """Letters and digits of `original` past the first `head` and before the last `tail`
    become `*`; separators stay."""
    count = sum(1 for char in original if char.translate(_NARROW).isalnum())
    shown, index = [], 0
    for char in original:
        if char.translate(_NARROW).isalnum():
            shown.append(char if index < head or index >= count - tail else HIDDEN)
            index += 1
        else:
            shown.append(char)
    return "".join(shown)


def _email_name(name: str) -> str:
    keep = 2 if len(name) >= 4 else 1 if len(name) >= 2 else 0
    return name[:keep] + EMAIL_HIDDEN


# kind, pattern, how the `keep` group is shown, a last check on the narrowed match
_Rule = tuple[Kind, re.Pattern[str], Callable[[str], str], Callable[[str], bool]]
_RULES: tuple[_Rule, ...] = (
    ("id_card", _ID_CARD, lambda part: _hide(part, 4, 4), is_id_number),
    ("email", _EMAIL, _email_name, lambda found: True),
    ("mobile", _MOBILE, lambda part: _hide(part, 3, 4), lambda found: True),
    ("service", _SERVICE, lambda part: _hide(part, 3, 4), lambda found: True),
    ("landline", _LANDLINE, lambda part: _hide(part, 0, 4), lambda found: True),
    ("plate", _PLATE, lambda part: _hide(part, 0, 2),
     lambda found: sum(c.isdigit() for c in found) >= 2),
)


def find_details(text: str) -> list[Detail]:
    """The personal details in `text`, in order, none overlapping (where two readings
    overlap, the one that starts first wins, then the longer)."""
    narrow = text.translate(_NARROW)
    candidates: list[Detail] = []
    for kind, pattern, show, plausible in _RULES:
        for found in pattern.finditer(narrow):
            keep_start, keep_end = found.span("keep")
            if not plausible(found.group("keep")):
                continue
            masked = (text[found.start():keep_start] + show(text[keep_start:keep_end])
                      + text[keep_end:found.end()])
            candidates.append(Detail(kind, found.start(), found.end(), masked))
    chosen: list[Detail] = []
    for detail in sorted(candidates, key=lambda d: (d.start, d.start - d.end)):
        if not chosen or detail.start >= chosen[-1].end:
            chosen.append(detail)
    return chosen


def mask(text: str) -> str:
    """`text` with every personal detail found in it masked (see the module's scheme)."""
    details = find_details(text)
    if not details:
        return text
    parts, at = [], 0
    for detail in details:
        parts += [text[at:detail.start], detail.masked]
        at = detail.end
    parts.append(text[at:])
    return "".join(parts)
