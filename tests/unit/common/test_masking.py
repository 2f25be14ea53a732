"""Personal details in free text, masked for the public (`services/common/masking.py`).

Each story: given a text a resident or an officer wrote, when it is masked, then
the details in it show only their kind and a few characters, and nothing else
in the text changes.
"""

from __future__ import annotations

import pytest

from services.common.masking import (
    find_details,
    id_check_character,
    is_id_number,
    mask,
)


def an_id_number(first17: str) -> str:
    """A resident ID number with its right check character."""
    return first17 + id_check_character(first17)


ID_NUMBER = an_id_number("41010219900307123")  # Zhengzhou, born 1990-03-07
ID_WITH_X = "11010519491231002X"  # the standard's own example: check character X


# -- each kind, masked ------------------------------------------------------------------

@pytest.mark.parametrize(("written", "shown"), [
    # mobiles: the first 3 and last 4 digits stay
    ("我的电话13812345678，请回电", "我的电话138****5678，请回电"),
    ("手机：+86 138-1234-5678", "手机：+86 138-****-5678"),
    ("(+86)13812345678", "(+86)138****5678"),
    ("0086 19912345678", "0086 199****5678"),
    ("8613812345678", "86138****5678"),
    ("电话:138 1234 5678。", "电话:138 **** 5678。"),
    ("打013812345678找我", "打0138****5678找我"),
    # landlines with an area code: the area code and the last 4 digits stay
    ("座机0371-12345678转12", "座机0371-****5678转12"),
    ("010-87654321", "010-****4321"),
    ("(0371)66668888", "(0371)****8888"),
    ("0371 6666888", "0371 ***6888"),
    # service numbers
    ("客服400-123-4567", "客服400-***-4567"),
    ("8001234567", "800***4567"),
    # ID card numbers: the first 4 and last 4 stay
    (f"身份证号{ID_NUMBER}。", f"身份证号4101**********{ID_NUMBER[-4:]}。"),
    (f"身份证{ID_WITH_X}", "身份证1101**********002X"),
    (f"id {ID_WITH_X.lower()}", "id 1101**********002x"),
    ("410102 19900307 123" + ID_NUMBER[-1], "4101** ******** 123" + ID_NUMBER[-1]),
    # emails: two letters of the name and the domain stay; the length of the name goes
    ("邮箱lisi@example.com", "邮箱li***@example.com"),
    ("mail: li.xiuying+zaiban@mail.example.cn.", "mail: li***@mail.example.cn."),
    ("abc@qq.com", "a***@qq.com"),
    ("13812345678@qq.com", "13***@qq.com"),  # a QQ mailbox is an email, not a phone
    # plates: province, city letter and separator stay, and the last 2 characters
    ("车牌豫A·12345违停", "车牌豫A·***45违停"),
    ("豫A12345", "豫A***45"),
    ("豫A 1B2C3", "豫A ***C3"),
    ("粵B12345", "粵B***45"),
    ("新能源车豫AD12345", "新能源车豫A****45"),
    ("豫A12345D", "豫A****5D"),
    ("豫a·12345", "豫a·***45"),
    ("豫A1234挂", "豫A***4挂"),
])
def test_each_kind_of_detail_is_masked(written: str, shown: str) -> None:
    assert mask(written) == shown


def test_each_detail_says_its_kind() -> None:
    text = (f"李四，电话13812345678，座机0371-66668888，客服400-123-4567，"
            f"身份证{ID_NUMBER}，邮箱lisi@example.com，车牌豫A·12345")
    kinds = [detail.kind for detail in find_details(text)]
    assert kinds == ["mobile", "landline", "service", "id_card", "email", "plate"]


def test_a_text_full_of_details_keeps_its_words() -> None:
    written = (f"我叫李四，手机13812345678，身份证{ID_NUMBER}，"
               "邮箱lisi@example.com。昨晚车牌豫A·12345的车一直停在花园路88号门口。")
    shown = mask(written)
    assert shown == ("我叫李四，手机138****5678，身份证4101**********" + ID_NUMBER[-4:]
                     + "，邮箱li***@example.com。昨晚车牌豫A·***45的车一直停在花园路88号门口。")
    for detail in ("13812345678", ID_NUMBER, "lisi@", "12345"):
        assert detail not in shown


def test_masking_twice_changes_nothing_more() -> None:
    once = mask(f"13812345678 {ID_NUMBER} lisi@example.com 豫A·12345 0371-66668888")
    assert mask(once) == once


# -- full-width characters ---------------------------------------------------------------

def test_full_width_digits_are_read_as_digits_and_kept_as_written() -> None:
    assert mask("电话：１３８１２３４５６７８") == "电话：１３８****５６７８"
    assert mask("ｌｉｓｉ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "ｌｉ***＠ｅｘａｍｐｌｅ．ｃｏｍ"
    assert mask("豫Ａ·１２３４５") == "豫Ａ·***４５"


# -- the check character -----------------------------------------------------------------

def test_the_check_character_is_the_one_of_gb_11643() -> None:
    assert id_check_character("11010519491231002") == "X"
    assert is_id_number(ID_WITH_X) and is_id_number(ID_WITH_X.lower())
    assert is_id_number(ID_NUMBER)


def test_an_18_digit_number_with_a_wrong_check_character_is_not_an_id() -> None:
    wrong = ID_NUMBER[:17] + ("0" if ID_NUMBER[17] != "0" else "1")
    assert not is_id_number(wrong)
    assert mask(f"订单号{wrong}") == f"订单号{wrong}"


def test_an_18_digit_number_without_a_birth_date_is_not_an_id() -> None:
    no_date = an_id_number("41010219901345123")  # month 13: right check, no date
    assert not is_id_number(no_date)
    assert mask(no_date) == no_date


# -- near misses: left as written --------------------------------------------------------

@pytest.mark.parametrize("written", [
    "案件ZB261006-7K3M-9QXA已受理",  # a case number
    "请关注案件 ZB261006-WFF0-0001",
    "2026-10-06 13:45 停水",  # a date and a time
    "2026年10月6日至10月8日",
    "20261006",  # a compact date
    "金额13800.50元",  # amounts
    "赔偿1,380,000元",
    "第13812345678.5号",  # a number with a decimal part is not a phone
    "花园路88号院3号楼2单元502室",  # house numbers
    "文化路97号院，邮编450003",  # a postcode
    "工单号 SR13812345678",  # digits inside a code
    "订单号1381234567812",  # too long for a mobile
    "1281234567",  # no mobile starts with 12
    "12345",
    "豫A",  # a plate's head alone
    "新A栋3单元",
    "京A-BCDEF",  # no digits: not a plate
    "v1.2.3 and example.com and @someone",  # no email
])
def test_near_misses_are_left_alone(written: str) -> None:
    assert mask(written) == written
    assert find_details(written) == []
