"""Text search over case descriptions, in memory: exactly what a substring scan finds. Pure.

A resident looks for 红绿灯 and must find 文化路口的红绿灯坏了: Chinese has no spaces
between words, and a segmenter's guess (文化/路口/的/红绿/灯…) can make a word
inside a sentence unfindable. So nothing here guesses words. The index lists,
for every character (unigram) and every pair of adjacent characters (bigram),
the texts holding it; a query's terms take the candidates from those lists, and
each candidate is checked by a real substring test. The answer is what a scan
over every text returns, in milliseconds at 30,000 texts.

**What matches.** The query's terms are its whitespace-separated pieces (the
ideographic space U+3000 too), each distinct term once (`terms`). Text and
query are compared after NFKC normalisation and case folding (`fold`), so
full-width Latin letters and digits equal their ASCII twins (３号线 = 3号线) and
Latin is case-insensitive (LED = led). Nothing else is converted: traditional
and simplified characters are different characters (紅綠燈 does not find 红绿灯).
A text matches when it contains EVERY term as a substring. A query without a
term (empty, all spaces) matches nothing: the caller refuses it before asking.

**Relevance** of a text that matches (BM25, with a gentle length norm):

    score = sum over terms t of  idf(t) * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len / avglen))
    idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))

tf is how often t occurs in the text (`str.count`, non-overlapping), df the
number of indexed texts containing t, N the number of indexed texts, len and
avglen lengths in characters after `fold`; K1 = 1.2, B = 0.3. More occurrences
and rarer terms rank higher, repetition with diminishing returns; of two texts
with the same occurrences the shorter ranks higher. Equal scores are the
caller's to order (by recency).

**What to index** is the caller's choice: the public index holds the
description as the public sees it, masked (`masking.mask`), so digits masked
out of a phone number are not in it and cannot be found; staff search an
index of the description as written.

**Memory.** Keys get small int ids (reused after `remove`); a posting list is a
sorted `array('I')` of ids, 4 bytes an entry. One list per character; pairs
share `PAIR_BUCKETS` lists by hash (most pairs occur in one text, and a list
object costs more than its entries), so a pair's list may hold texts without
the pair: the substring check removes them, and df is counted after it. The
folded texts are kept for those checks. `put` of a key already there updates
only the lists that differ; `remove` takes back every entry and drops emptied
lists (`size`). At 30,000 descriptions of 40-120 characters: ~1.2 kB a text.
"""

from __future__ import annotations

import math
import unicodedata
from array import array
from bisect import bisect_left, insort
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import TypeVar

K1 = 1.2
B = 0.3

Name = TypeVar("Name", str, int)  # of a posting list: a character, a pair bucket

PAIR_BUCKETS = 1 << 16
"""Posting lists shared by the pairs of characters (30,000 descriptions hold ~360,000
distinct pairs). Which pairs share one follows the process's string hash: the answers
never depend on it, only the number of candidates checked."""

# Below this many candidates, checking each by substring beats intersecting more postings.
_FEW = 32


def fold(text: str) -> str:
    """`text` as the index compares it: NFKC-normalised, then case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def terms(query: str) -> list[str]:
    """The query's terms: its whitespace-separated pieces after `fold`, each distinct one once,
    in the order written. `terms("红绿灯　ＬＥＤ 红绿灯") == ["红绿灯", "led"]`."""
    return list(dict.fromkeys(fold(query).split()))


def _pairs(piece: str) -> Iterator[str]:
    return map(str.__add__, piece, piece[1:])


def _bucket(pair: str) -> int:
    return hash(pair) & (PAIR_BUCKETS - 1)


def _holds(posting: array[int], ident: int) -> bool:
    at = bisect_left(posting, ident)
    return at < len(posting) and posting[at] == ident


def _add(lists: dict[Name, array[int]], name: Name, ident: int) -> None:
    posting = lists.get(name)
    if posting is None:
        lists[name] = array("I", (ident,))
    elif posting[-1] < ident:
        posting.append(ident)
    else:
        insort(posting, ident)


def _drop(lists: dict[Name, array[int]], name: Name, ident: int) -> None:
    posting = lists[name]
    del posting[bisect_left(posting, ident)]
    if not posting:
        del lists[name]


@dataclass(frozen=True)
class IndexSize:
    texts: int
    postings: int
    """Posting lists: one per distinct character, one per pair bucket in use."""
    entries: int
    """Ids over all posting lists."""
    slots: int
    """Ids ever handed out (free ones are reused)."""


class TextIndex:
    """Character n-gram inverted index over short texts (case descriptions), Chinese first."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._keys: list[str] = []  # by id; "" for a free id
        self._texts: list[str] = []  # folded, by id
        self._free: list[int] = []
        self._chars: dict[str, array[int]] = {}
        self._buckets: dict[int, array[int]] = {}
        self._length = 0  # of all folded texts, for avglen

    def __len__(self) -> int:
        return len(self._ids)

    def put(self, key: str, text: str) -> None:
        """Index `text` under `key`, replacing what `key` had (only the lists that differ
        change; the same text again changes nothing)."""
        folded = fold(text)
        ident = self._ids.get(key)
        if ident is None:
            ident = self._free.pop() if self._free else len(self._keys)
            if ident == len(self._keys):
                self._keys.append(key)
                self._texts.append("")
            self._keys[ident] = key
            self._ids[key] = ident
        elif folded == self._texts[ident]:
            return
        old_chars, old_buckets = self._lists(self._texts[ident])
        chars, buckets = self._lists(folded)
        self._length += len(folded) - len(self._texts[ident])
        self._texts[ident] = folded
        for char in old_chars - chars:
            _drop(self._chars, char, ident)
        for bucket in old_buckets - buckets:
            _drop(self._buckets, bucket, ident)
        for char in chars - old_chars:
            _add(self._chars, char, ident)
        for bucket in buckets - old_buckets:
            _add(self._buckets, bucket, ident)

    def remove(self, key: str) -> None:
        """Forget `key` and its text; nothing if it is not indexed."""
        if key not in self._ids:
            return
        self.put(key, "")  # out of every list
        ident = self._ids.pop(key)
        self._keys[ident] = ""
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
        matched = set.intersection(*(holding for _, holding in found))
        count = len(self._ids)
        idents = list(matched)
        texts = [self._texts[i] for i in idents]
        # BM25's length norm per text, then each term's share added (list-wise: ~30,000
        # texts hold a common character)
        average = self._length / count
        norms = [K1 * (1 - B) + K1 * B / average * length for length in map(len, texts)]
        scores = [0.0] * len(idents)
        for term, holding in found:
            idf = math.log(1 + (count - len(holding) + 0.5) / (len(holding) + 0.5))
            tfs = map(str.count, texts, repeat(term))
            scores = [score + idf * (K1 + 1) * tf / (tf + norm)
                      for score, tf, norm in zip(scores, tfs, norms, strict=True)]
        keys = self._keys
        return {keys[i]: score for i, score in zip(idents, scores, strict=True)}

    def size(self) -> IndexSize:
        """What the index holds, counted (what a put/remove cycle must leave as it was)."""
        lists = [*self._chars.values(), *self._buckets.values()]
        return IndexSize(texts=len(self._ids), postings=len(lists),
                         entries=sum(map(len, lists)), slots=len(self._keys))

    @staticmethod
    def _lists(folded: str) -> tuple[set[str], set[int]]:
        """The posting lists a folded text is in: its characters, its pairs' buckets."""
        pieces = folded.split()  # a term holds no whitespace: neither do its lists
        return ({char for piece in pieces for char in piece},
                {_bucket(pair) for piece in pieces for pair in _pairs(piece)})

    def _holding(self, term: str) -> set[int]:
        """The ids of the texts containing `term`, exactly: a 1-character term has its own
        list; a longer one's candidates, in the lists of all its pairs, are checked by
        substring."""
        if len(term) == 1:
            return set(self._chars.get(term, ()))
        postings = []
        for bucket in {_bucket(pair) for pair in _pairs(term)}:
            posting = self._buckets.get(bucket)
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
        texts = self._texts
        return {i for i in candidates if term in texts[i]}
