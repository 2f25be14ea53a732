"""Text search over case descriptions, in memory: exactly a substring scan, without the scan. Pure.

A resident looks for 红绿灯 and must find 文化路口的红绿灯坏了: Chinese has no spaces
between words, and a segmenter's guess (文化/路口/的/红绿/灯…) can make a word
inside a sentence unfindable. So nothing here guesses words. The index keeps,
for every character and every pair of adjacent characters (unigrams, bigrams),
the texts that hold it; a query's terms pick candidates from those postings, and
each candidate is then checked by a real substring test. The answer is what a
scan over every text would return, in milliseconds at 30,000 texts.

**What matches.** The query's terms are its whitespace-separated pieces (the
ideographic space U+3000 too), each distinct term once (`terms`). Text and
query are compared after NFKC normalisation and case folding, so full-width
Latin letters and digits equal their ASCII twins (３号线 = 3号线) and Latin is
case-insensitive (LED = led). Nothing else is converted: traditional and
simplified characters are different characters (紅綠燈 does not find 红绿灯).
A text matches when it contains EVERY term as a substring. A query without a
term (empty, all spaces) matches nothing: the caller refuses it before asking.

**Relevance**, for the texts that match (BM25, with a gentle length norm):

    score(text) = sum over terms t of  idf(t) * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len / avglen))
    idf(t)      = ln(1 + (N - df + 0.5) / (df + 0.5))

tf is how often t occurs in the text (`str.count`: non-overlapping), df the
number of indexed texts containing t, N the number of indexed texts, len and
avglen lengths in characters after normalisation; K1 = 1.2, B = 0.3. So more
occurrences and rarer terms rank higher, with diminishing returns for
repetition, and of two texts with the same occurrences the shorter ranks
higher. Equal scores are the caller's to order (by recency).

**What to index.** Whatever the caller puts: the public index holds the
description as the public sees it, masked (`masking.mask`), so the digits
masked out of a phone number are not in it and cannot be found; staff search
an index of the description as written.

**Memory.** Keys get small int ids (reused after `remove`); each posting is a
sorted `array('I')` of ids (4 bytes an entry); the normalised text is kept for
the substring checks. `put` of a key already there replaces its postings;
`remove` takes back every entry and drops emptied postings (`size`).
"""

from __future__ import annotations

import math
import unicodedata
from array import array
from bisect import bisect_left, insort
from dataclasses import dataclass

K1 = 1.2
B = 0.3

# Below this many candidates, checking each by substring beats intersecting more postings.
_FEW = 32


def fold(text: str) -> str:
    """`text` as the index compares it: NFKC-normalised, then case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def terms(query: str) -> list[str]:
    """The query's terms: its whitespace-separated pieces after `fold`, each distinct one once,
    in the order written. `terms("红绿灯　ＬＥＤ 红绿灯") == ["红绿灯", "led"]`."""
    return list(dict.fromkeys(fold(query).split()))


def _grams(text: str) -> set[str]:
    """The characters and adjacent pairs of a folded text, none holding whitespace (a term
    never does, so such grams would never be looked up)."""
    grams = {c for c in text if not c.isspace()}
    grams.update(pair for pair in map(str.__add__, text, text[1:])
                 if not (pair[0].isspace() or pair[1].isspace()))
    return grams


def _holds(posting: array[int], ident: int) -> bool:
    at = bisect_left(posting, ident)
    return at < len(posting) and posting[at] == ident


@dataclass(frozen=True)
class IndexSize:
    texts: int
    grams: int
    """Distinct unigrams and bigrams with a posting."""
    postings: int
    """Entries over all postings."""
    slots: int
    """Ids ever handed out (free ones are reused)."""


class TextIndex:
    """Character n-gram inverted index over short texts (case descriptions), Chinese first."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._keys: list[str | None] = []
        self._texts: list[str] = []
        self._free: list[int] = []
        self._postings: dict[str, array[int]] = {}
        self._length = 0  # of all folded texts, for avglen

    def __len__(self) -> int:
        return len(self._ids)

    def put(self, key: str, text: str) -> None:
        """Index `text` under `key`, replacing what `key` had."""
        self.remove(key)
        folded = fold(text)
        ident = self._free.pop() if self._free else len(self._keys)
        if ident == len(self._keys):
            self._keys.append(key)
            self._texts.append(folded)
        else:
            self._keys[ident] = key
            self._texts[ident] = folded
        self._ids[key] = ident
        self._length += len(folded)
        for gram in _grams(folded):
            posting = self._postings.get(gram)
            if posting is None:
                self._postings[gram] = array("I", (ident,))
            elif posting[-1] < ident:
                posting.append(ident)
            else:
                insort(posting, ident)

    def remove(self, key: str) -> None:
        """Forget `key` and its text; nothing if it is not indexed."""
        ident = self._ids.pop(key, None)
        if ident is None:
            return
        folded = self._texts[ident]
        for gram in _grams(folded):
            posting = self._postings[gram]
            del posting[bisect_left(posting, ident)]
            if not posting:
                del self._postings[gram]
        self._length -= len(folded)
        self._keys[ident] = None
        self._texts[ident] = ""
        self._free.append(ident)

    def search(self, query: str) -> dict[str, float]:
        """key -> relevance of every text that contains every term of `query` (module doc)."""
        wanted = terms(query)
        if not wanted:
            return {}
        found: list[tuple[str, set[int]]] = []
        for term in wanted:
            holding = self._holding(term)
            if not holding:
                return {}
            found.append((term, holding))
        found.sort(key=lambda pair: len(pair[1]))
        matched = set(found[0][1])
        for _, holding in found[1:]:
            matched &= holding
        count = len(self._ids)
        average = self._length / count
        weights = [(term, math.log(1 + (count - len(holding) + 0.5) / (len(holding) + 0.5)))
                   for term, holding in found]
        scores: dict[str, float] = {}
        for ident in matched:
            text = self._texts[ident]
            norm = K1 * (1 - B + B * len(text) / average)
            score = 0.0
            for term, idf in weights:
                tf = text.count(term)
                score += idf * tf * (K1 + 1) / (tf + norm)
            key = self._keys[ident]
            assert key is not None
            scores[key] = score
        return scores

    def size(self) -> IndexSize:
        return IndexSize(texts=len(self._ids), grams=len(self._postings),
                         postings=sum(len(p) for p in self._postings.values()),
                         slots=len(self._keys))

    def _holding(self, term: str) -> set[int]:
        """The ids of the texts containing `term` (exactly: a 1- or 2-character term is its own
        gram; a longer one's candidates, holding all its bigrams, are checked by substring)."""
        if len(term) <= 2:
            return set(self._postings.get(term, ()))
        postings = []
        for gram in {term[i:i + 2] for i in range(len(term) - 1)}:
            posting = self._postings.get(gram)
            if posting is None:
                return set()
            postings.append(posting)
        postings.sort(key=len)
        candidates = set(postings[0])
        for posting in postings[1:]:
            if len(candidates) <= _FEW:
                break
            if len(candidates) * 16 < len(posting):
                candidates = {i for i in candidates if _holds(posting, i)}
            else:
                candidates.intersection_update(posting)
        return {i for i in candidates if term in self._texts[i]}
