"""Text search over case descriptions (`services/common/textindex.py`).

Each story: given these descriptions indexed under their case numbers, when someone
searches for these words, then exactly the cases whose text holds every word are found,
the most relevant first.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.masking import mask
from services.common.textindex import TextIndex, terms


def index_of(texts: dict[str, str]) -> TextIndex:
    index = TextIndex()
    for key, text in texts.items():
        index.put(key, text)
    return index


def found(index: TextIndex, query: str) -> set[str]:
    return set(index.search(query))


def ranked(index: TextIndex, query: str) -> list[str]:
    """The keys found, most relevant first."""
    scores = index.search(query)
    return sorted(scores, key=lambda key: -scores[key])


CITY = {
    "A": "文化路口的红绿灯坏了，早高峰很危险。",
    "B": "沙口路王府坟菜市场门口的红绿灯不亮了。",
    "C": "地铁3号线出口的电梯停运两天了。",
    "D": "No.5 路灯不亮，LED灯罩掉了一半。",
    "E": "紅綠燈壞了，請盡快修理。",
    "F": "金水路人行道井盖缺失。",
}


# -- what matches -------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "cases"), [
    ("红绿灯", {"A", "B"}),             # a word inside a sentence, never segmented away
    ("绿灯坏", {"A"}),                   # any substring, word boundaries or not
    ("路", {"A", "B", "D", "F"}),        # one character
    ("红绿灯 文化", {"A"}),              # every term must be in the text
    ("红绿灯　菜市场", {"B"}),           # the ideographic space separates terms too
    ("红绿灯 电梯", set()),
    ("3号线", {"C"}),                    # digits and Chinese mixed
    ("３号线", {"C"}),                   # full-width digits are the same digits
    ("no.5 路灯", {"D"}),                # Latin, case-insensitive, with punctuation
    ("led", {"D"}), ("ＬＥＤ", {"D"}), ("Led灯罩", {"D"}),
    ("紅綠燈", {"E"}),                   # traditional characters find traditional text only:
    ("灯", {"A", "B", "D"}),             # 灯 and 燈 are different characters, no conversion
    ("文化路口的红绿灯坏了，早高峰很危险。还有", set()),   # longer than any text
])
def test_a_text_is_found_when_it_holds_every_term(query: str, cases: set[str]) -> None:
    assert found(index_of(CITY), query) == cases


def test_a_text_holding_the_pieces_of_a_term_but_not_the_term_is_not_found() -> None:
    index = index_of({"G": "灯坏了，红绿灯好的。"})  # 红绿, 绿灯, 灯坏, 坏了: all there
    assert found(index, "红绿灯坏了") == set()
    assert found(index, "红绿灯好") == {"G"}


@pytest.mark.parametrize("query", ["", " ", "　", " \t\n　 "])
def test_a_query_without_terms_finds_nothing(query: str) -> None:
    assert terms(query) == []
    assert index_of(CITY).search(query) == {}


def test_the_terms_of_a_query_are_folded_and_each_counted_once() -> None:
    assert terms(" 红绿灯　ＬＥＤ  Led 红绿灯 ") == ["红绿灯", "led"]


def test_an_empty_index_finds_nothing() -> None:
    assert TextIndex().search("红绿灯") == {}
    assert len(TextIndex()) == 0


def test_the_digits_masked_out_of_a_phone_number_cannot_be_found() -> None:
    written = "金水路路灯不亮，电话13812345678，请回电。"
    index = index_of({"P": mask(written)})
    assert found(index, "路灯") == {"P"}
    for digits in ("13812345678", "1234", "81234", "3812345678"):
        assert found(index, digits) == set(), digits


# -- put and remove -------------------------------------------------------------------------

def test_putting_a_key_again_replaces_its_text() -> None:
    index = index_of(CITY)
    index.put("A", "文化路口的路灯坏了。")  # masked differently after an erasure, say
    assert found(index, "红绿灯") == {"B"}
    assert found(index, "文化路口的路灯") == {"A"}
    assert len(index) == len(CITY)


def test_a_removed_text_is_found_no_more_and_leaves_nothing_behind() -> None:
    index = index_of(CITY)
    before = index.size()
    for round_ in range(50):
        index.put(f"X{round_}", f"第{round_}次：文化路口的红绿灯又坏了，LED 3号")
        index.put("A", CITY["A"] + "补充" * (round_ % 3))
        index.remove(f"X{round_}")
    index.put("A", CITY["A"])
    after = index.size()
    assert (after.texts, after.postings, after.entries) == (before.texts, before.postings,
                                                           before.entries)
    assert after.slots == before.slots + 1  # X's id, reused round after round
    assert found(index, "红绿灯") == {"A", "B"}
    index.remove("A")
    index.remove("A")  # twice: nothing to do
    index.remove("never indexed")
    assert found(index, "红绿灯") == {"B"}
    assert len(index) == len(CITY) - 1
    for key in CITY:
        index.remove(key)
    assert (len(index), index.size().postings, index.size().entries) == (0, 0, 0)


# -- relevance ---------------------------------------------------------------------------------

def test_more_occurrences_rank_higher() -> None:
    index = index_of({
        "once": "路口的红绿灯坏了，过马路很危险，请派人看看。",
        "twice": "红绿灯坏了，路口的红绿灯一直不亮，请派人看看。",
        "other": "人行道井盖缺失。",
    })
    assert ranked(index, "红绿灯") == ["twice", "once"]


def test_a_rarer_term_weighs_more() -> None:
    # two texts of the same length, each holding one term twice and the other once;
    # 路灯 is in many texts, 井盖 in these two only
    texts = {f"lamp{n}": f"第{n}个路灯不亮。" for n in range(8)}
    texts |= {"lamps": "路灯坏了，路灯旁的井盖也松了。", "covers": "井盖缺失，井盖旁的路灯也坏了。"}
    index = index_of(texts)
    assert ranked(index, "路灯 井盖") == ["covers", "lamps"]
    assert ranked(index, "井盖 路灯") == ["covers", "lamps"]


def test_of_two_texts_with_the_same_occurrences_the_shorter_ranks_higher() -> None:
    index = index_of({
        "short": "红绿灯坏了。",
        "long": "红绿灯坏了，早高峰车辆很多，老人和孩子过马路很危险，希望尽快派人修好。",
    })
    assert ranked(index, "红绿灯") == ["short", "long"]


def test_relevance_adds_up_over_the_terms() -> None:
    # each term weighs by its rarity among all the texts, not among those holding the others
    index = index_of(CITY)
    assert found(index, "口") == {"A", "B", "C"} and found(index, "灯") == {"A", "B", "D"}
    both = index.search("口 灯")
    assert set(both) == {"A", "B"}
    for key in both:
        assert both[key] == pytest.approx(index.search("口")[key] + index.search("灯")[key])
        assert both[key] == pytest.approx(index.search("灯 口")[key])


# -- exactly a substring scan -----------------------------------------------------------------

def scanned(texts: dict[str, str], query: str) -> set[str]:
    """What a scan over every text returns: NFKC and case folding on both sides."""
    def folded(text: str) -> str:
        return unicodedata.normalize("NFKC", text).casefold()
    wanted = folded(query).split()
    if not wanted:
        return set()
    return {key for key, text in texts.items() if all(term in folded(text) for term in wanted)}


# Few characters, so that terms recur and a text often holds every pair of characters of a term
# without the term: CJK (simplified and traditional), Latin in both cases and widths, digits in
# both widths, sigma's three forms, spaces of both widths.
ALPHABET = "红绿灯紅Aａ1２Σσς 　"
TEXT = st.text(alphabet=ALPHABET, max_size=40)
KEYS = st.sampled_from([f"ZB{n}" for n in range(12)])


@settings(max_examples=500, deadline=None, database=None)
@given(changes=st.lists(st.tuples(KEYS, TEXT, st.integers(0, 3)), min_size=1, max_size=30),
       picks=st.lists(st.tuples(st.integers(0, 29), st.integers(0, 40), st.integers(1, 8)),
                      min_size=1, max_size=3),
       extra=st.one_of(st.just(""), st.text(alphabet=ALPHABET, max_size=8)))
def test_search_finds_exactly_what_a_substring_scan_finds(
        changes: list[tuple[str, str, int]], picks: list[tuple[int, int, int]],
        extra: str) -> None:
    index = TextIndex()
    texts: dict[str, str] = {}
    for key, text, dice in changes:  # one in four removes the case
        if dice == 0:
            index.remove(key)
            texts.pop(key, None)
        else:
            index.put(key, text)
            texts[key] = text
    # terms cut from every text ever indexed (so that some are found, and some only in a
    # text since replaced or removed), and maybe one made up
    history = [text for _, text, dice in changes if dice and text]
    cut = [history[which % len(history)] for which, _, _ in picks] if history else []
    pieces = [text[at % len(text):at % len(text) + length]
              for text, (_, at, length) in zip(cut, picks, strict=False)]
    query = " ".join([*pieces, extra])
    assert found(index, query) == scanned(texts, query)
    assert len(index) == len(texts)
    # and no trace of the texts replaced or removed: the lists of a fresh index of these texts
    fresh = index_of(texts).size()
    assert (index.size().postings, index.size().entries) == (fresh.postings, fresh.entries)
