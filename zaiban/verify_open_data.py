"""Check a zaiban city's published figures yourself, from its open data alone.

    python3 verify_open_data.py --from https://city.example

This one file needs nothing but Python (3.9 or newer) and its standard library: a reader
who does not trust the dashboard downloads it and runs it, without installing zaiban
(keep it so: standard library only — a unit test checks the imports — and no syntax newer
than 3.9's, such as `match`; it was run on 3.9 to 3.13).
(`zaiban verify [--from URL]` runs the same code.) It:

1. reads the manifest of published days (`/open-data/days.json`), downloads every day's
   file (`/open-data/days/<day>.ndjson.gz`), checks each file's SHA-256 (of the
   uncompressed lines) and the hash chain that ties the days together,

       head = sha256_hex(f"{previous}\\n{day}\\n{sha256}"),  the first previous = "0" * 64,

   and names the first day where it breaks;
2. reads the live feed (`/open-data/events.ndjson`) page after page, following its
   `Link: <...>; rel="next"` header until a page comes back empty, and checks that the
   published days hold exactly the feed's lines of those days;
3. recomputes every published figure from the lines alone, by the published definitions
   (`/api/stats/definitions`): the headline figures, the breakdowns by category, district,
   channel, department and day, and the department rankings;
4. prints each figure as published (`/api/stats/...`) beside its recomputation, and exits 0
   only when every figure is equal and the chain is unbroken (1 otherwise; 2 when the city
   could not be read at all).

How the figures are recomputed (the metrics service's rules, restated here on purpose: this
file must not import zaiban). Each feed line is one event of one case and carries `facts`,
the case's public facts after that event. Per case, in log order, a line at or below a seq
already seen (a record published twice) or after the case finished (closed, rejected,
merged) changes nothing; the case's last line then gives its facts, and a case counts under
its category, district, channel and department (`_none` when no department has it) and the
city day it was submitted. A `FeedbackGiven` line is a feedback answer (and a satisfied one
if it says so), a `CaseClosed` line whose reason is `no_answer` a resolution left
unanswered: both count under the case's facts on that line. Durations (first response,
resolution) are counted in logarithmic buckets (8 per doubling of seconds), their median and
90th percentile read from the buckets as the service does, rates rounded half up.

The figures move while the city works: the summary names the last log position it counted
(`positions`), and only the feed's lines up to those positions are counted here; the
figures are read again until two readings agree.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

GENESIS = "0" * 64
DEFAULT_TIMEZONE = "Asia/Shanghai"
PAGE_LIMIT = 5000
USER_AGENT = "zaiban-verify-open-data/1"

DIMENSIONS = ("category", "district", "channel", "department", "day")
RANKINGS = ("resolution", "on_time", "satisfaction")
NO_DEPARTMENT = "_none"
OPEN_STATUSES = frozenset({"submitted", "accepted", "awaiting_dispatch", "routed",
                           "acknowledged"})
FINISHED_STATUSES = frozenset({"closed", "rejected", "merged"})

COUNTS = ("received", "accepted", "rejected", "merged", "open", "resolved", "on_time",
          "feedback", "satisfied", "unanswered", "resolved_ever", "reopened")
RATES = (("resolution_rate", "resolved", "received"),
         ("on_time_rate", "on_time", "resolved"),
         ("satisfaction_rate", "satisfied", "feedback"),
         ("reopen_rate", "reopened", "resolved_ever"))
RATE_TERMS = {name: (numerator, denominator) for name, numerator, denominator in RATES}
RANK_ORDER = {"resolution": ("resolution_rate", "on_time_rate", "satisfaction_rate"),
              "on_time": ("on_time_rate", "resolution_rate", "satisfaction_rate"),
              "satisfaction": ("satisfaction_rate", "resolution_rate", "on_time_rate")}
DURATIONS = ("first_response", "resolution_time")
DURATION_FIELDS = ("cases", "median_s", "p90_s", "median_h", "p90_h")
ROW_FIELDS = (*COUNTS, *(f"{name}{suffix}" for name, _, _ in RATES
                         for suffix in ("", "_pct", "_whole")))
FIGURE_CODES = frozenset({*COUNTS, *(name for name, _, _ in RATES), *DURATIONS,
                          "resolved_on"})
"""The figures this verifier recomputes (the codes of `/api/stats/definitions`)."""
BUCKETS_PER_DOUBLING = 8
FIGURE_PATHS = {"summary": "/api/stats/summary",
                **{f"breakdown/{d}": f"/api/stats/breakdown/{d}" for d in DIMENSIONS},
                **{f"ranking/{by}": f"/api/stats/ranking?by={by}" for by in RANKINGS}}
"""Where each published answer `compare` reads is served."""
LINE_FIELDS = ("position", "day", "case_id", "type", "seq", "recorded_at", "facts", "what")
FACT_FIELDS = ("status", "category", "district", "channel", "submitted_at")
"""What the verifier reads of a feed line (and of its facts) that every line must have."""


class VerifyError(Exception):
    """The open data or the figures could not be read (network, HTTP, format)."""


# --- reading the city ---------------------------------------------------------------------------


@dataclass
class Http:
    """GETs against one city, with clear errors."""

    base_url: str
    timeout_s: float = 30.0

    def url(self, path: str) -> str:
        return urllib.parse.urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))

    def get(self, path: str) -> tuple[bytes, Mapping[str, str]]:
        url = self.url(path)
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise VerifyError(f"{url}: only http:// and https:// addresses can be read")
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT,  # noqa: S310
                                                       "Accept-Encoding": "identity"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310
                return answer.read(), {k.lower(): v for k, v in answer.headers.items()}
        except urllib.error.HTTPError as error:
            raise VerifyError(f"{url}: the city answered HTTP {error.code} {error.reason}"
                              ) from None
        except urllib.error.URLError as error:
            raise VerifyError(f"{url}: cannot reach the city ({error.reason})") from None
        except OSError as error:  # timeouts, resets, refused connections
            raise VerifyError(f"{url}: the connection failed ({error})") from None

    def json(self, path: str) -> Any:
        body, _ = self.get(path)
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise VerifyError(f"{self.url(path)}: the answer is not JSON") from None


NEXT_LINK = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?')


def next_link(headers: Mapping[str, str]) -> str | None:
    found = NEXT_LINK.search(headers.get("link", ""))
    return found.group(1) if found else None


def cursor_of(link: str) -> dict[int, int]:
    """The per-partition positions a feed link's `after` names ("p-o.p-o...")."""
    after = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query).get("after", [""])[0]
    positions: dict[int, int] = {}
    for part in filter(None, after.split(".")):
        partition, _, offset = part.partition("-")
        positions[int(partition)] = int(offset)
    return positions


# --- the lines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One feed line: its text as served, and what it says."""

    text: str
    data: dict[str, Any]

    @property
    def partition(self) -> int:
        return int(str(self.data["position"]).split(":")[0])

    @property
    def offset(self) -> int:
        return int(str(self.data["position"]).split(":")[1])

    @property
    def day(self) -> str:
        return str(self.data["day"])


def parse_lines(body: bytes, where: str) -> list[Line]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise VerifyError(f"{where}: not UTF-8") from None
    lines = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            raise VerifyError(f"{where}, line {number}: not JSON") from None
        missing = [name for name in LINE_FIELDS if name not in data] if isinstance(
            data, dict) else ["everything"]
        missing += [f"facts.{name}" for name in FACT_FIELDS
                    if not missing and name not in (data["facts"] or {})]
        if missing or ":" not in str(data["position"]):
            raise VerifyError(f"{where}, line {number}: not a feed line (no "
                              f"{', '.join(missing) or 'partition:offset position'})")
        lines.append(Line(raw, data))
    return lines


FRACTION = re.compile(r"\.(\d{1,6})(?=\d*(?:[+-]|$))")


def moment(text: str) -> datetime:
    """An ISO 8601 moment ("Z" or an offset; older Pythons want 6 digits of fraction)."""
    text = text.replace("Z", "+00:00")
    return datetime.fromisoformat(FRACTION.sub(lambda m: "." + m[1].ljust(6, "0"), text, 1))


def city_zone(name: str) -> tzinfo:
    """A timezone by name (Asia/Shanghai) or as a fixed offset (+08:00)."""
    fixed = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if fixed:
        sign = 1 if fixed[1] == "+" else -1
        return timezone(sign * timedelta(hours=int(fixed[2]), minutes=int(fixed[3])))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise VerifyError(f"unknown timezone {name!r}: give it as an offset, "
                          "e.g. --timezone +08:00") from None


# --- the chain ----------------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chain_head(previous: str, day: str, sha256: str) -> str:
    return sha256_hex(f"{previous}\n{day}\n{sha256}".encode())


@dataclass(frozen=True)
class ChainBreak:
    """The first day where the published history does not hold together, and why."""

    day: str
    reason: str


def check_chain(entries: Sequence[Mapping[str, Any]], files: Mapping[str, bytes | None]
                ) -> ChainBreak | None:
    """The first break of the chain, or None. `files`: each day's uncompressed file (None
    when it could not be had). Every day must follow the one before, hash to its sha256,
    name the head before it as `previous`, and have the head the formula gives."""
    previous, expected = GENESIS, None
    for entry in entries:
        day = str(entry.get("day"))
        try:
            this = date.fromisoformat(day)
        except ValueError:
            return ChainBreak(day, "its day is not a date")
        if expected is not None and this != expected:
            return ChainBreak(day, f"the day after {expected - timedelta(days=1)} should be "
                                   f"{expected}: days are missing or out of order")
        content = files.get(day)
        if content is None:
            return ChainBreak(day, "its file could not be downloaded or unpacked")
        if sha256_hex(content) != entry.get("sha256"):
            return ChainBreak(day, "its file does not hash to the sha256 the manifest gives: "
                                   "the file was changed after publication")
        if entry.get("previous") != previous:
            return ChainBreak(day, "its previous is not the head of the day before: an earlier "
                                   "day was rewritten")
        if chain_head(previous, day, str(entry.get("sha256"))) != entry.get("head"):
            return ChainBreak(day, "its head does not follow from previous, day and sha256")
        held = content.count(b"\n")
        if "events" in entry and entry["events"] != held:
            return ChainBreak(day, f"the manifest says {entry['events']} events, the file "
                                   f"holds {held}")
        previous, expected = str(entry["head"]), this + timedelta(days=1)
    return None


# --- recomputing the figures --------------------------------------------------------------------


def bucket_bounds(b: int) -> tuple[float, float]:
    if b < 0:
        return 0.0, 1.0
    return 2 ** (b / BUCKETS_PER_DOUBLING), 2 ** ((b + 1) / BUCKETS_PER_DOUBLING)


def bucket_of(seconds: float) -> int:
    """Bucket b >= 0 holds [2^(b/8), 2^((b+1)/8)) seconds; -1 holds [0, 1)."""
    if seconds < 1:
        return -1
    b = math.floor(BUCKETS_PER_DOUBLING * math.log2(seconds))
    while seconds < bucket_bounds(b)[0]:
        b -= 1
    while seconds >= bucket_bounds(b)[1]:
        b += 1
    return b


def quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """Nearest rank (rank ceil(q*n)), interpolated geometrically within its bucket."""
    n = sum(count for count in histogram.values() if count > 0)
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for b in sorted(histogram):
        count = histogram[b]
        if count <= 0:
            continue
        if seen + count >= rank:
            share = (rank - seen) / count
            low, high = bucket_bounds(b)
            if b < 0:
                return low + (high - low) * share
            return float(low * (high / low) ** share)
        seen += count
    return None


def rate_parts(numerator: int, denominator: int) -> tuple[float | None, float | None, int | None]:
    """(exact fraction, percent to one decimal, whole percent), rounded half up exactly."""
    if denominator <= 0:
        return None, None, None
    tenths = (numerator * 2000 + denominator) // (2 * denominator)
    whole = (numerator * 200 + denominator) // (2 * denominator)
    return numerator / denominator, tenths / 10, whole


def durations(histogram: Mapping[int, int]) -> dict[str, Any]:
    median, p90 = quantile(histogram, 0.5), quantile(histogram, 0.9)
    return {"cases": sum(histogram.values()),
            "median_s": None if median is None else round(median, 1),
            "p90_s": None if p90 is None else round(p90, 1),
            "median_h": None if median is None else round(median / 3600, 2),
            "p90_h": None if p90 is None else round(p90 / 3600, 2)}


@dataclass
class Tally:
    """The counts of one group of cases (all, one category, one day ...)."""

    counts: Counter[str] = field(default_factory=Counter)
    histograms: dict[str, Counter[int]] = field(
        default_factory=lambda: {name: Counter() for name in DURATIONS})

    def row(self, by_day: bool = False) -> dict[str, Any]:
        """The group's figures, in the shape `/api/stats` publishes them."""
        values: dict[str, Any] = {name: self.counts[name] for name in COUNTS}
        for name, numerator, denominator in RATES:
            exact, pct, whole = rate_parts(self.counts[numerator], self.counts[denominator])
            values.update({name: exact, f"{name}_pct": pct, f"{name}_whole": whole})
        if by_day:
            values.update(first_response=None, resolution_time=None,
                          resolved_on=self.counts["resolved_on"])
        else:
            values.update({name: durations(self.histograms[name]) for name in DURATIONS})
            values["resolved_on"] = None
        return values


Groups = dict[tuple[str, str], Tally]


def city_day(text: str, tz: tzinfo) -> str:
    return moment(text).astimezone(tz).date().isoformat()


def where(facts: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The groups a case counts in, by its facts (not the day)."""
    return [("all", "*"), ("category", str(facts["category"])),
            ("district", str(facts["district"])), ("channel", str(facts["channel"])),
            ("department", str(facts.get("department") or NO_DEPARTMENT))]


def count_case(groups: Groups, facts: Mapping[str, Any], tz: tzinfo) -> None:
    """Add one case, by its last facts, to the groups it counts in."""
    status = facts["status"]
    resolved_at = facts.get("resolved_at")
    measures = ["received"]
    if facts.get("accepted_at") is not None:
        measures.append("accepted")
    if status == "rejected":
        measures.append("rejected")
    elif status == "merged":
        measures.append("merged")
    elif status in OPEN_STATUSES:
        measures.append("open")
    if resolved_at is not None:
        measures.append("resolved")
        if facts.get("resolved_on_time") is True:
            measures.append("on_time")
    reopened = int(facts.get("reopened") or 0)
    if resolved_at is not None or reopened:
        measures.append("resolved_ever")
    if reopened:
        measures.append("reopened")
    submitted = moment(facts["submitted_at"])
    spans = {"first_response": facts.get("first_response_at"), "resolution_time": resolved_at}
    for group in where(facts):
        tally = groups.setdefault(group, Tally())
        tally.counts.update(measures)
        for name, end in spans.items():
            if end is not None:
                tally.histograms[name][bucket_of((moment(end) - submitted).total_seconds())] += 1
    groups.setdefault(("day", city_day(facts["submitted_at"], tz)), Tally()).counts.update(
        measures)
    if resolved_at is not None:
        groups.setdefault(("day", city_day(resolved_at, tz)), Tally()).counts["resolved_on"] += 1


def answer_of(line: Mapping[str, Any]) -> tuple[str, ...]:
    """What a line counts as an answer to a resolution (nothing for most lines)."""
    what = line.get("what") or {}
    if line.get("type") == "FeedbackGiven":
        return ("feedback", "satisfied") if what.get("satisfied") is True else ("feedback",)
    if line.get("type") == "CaseClosed" and what.get("reason") == "no_answer":
        return ("unanswered",)
    return ()


def count_answer(groups: Groups, facts: Mapping[str, Any], answer: Iterable[str],
                 tz: tzinfo) -> None:
    for group in [*where(facts), ("day", city_day(facts["submitted_at"], tz))]:
        groups.setdefault(group, Tally()).counts.update(answer)


def tally_lines(lines: Iterable[Line], tz: tzinfo) -> Groups:
    """Every group's counts from the feed lines (see the module doc for the rules)."""
    by_case: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        by_case[str(line.data["case_id"])].append(line)
    groups: Groups = {}
    for case_lines in by_case.values():
        case_lines.sort(key=lambda line: (line.partition, line.offset))  # the case's log order
        last: Mapping[str, Any] | None = None
        for line in case_lines:
            data = line.data
            if last is not None and (int(data["seq"]) <= int(last["seq"])
                                     or last["facts"]["status"] in FINISHED_STATUSES):
                continue  # a record published twice, or an event after the case finished
            last = data
            answer = answer_of(data)
            if answer:
                count_answer(groups, data["facts"], answer, tz)
        if last is not None:
            count_case(groups, last["facts"], tz)
    return groups


def overall(groups: Groups) -> dict[str, Any]:
    return groups.get(("all", "*"), Tally()).row()


def breakdown(groups: Groups, dimension: str, known: Iterable[str] = ()) -> list[
        tuple[str, dict[str, Any]]]:
    """(value, row) per value seen (and `known` ones, at zero), in the published order."""
    values = {v for d, v in groups if d == dimension} | set(known)
    by_day = dimension == "day"
    rows = [(v, groups.get((dimension, v), Tally()).row(by_day)) for v in values]
    if by_day:
        return sorted(rows, key=lambda item: item[0])
    return sorted(rows, key=lambda item: (-item[1]["received"], item[0]))


def ranking(groups: Groups, by: str, min_cases: int) -> tuple[
        list[tuple[int, str, dict[str, Any]]], list[tuple[str, int]]]:
    """Departments with at least `min_cases` received, best first, sharing ranks when equal
    on every term: (rank, department, row); and the ones left out, (department, received)."""

    def merit(tally: Tally) -> tuple[Any, ...]:
        terms: list[Any] = []
        for name in RANK_ORDER[by]:
            numerator, denominator = RATE_TERMS[name]
            den = tally.counts[denominator]
            terms += [den <= 0, -Fraction(tally.counts[numerator], den) if den > 0 else 0]
        terms.append(-tally.counts["resolved"])
        return tuple(terms)

    departments = [(v, t) for (d, v), t in groups.items()
                   if d == "department" and v != NO_DEPARTMENT]
    ranked_ones = sorted(((merit(t), v, t) for v, t in departments
                          if t.counts["received"] >= max(1, min_cases)),
                         key=lambda item: (item[0], item[1]))
    ranked: list[tuple[int, str, dict[str, Any]]] = []
    previous: tuple[Any, ...] | None = None
    rank = 0
    for position, (current, code, tally) in enumerate(ranked_ones, start=1):
        if current != previous:
            rank, previous = position, current
        ranked.append((rank, code, tally.row()))
    skipped = sorted((v, t.counts["received"]) for v, t in departments
                     if 0 < t.counts["received"] < min_cases)
    return ranked, skipped


# --- comparing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One figure: as published and as recomputed from the lines."""

    figure: str
    published: Any
    recomputed: Any

    @property
    def ok(self) -> bool:
        """Exactly equal (a number is not a boolean, and nothing is zero but 0)."""
        published, recomputed = self.published, self.recomputed
        return (published == recomputed
                and isinstance(published, bool) == isinstance(recomputed, bool)
                and (published is None) == (recomputed is None))


MISSING = "(missing)"


def row_checks(name: str, published: Mapping[str, Any] | None, recomputed: Mapping[str, Any],
               by_day: bool = False) -> list[Check]:
    """Every figure of one row (`name` prefixes them: "category roads")."""
    published = published or {}
    checks = [Check(f"{name} {f}", published.get(f, MISSING), recomputed[f])
              for f in ROW_FIELDS]
    if by_day:
        checks.append(Check(f"{name} resolved_on", published.get("resolved_on", MISSING),
                            recomputed["resolved_on"]))
        return checks
    for duration in DURATIONS:
        ours = recomputed[duration]
        theirs = published.get(duration) or {}
        checks += [Check(f"{name} {duration}.{f}", theirs.get(f, MISSING), ours[f])
                   for f in DURATION_FIELDS]
    return checks


@dataclass
class Section:
    """A group of checks printed together: the summary, a breakdown, a ranking."""

    title: str
    rows: list[tuple[str, list[Check]]] = field(default_factory=list)

    @property
    def checks(self) -> list[Check]:
        return [check for _, checks in self.rows for check in checks]


def compare(published: Mapping[str, Any], groups: Groups) -> list[Section]:
    """The published figures (`summary`, `breakdown/<dimension>`, `ranking/<by>`, as the
    API answers them) beside the ones recomputed in `groups`."""
    sections = [Section("summary", [("", row_checks("summary", published["summary"],
                                                    overall(groups)))])]
    for dimension in DIMENSIONS:
        answer = published[f"breakdown/{dimension}"]
        by_day = dimension == "day"
        rows = {str(row.get("code")): row for row in answer.get("rows", [])}
        known = [] if by_day else list(rows)  # the city's zero rows
        ours = breakdown(groups, dimension, known)
        section = Section(f"by {dimension}")
        section.rows.append(("total", row_checks(f"{dimension} total", answer,
                                                 overall(groups))))
        section.rows.append(("order", [Check(f"{dimension} rows, in order", list(rows),
                                             [code for code, _ in ours])]))
        for code, row in ours:
            section.rows.append((code, row_checks(f"{dimension} {code}", rows.get(code), row,
                                                  by_day)))
        sections.append(section)
    for by in RANKINGS:
        answer = published[f"ranking/{by}"]
        min_cases = int(answer.get("min_cases", 1))
        ranked, skipped = ranking(groups, by, min_cases)
        theirs = {str(d.get("code")): d for d in answer.get("departments", [])}
        section = Section(f"ranking by {by} (departments with at least {min_cases} cases)")
        section.rows.append(("order", [
            Check(f"ranking {by} (rank, department)",
                  [[d.get("rank"), d.get("code")] for d in answer.get("departments", [])],
                  [[rank, code] for rank, code, _ in ranked]),
            Check(f"ranking {by} left out (department, cases)",
                  [[s.get("code"), s.get("received")] for s in answer.get("skipped", [])],
                  [[code, received] for code, received in skipped])]))
        for rank, code, row in ranked:
            section.rows.append((f"{rank}. {code}", row_checks(f"ranking {by} {code}",
                                                               theirs.get(code), row)))
        sections.append(section)
    return sections


# --- the whole verification ---------------------------------------------------------------------


@dataclass
class Report:
    """What `verify` found: the chain, the feed, the figures side by side, the problems."""

    base_url: str
    timezone: str
    days: list[str] = field(default_factory=list)
    head: str | None = None
    chain_break: ChainBreak | None = None
    feed_lines: int = 0
    counted_lines: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def checks(self) -> list[Check]:
        return [check for section in self.sections for check in section.checks]

    @property
    def mismatches(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    @property
    def ok(self) -> bool:
        return (self.chain_break is None and not self.problems and bool(self.sections)
                and not self.mismatches)


def read_days(http: Http, report: Report) -> tuple[dict[str, Any], dict[str, bytes | None]]:
    """The manifest, and each day's file unpacked (None when it could not be had); the
    chain checked into `report`."""
    manifest = http.json("/open-data/days.json")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("days"), list):
        raise VerifyError(f"{http.url('/open-data/days.json')}: no list of days")
    entries: list[dict[str, Any]] = manifest["days"]
    files: dict[str, bytes | None] = {}
    for entry in entries:
        day = str(entry.get("day"))
        try:
            body, _ = http.get(str(entry.get("file") or f"/open-data/days/{day}.ndjson.gz"))
            files[day] = gzip.decompress(body)
        except VerifyError as error:
            report.problems.append(f"day {day}: {error}")
            files[day] = None
        except (OSError, EOFError):
            report.problems.append(f"day {day}: its file is not gzip")
            files[day] = None
    report.days = [str(entry.get("day")) for entry in entries]
    report.head = manifest.get("head")
    report.chain_break = check_chain(entries, files)
    if entries and manifest.get("head") != entries[-1].get("head"):
        report.problems.append("the manifest's head is not the head of its last day")
    return manifest, files


def read_feed(http: Http, covering: Mapping[int, int], wait_s: float) -> list[Line]:
    """Every line of the feed, page after page until an empty page; polled on (up to
    `wait_s` seconds) until it has reached the positions in `covering`."""
    lines: list[Line] = []
    link = f"/open-data/events.ndjson?limit={PAGE_LIMIT}"
    deadline = time.monotonic() + wait_s
    while True:
        body, headers = http.get(link)
        page = parse_lines(body, http.url(link))
        lines += page
        following = next_link(headers)
        if following is None:
            raise VerifyError(f"{http.url(link)}: the feed page names no next page "
                              "(Link: <...>; rel=\"next\")")
        link = following
        if page:
            continue
        reached = cursor_of(link)
        if all(reached.get(p, -1) >= o for p, o in covering.items()):
            return lines
        if time.monotonic() > deadline:
            raise VerifyError(f"the feed has not reached the figures' log positions "
                              f"{dict(covering)} after {wait_s:g} s (it is at {reached})")
        time.sleep(0.5)


def read_figures(http: Http, attempts: int = 5) -> dict[str, Any]:
    """Every published figure, read until the summary's positions are the same before and
    after (the figures did not move while they were read)."""
    for _ in range(attempts):
        found = {name: http.json(path) for name, path in FIGURE_PATHS.items()}
        if http.json(FIGURE_PATHS["summary"]).get("positions") == found["summary"].get(
                "positions"):
            return found
    raise VerifyError(f"the figures kept moving while read ({attempts} times): try again "
                      "when the city is quieter")


def check_days_against_feed(files: Mapping[str, bytes | None], lines: Sequence[Line],
                            report: Report) -> None:
    """The published days hold the feed's lines of those days, each once, and nothing else.

    A line says the day it was recorded for (`day`); a line that came in while its day was
    being published went to the next day not yet published instead, keeping its text: it
    is in a later file than its `day` (never an earlier one), or, while that next day is
    not published yet, in none — which only the last published day's lines may be."""
    in_feed = {line.text: line for line in lines}
    published: dict[str, str] = {}
    for day, content in sorted(files.items()):
        if content is None:
            continue
        texts = content.decode("utf-8", errors="replace").split("\n")[:-1]
        unknown = sum(1 for text in texts if text not in in_feed)
        twice = sum(1 for text in texts if text in published)
        early = sum(1 for text in texts if text in in_feed and in_feed[text].day > day)
        if unknown or twice or early:
            report.problems.append(
                f"day {day}: its file holds {unknown} lines the feed does not have, "
                f"{twice} lines of another day's file, {early} lines of a later day")
        published.update(dict.fromkeys(texts, day))
    read = [day for day, content in files.items() if content is not None]
    if not read:
        return
    last = max(read)
    missing = [line for line in lines if line.day <= last and line.text not in published]
    lost = [line for line in missing if line.day < last]
    if lost:
        report.problems.append(
            f"{len(lost)} lines of published days are in no published file (first: "
            f"{lost[0].data.get('position')} of {lost[0].day}): the files leave them out")
    if len(missing) > len(lost):
        report.notes.append(
            f"{len(missing) - len(lost)} lines of {last} came in while it was being "
            "published: they go to the next day's file")


def check_line_days(lines: Iterable[Line], tz: tzinfo, report: Report) -> None:
    """A line's day is the city day it was recorded, or a later one (a late line); never an
    earlier one. Many lines on an earlier day say the timezone is wrong."""
    early = [line for line in lines
             if line.day < city_day(str(line.data["recorded_at"]), tz)]
    if early:
        report.problems.append(
            f"{len(early)} lines carry a day before the day they were recorded in "
            f"{report.timezone} (first: {early[0].data['position']}): is the city's "
            "timezone another one? (--timezone)")


def verify(base_url: str, *, timezone_name: str | None = None, known_head: str | None = None,
           wait_s: float = 30.0, timeout_s: float = 30.0) -> Report:
    """Verify the open data and the figures of the city at `base_url` (see the module doc).
    Raises `VerifyError` when they cannot be read at all."""
    http = Http(base_url, timeout_s)
    definitions = http.json("/api/stats/definitions?lang=en")
    report = Report(base_url, timezone_name or DEFAULT_TIMEZONE)
    manifest, files = read_days(http, report)
    if timezone_name is None:
        if manifest.get("timezone"):
            report.timezone = str(manifest["timezone"])
        else:
            report.notes.append(f"the manifest does not name the city's timezone: "
                                f"{DEFAULT_TIMEZONE} assumed (--timezone to change)")
    tz = city_zone(report.timezone)
    if known_head is not None and known_head not in {e.get("head") for e in manifest["days"]}:
        report.problems.append(f"the head you kept ({known_head[:12]}...) is not in the chain: "
                               "the history before it was rewritten")
    codes = {str(d.get("code")) for d in definitions} if isinstance(definitions, list) else set()
    unknown = sorted(codes - FIGURE_CODES)
    if unknown:
        report.problems.append(f"the definitions publish figures this verifier does not "
                               f"know: {', '.join(unknown)} (a newer verifier may)")
    published = read_figures(http)
    positions = {int(p): int(o) for p, o in published["summary"].get("positions", {}).items()}
    report.positions = {str(p): o for p, o in sorted(positions.items())}
    lines = read_feed(http, positions, wait_s)
    report.feed_lines = len(lines)
    check_days_against_feed(files, lines, report)
    check_line_days(lines, tz, report)
    counted = [line for line in lines if line.offset <= positions.get(line.partition, -1)]
    report.counted_lines = len(counted)
    report.sections = compare(published, tally_lines(counted, tz))
    return report


# --- printing -----------------------------------------------------------------------------------


def shown(value: Any, exact: bool = False) -> str:
    """A value for the table; `exact`: floats to the last digit (where two differ)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return repr(value) if exact else f"{value:.6g}"
    if isinstance(value, list):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 40 else text[:37] + "..."
    return str(value)


HEADLINE = ("received", "resolved", "resolution_rate_pct")


def render(report: Report, every: bool = False) -> str:
    """The report as text: the chain, the feed, then each figure published | recomputed."""
    out = [f"zaiban open data — {report.base_url}  (city days in {report.timezone})"]
    out += [f"note: {note}" for note in report.notes]
    if report.days:
        state = ("unbroken ✓" if report.chain_break is None else
                 f"BROKEN ✗ at {report.chain_break.day}: {report.chain_break.reason}")
        out.append(f"chain: {len(report.days)} days published, {report.days[0]} .. "
                   f"{report.days[-1]}, head {report.head}: {state}")
    else:
        out.append("chain: no day published yet")
    out.append(f"feed: {report.feed_lines} lines read; {report.counted_lines} counted, up to "
               f"the figures' log positions {report.positions}")
    width = 48
    for section in report.sections:
        out.append("")
        out.append(f"{section.title}".ljust(width) + f"{'published':>16} {'recomputed':>16}")
        for label, checks in section.rows:
            full = every or section.title == "summary"
            for check in checks:
                if full or not check.ok:
                    exact = not check.ok
                    out.append(f"  {check.figure:<{width - 2}}"
                               f"{shown(check.published, exact):>16} "
                               f"{shown(check.recomputed, exact):>16}  "
                               f"{'✓' if check.ok else '✗'}")
            if not full and label != "order":
                mark = "✓" if all(c.ok for c in checks) else "✗"
                heads = [c for c in checks if c.figure.rsplit(" ", 1)[-1] in HEADLINE]
                said = ", ".join(f"{c.figure.rsplit(' ', 1)[-1]} {shown(c.published)}"
                                 for c in heads)
                out.append(f"  {label:<{width - 2}}{said}  {mark} ({len(checks)} figures)")
    out.append("")
    for problem in report.problems:
        out.append(f"problem: {problem}")
    checks, wrong = report.checks, report.mismatches
    if report.ok:
        out.append(f"OK: all {len(checks)} figures equal their recomputation from "
                   f"{report.counted_lines} lines, and the chain of {len(report.days)} days "
                   "is unbroken.")
    else:
        reasons = []
        if report.chain_break is not None:
            reasons.append(f"the chain breaks at {report.chain_break.day}")
        if wrong:
            reasons.append(f"{len(wrong)} of {len(checks)} figures differ from their "
                           "recomputation")
        if report.problems:
            reasons.append(f"{len(report.problems)} problems")
        if not report.sections:
            reasons.append("no figures were compared")
        out.append("NOT VERIFIED: " + "; ".join(reasons) + ".")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None, *, default_url: str | None = None,
         prog: str = "verify_open_data.py", echo: Callable[[str], None] = print) -> int:
    """Run the verifier; the exit code: 0 verified, 1 not, 2 could not read the city."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Recompute a zaiban city's published figures from its open data, "
                    "check the hash chain of its published days, and say whether they agree.")
    parser.add_argument("--from", dest="url", default=default_url, required=default_url is None,
                        help="the city's public address, e.g. https://city.example")
    parser.add_argument("--timezone", default=None,
                        help="the city's timezone (Asia/Shanghai, or +08:00), when its manifest "
                             f"does not say it (default {DEFAULT_TIMEZONE})")
    parser.add_argument("--head", default=None,
                        help="a chain head you kept from before: it must still be in the chain")
    parser.add_argument("--all", action="store_true",
                        help="print every figure of every row, not only the differing ones")
    parser.add_argument("--wait", type=float, default=30.0,
                        help="seconds to wait for the feed to reach the figures (default 30)")
    args = parser.parse_args(argv)
    if echo is print:  # a console or file that cannot write ✓ gets an escape, not a crash
        encoding = getattr(sys.stdout, "encoding", None) or "ascii"
        try:
            "✓✗—".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            reconfigure = getattr(sys.stdout, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="backslashreplace")
    try:
        report = verify(args.url, timezone_name=args.timezone, known_head=args.head,
                        wait_s=args.wait)
    except VerifyError as error:
        echo(f"cannot verify: {error}")
        return 2
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        echo(f"cannot verify: the open data or the figures are not in the shapes this "
             f"verifier reads ({type(error).__name__}: {error})")
        return 2
    echo(render(report, every=args.all))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
