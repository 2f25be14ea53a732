"""Lists answered in memory: the rows of a read model, indexed, queried with its own filters.

FerretDB 1.24 answers only a lookup by `_id` from an index: a filter on any other field, an
`_id` range and an `$in` all read every document of the collection, so a list took longer
with every case ever received (1.7 s for a triage queue at 9,407 cases). MongoDB would use
indexes, but two code paths would leave one of them untested. So every instance of a
service that lists keeps the small part of each document a list needs (a *row*: the
top-level query fields and the searched texts, never the view) in a `RowIndex`, and the
store is read only by `_id`: the view of each case on the page, once found. The same code
runs on both stores.

A query is the MongoDB filter the service already writes (`CaseQuery.filter()`, an
Open311 selector…), so its meaning has one statement, and a test compares the answers with
the store's own full scan of the same filter. The filter language is the part of MongoDB's
the services use: equality (an array field matches an element), `$in`, `$nin`, `$ne`,
`$gt`, `$gte`, `$lt`, `$lte`, `$regex` (with `$options: "i"`), `$and`, `$or`. Anything else
is refused (`Unsupported`), so no filter is silently read another way than the store reads
it. Times compare as instants (a naive datetime is UTC, as the store returns them).

How a query runs:

1. *plan*: the cases that can match, from the sets kept per value of each `keyed` field
   (equality and `$in`; `$and` intersects, `$or` unites), from a sorted list per `ranged`
   field (`$gte`/`$lte` bisect it), and from a text index per searched field (`$regex` on
   a literal: character n-grams, each text found checked to hold the words, `textindex.py`,
   which also folds the width of characters: ３ finds 3, as a reader means it, where a
   regular expression in the store would not). A filter answered wholly this way is
   *exact*: its count is the size of the set.
2. *match*: otherwise each candidate is tested against the whole filter, as the store would.
3. *order*: by the sort the caller gives (the `_id` last, so every key is unique), or by
   relevance for a text search; only the page is taken off a heap. The newest-first order
   is kept sorted, so the public list and a large set walk it from the top.
4. *page*: `skip` (an offset) or `after` (a cursor: the key of the last row seen, opaque to
   clients). With a cursor, a case added or moved while someone pages neither appears
   twice nor pushes another one off the next page.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import math
import re
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.common.textindex import TextIndex

Selector = Mapping[str, Any]
Sort = Sequence[tuple[str, int]]
Row = dict[str, Any]

NEWEST: tuple[tuple[str, int], ...] = (("submitted_at", -1), ("_id", -1))
"""Newest submitted first: the order of the public list, the staff lists and Open311."""

NEWEST_KEY = "\x00newest"
"""Where a row keeps its key in the NEWEST order (computed once, when it is put)."""


class Unsupported(ValueError):
    """A filter uses something the index does not read (a programming error: say what)."""


class BadCursor(ValueError):
    """An `after` cursor that is not one this list gave."""


@dataclass(frozen=True)
class Found:
    """A page: the ids in order, how many match in all (None when not asked), the cursor
    after the last one (None when nothing follows)."""

    ids: list[str]
    total: int | None
    next: str | None


def instant(value: Any) -> Any:
    """A datetime as seconds since the epoch (naive = UTC); anything else as it is."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return value


def literal_of(pattern: str) -> str | None:
    """The text a regular expression made by `literal_pattern` matches, or None if
    `pattern` is not such an escaped literal."""
    out: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ".^$|?*+()[]{}":
            return None
        else:
            out.append(char)
    return None if escaped else "".join(out)


# ---- matching one row, as the store would ---------------------------------------------------

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b,
}


def _values(row: Row, field: str) -> list[Any]:
    value = row.get(field)
    return list(value) if isinstance(value, list | tuple) else [value]


def _comparable(a: Any, b: Any) -> bool:
    number = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return (isinstance(a, number) and isinstance(b, number)) or type(a) is type(b)


def _condition(row: Row, field: str, condition: Any) -> bool:
    values = _values(row, field)
    if not (isinstance(condition, Mapping) and condition and
            all(str(k).startswith("$") for k in condition)):
        wanted = instant(condition)
        return any((v == wanted and _comparable(v, wanted)) or (v is None and wanted is None)
                   for v in values)
    options = str(condition.get("$options", ""))
    for operator, operand in condition.items():
        if operator == "$options":
            continue
        if operator in ("$in", "$nin"):
            wanted = [instant(w) for w in operand]
            hit = any(v == w and (_comparable(v, w) or v is None) for v in values for w in wanted)
            if hit != (operator == "$in"):
                return False
        elif operator == "$ne":
            wanted = instant(operand)
            if any(v == wanted and (_comparable(v, wanted) or v is None) for v in values):
                return False
        elif operator in _COMPARE:
            bound = instant(operand)
            if not any(v is not None and _comparable(v, bound) and _COMPARE[operator](v, bound)
                       for v in values):
                return False
        elif operator == "$regex":
            flags = re.IGNORECASE if "i" in options else 0
            regex = re.compile(str(operand), flags)
            if not any(isinstance(v, str) and regex.search(v) for v in values):
                return False
        else:
            raise Unsupported(f"{field}: the row index does not read {operator}")
    return True


def matches(row: Row, selector: Selector) -> bool:
    """Whether the store would find `row` with `selector` (the subset described above)."""
    for key, condition in selector.items():
        if key == "$and":
            if not all(matches(row, part) for part in condition):
                return False
        elif key == "$or":
            if not any(matches(row, part) for part in condition):
                return False
        elif key.startswith("$"):
            raise Unsupported(f"the row index does not read {key}")
        elif not _condition(row, key, condition):
            return False
    return True


# ---- the order of a list -------------------------------------------------------------------


class _Negated(dict[str, int]):
    """-ord(c) by character, each made once: a descending key is a tuple of them, and every
    row keeps one (the NEWEST key's `_id`); made anew each time, the equal ints of 30,148
    rows took 22 MB, where the tuples alone take 6."""

    def __missing__(self, char: str) -> int:
        negated = self[char] = -ord(char)
        return negated


_NEGATED = _Negated()


def _part(value: Any, direction: int) -> tuple[Any, ...]:
    """One sort field as a comparable tuple: None first (as MongoDB sorts null), numbers and
    instants by value, strings by their characters; descending by negation."""
    if value is None:
        return (0,) if direction > 0 else (2,)
    if isinstance(value, bool | int | float):
        return (1, float(value) if direction > 0 else -float(value))
    text = str(value)
    if direction > 0:
        return (1, text)
    # the last 1 puts a longer string with the same start first
    return (1, *map(_NEGATED.__getitem__, text), 1)


def sort_key(row: Row, sort: Sort) -> tuple[Any, ...]:
    return tuple(_part(row.get(field), direction) for field, direction in sort)


def encode_cursor(key: tuple[Any, ...]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, ...]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return _tuples(json.loads(raw))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as error:
        raise BadCursor("not a cursor of this list: use the `next` of the page before") \
            from error


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        raise BadCursor("not a cursor of this list: use the `next` of the page before")
    return value


def _ranked(score: float) -> tuple[Any, ...]:
    return (1, -score) if math.isfinite(score) else (1, 0.0)


# ---- the index ------------------------------------------------------------------------------


class RowIndex:
    """The rows of one read model, by `_id`, with what plans a query (see the module text).

    `keyed`: fields with a set of ids per value (equality, `$in`); `ranged`: fields whose
    values are kept sorted (ranges); `texts`: fields searched with `$regex` through a
    character n-gram index. `fields`: every field a row keeps (the others of a document
    are dropped). A row replaces another only if its `seq` is higher, so the projection,
    a redelivery and a late re-read may put the same case in any order (`version`: the
    field that counts a document's events)."""

    def __init__(self, *, fields: Iterable[str], keyed: Iterable[str] = (),
                 ranged: Iterable[str] = (), texts: Iterable[str] = (),
                 version: str = "seq") -> None:
        self.version = version
        self.keyed = tuple(keyed)
        self.ranged = tuple(dict.fromkeys(("submitted_at", *ranged)))
        self.texts = {name: TextIndex() for name in texts}
        self.fields = tuple(dict.fromkeys((version, *fields, *self.keyed, *self.ranged,
                                           *self.texts)))
        self.rows: dict[str, Row] = {}
        self._by: dict[str, dict[Any, set[str]]] = {name: {} for name in self.keyed}
        self._sorted: dict[str, list[tuple[Any, str]]] = {name: [] for name in self.ranged}
        self._newest: list[tuple[tuple[Any, ...], str]] = []  # NEWEST keys, ascending

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, row_id: object) -> bool:
        return row_id in self.rows

    def seq(self, row_id: str) -> int:
        row = self.rows.get(row_id)
        return int(row.get(self.version) or 0) if row else 0

    def row(self, row_id: str) -> Row | None:
        return self.rows.get(row_id)

    # -- keeping it -------------------------------------------------------------------

    def put(self, document: Mapping[str, Any]) -> bool:
        """Keep the row of `document` unless a newer one (by `seq`) is kept; True if kept."""
        return self._put(document, insort)

    def put_all(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """`put` each of `documents` (a load: the sorted lists are sorted once, at the end);
        returns how many were kept. A load may come in batches (sorting a sorted list with
        a batch appended merges the two), and meet rows put meanwhile: a row already kept
        is put after the sort, as `put` would (replacing it finds its entries by bisection)."""
        again: list[Mapping[str, Any]] = []
        kept = 0
        for document in documents:
            if str(document["_id"]) in self.rows:
                again.append(document)
            elif self._put(document, list.append):
                kept += 1
        for values in self._sorted.values():
            values.sort()
        self._newest.sort()
        return kept + sum(1 for document in again if self.put(document))

    def _put(self, document: Mapping[str, Any],
             enter: Callable[[list[Any], Any], None]) -> bool:
        row_id = str(document["_id"])
        before = self.rows.get(row_id)
        if before is not None and int(document.get(self.version) or 0) <= self.seq(row_id):
            return False
        row: Row = {"_id": row_id}
        for name in self.fields:
            value = document.get(name)
            if isinstance(value, datetime):
                value = instant(value)
            elif isinstance(value, list | tuple):
                value = [instant(v) for v in value]
            row[name] = value
        row[NEWEST_KEY] = sort_key(row, NEWEST)
        # A row replaced (the case's next event) leaves the entries whose value is the same
        # where they are: most events change a status and a date or two, not the texts (whose
        # lists were each of a row's 80-odd characters and pairs, dropped and entered again).
        if before is not None:
            self._unindex(before, keep=row)
        self.rows[row_id] = row
        for name in self.keyed:
            value = row[name]
            if before is not None and before[name] == value:
                continue
            by = self._by[name]
            for one in (value if isinstance(value, list) else (value,)):
                ids = by.get(one)
                if ids is None:
                    by[one] = {row_id}
                else:
                    ids.add(row_id)
        for name in self.ranged:
            value = row[name]
            if before is not None and before[name] == value:
                continue
            if _ranged(value):
                enter(self._sorted[name], (value, row_id))
        if before is None or before[NEWEST_KEY] != row[NEWEST_KEY]:
            enter(self._newest, (row[NEWEST_KEY], row_id))
        for name, text in self.texts.items():
            value = row[name]
            if isinstance(value, str) and value:
                text.put(row_id, value)  # the same text again changes nothing
            elif before is not None:
                text.remove(row_id)
        return True

    def remove(self, row_id: str) -> None:
        row = self.rows.pop(row_id, None)
        if row is not None:
            self._unindex(row)

    def _unindex(self, row: Row, keep: Row | None = None) -> None:
        """Take `row`'s entries out of the sets and sorted lists, but those whose value is the
        same in `keep` (the row replacing it), and out of the text indexes unless it is
        replaced (`put` then changes only the lists its new text differs in)."""
        row_id = row["_id"]
        for name in self.keyed:
            if keep is not None and keep[name] == row[name]:
                continue
            for value in _values(row, name):
                ids = self._by[name].get(value)
                if ids is not None:
                    ids.discard(row_id)
                    if not ids:
                        del self._by[name][value]
        for name in self.ranged:
            value = row.get(name)
            if keep is not None and keep[name] == value:
                continue
            if _ranged(value):
                _discard(self._sorted[name], (value, row_id))
        if keep is None or keep[NEWEST_KEY] != row[NEWEST_KEY]:
            _discard(self._newest, (row[NEWEST_KEY], row_id))
        if keep is None:
            for text in self.texts.values():
                text.remove(row_id)

    # -- asking it --------------------------------------------------------------------

    def find(self, selector: Selector, *, sort: Sort = NEWEST, limit: int = 20, skip: int = 0,
             after: str | None = None, count: bool = True,
             relevance: Mapping[str, float] | None = None) -> Found:
        """One page of the rows `selector` finds, in `sort` order (or by `relevance`, then
        `sort`, for a text search: ids missing from it rank last)."""
        sort = _unique(sort)
        candidates, exact = self._plan(selector)
        start = decode_cursor(after) if after else None
        if start is not None and (len(start) != len(sort) + (relevance is not None) or
                                  not all(isinstance(part, tuple) and part for part in start)):
            raise BadCursor("not a cursor of this list: use the `next` of the page before")

        newest = sort == NEWEST

        def key(row_id: str) -> tuple[Any, ...]:
            row = self.rows[row_id]
            base = row[NEWEST_KEY] if newest else sort_key(row, sort)
            if relevance is None:
                return base
            return (_ranked(relevance.get(row_id, 0.0)), *base)

        wanted = skip + limit + 1  # one more says whether a next page exists
        try:
            page, total = self._page(selector, sort, candidates, exact, start, wanted, key,
                                     count, relevance is None)
        except TypeError as error:  # a cursor of another list: its keys do not compare
            raise BadCursor("not a cursor of this list: use the `next` of the page "
                            "before") from error
        more = len(page) > skip + limit
        page = page[skip:skip + limit]
        following = encode_cursor(key(page[-1])) if more and page else None
        return Found(ids=page, total=total, next=following)

    def _page(self, selector: Selector, sort: tuple[tuple[str, int], ...],
              candidates: set[str] | None, exact: bool, start: tuple[Any, ...] | None,
              wanted: int, key: Callable[[str], tuple[Any, ...]], count: bool,
              plain: bool) -> tuple[list[str], int | None]:
        """The first `wanted` ids after `start`, and the total when `count`."""
        if plain and sort == NEWEST and (
                candidates is None or len(candidates) ** 2 >= 4 * wanted * len(self.rows)):
            # walking the kept order visits about wanted * rows / candidates rows; ordering
            # the candidates costs about as many as there are
            page = list(self._walk_newest(selector, candidates, exact, start, wanted))
            total = None
            if count:
                total = (len(self.rows) if candidates is None else len(candidates)) if exact \
                    else self._count(selector, candidates)
        else:
            pool: Iterable[str] = self.rows if candidates is None else candidates
            found = [i for i in pool if i in self.rows and
                     (exact or matches(self.rows[i], selector))]
            total = len(found) if count else None
            if start is not None:
                found = [i for i in found if key(i) > start]
            page = heapq.nsmallest(wanted, found, key=key)
        return page, total

    def count(self, selector: Selector) -> int:
        candidates, exact = self._plan(selector)
        if exact:
            return len(self.rows) if candidates is None else len(candidates)
        return self._count(selector, candidates)

    def matching(self, selector: Selector) -> set[str]:
        """The ids of every row `selector` finds, in no order."""
        candidates, exact = self._plan(selector)
        pool = set(self.rows) if candidates is None else candidates & self.rows.keys()
        return pool if exact else {i for i in pool if matches(self.rows[i], selector)}

    def count_by(self, field: str, selector: Selector) -> dict[Any, int]:
        """How many rows `selector` finds for each value of `field` (an `$group` count; a
        field with one value per row). A keyed field counted over a filter the plan answers
        wholly is counted from its sets (the size of each, or of its intersection with the
        found rows: the maps count every case by district, 18 ms row by row at 30,148)."""
        candidates, exact = self._plan(selector)
        if exact and field in self.keyed:
            by = self._by[field]
            if candidates is None:
                return {value: len(ids) for value, ids in by.items() if ids}
            return {value: n for value, ids in by.items() if (n := len(ids & candidates))}
        counts: dict[Any, int] = {}
        pool: Iterable[str] = self.rows if candidates is None else candidates
        for row_id in pool:
            row = self.rows.get(row_id)
            if row is not None and (exact or matches(row, selector)):
                value = row.get(field)
                counts[value] = counts.get(value, 0) + 1
        return counts

    def search(self, field: str, query: str) -> dict[str, float]:
        """The relevance of each row whose `field` holds every term of `query`."""
        return self.texts[field].search(query)

    # -- inside -----------------------------------------------------------------------

    def _count(self, selector: Selector, candidates: set[str] | None) -> int:
        pool: Iterable[str] = self.rows if candidates is None else candidates
        return sum(1 for i in pool if i in self.rows and matches(self.rows[i], selector))

    def _walk_newest(self, selector: Selector, candidates: set[str] | None, exact: bool,
                     start: tuple[Any, ...] | None, wanted: int) -> Iterator[str]:
        """The kept newest-first order (ascending keys are newest first), from the top or
        from just after the cursor's key."""
        order = self._newest
        first = 0 if start is None else bisect_right(order, start, key=lambda item: item[0])
        taken = 0
        for position in range(first, len(order)):
            row_id = order[position][1]
            if candidates is not None and row_id not in candidates:
                continue
            if not exact and not matches(self.rows[row_id], selector):
                continue
            yield row_id
            taken += 1
            if taken >= wanted:
                return

    def _plan(self, selector: Selector) -> tuple[set[str] | None, bool]:
        """The ids that can match (None: any) and whether they are exactly those that do."""
        sets: list[set[str]] = []
        exact = True
        for key, condition in selector.items():
            if key in ("$and", "$or"):
                parts = [self._plan(part) for part in condition]
                exact = exact and all(e for _, e in parts)
                if key == "$and":
                    sets.extend(s for s, _ in parts if s is not None)
                elif all(s is not None for s, _ in parts):
                    sets.append(set().union(*(s for s, _ in parts if s is not None)))
                continue
            found, answered = self._field_plan(key, condition)
            exact = exact and answered
            if found is not None:
                sets.append(found)
        if not sets:
            return None, exact
        sets.sort(key=len)
        result = set(sets[0])
        for other in sets[1:]:
            result &= other
        return result, exact

    def _field_plan(self, field: str, condition: Any) -> tuple[set[str] | None, bool]:
        if field == "_id":
            if isinstance(condition, str):
                return ({condition} if condition in self.rows else set()), True
            if isinstance(condition, Mapping) and set(condition) == {"$in"}:
                return {str(i) for i in condition["$in"] if i in self.rows}, True
            return None, False
        operators = condition if isinstance(condition, Mapping) and condition and all(
            str(k).startswith("$") for k in condition) else None
        if field in self.keyed:
            by = self._by[field]
            if operators is None:
                return set(by.get(instant(condition), ())), True
            if set(operators) == {"$in"}:
                return set().union(*(by.get(instant(v), set()) for v in operators["$in"])), True
        if field in self.ranged and operators is not None and set(operators) <= set(_COMPARE):
            return self._range(field, operators), True
        if field in self.texts and operators is not None and "$regex" in operators:
            literal = literal_of(str(operators["$regex"]))
            if literal is not None and literal.strip() and \
                    set(operators) <= {"$regex", "$options"}:
                # each found text was checked to hold the words (`textindex.py`)
                return set(self.texts[field].search(literal)), True
        return None, False

    def _range(self, field: str, operators: Mapping[str, Any]) -> set[str]:
        values = self._sorted[field]
        low, high = 0, len(values)
        for operator, operand in operators.items():
            bound = instant(operand)
            if not isinstance(bound, int | float) or isinstance(bound, bool):
                raise Unsupported(f"{field}: a range needs a number or a time")
            if operator == "$gte":
                low = max(low, bisect_left(values, (bound, "")))
            elif operator == "$gt":
                low = max(low, bisect_right(values, (bound, "\U0010ffff")))
            elif operator == "$lte":
                high = min(high, bisect_right(values, (bound, "\U0010ffff")))
            elif operator == "$lt":
                high = min(high, bisect_left(values, (bound, "")))
        return {row_id for _, row_id in values[low:high]}


def _unique(sort: Sort) -> tuple[tuple[str, int], ...]:
    """`sort` with the `_id` last, so that no two rows share a key (stable pages)."""
    fields = tuple((name, direction) for name, direction in sort)
    return fields if any(name == "_id" for name, _ in fields) else (*fields, ("_id", 1))


def _ranged(value: Any) -> bool:
    """Whether a value goes into a field's sorted list (a number or an instant)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _discard(values: list[Any], item: Any) -> None:
    position = bisect_left(values, item)
    if position < len(values) and values[position] == item:
        del values[position]
