"""A misread prefecture at the start of an address is corrected only when unambiguous."""

from __future__ import annotations

import pytest
from yomitori.extract.address import fix_prefecture


@pytest.mark.parametrize(("read", "fixed"), [
    ("富貞県中新川郡上市町若杉345-15", "富山県中新川郡上市町若杉345-15"),  # one character off
    ("大坂府大阪市北区", "大阪府大阪市北区"),
])
def test_one_character_off_prefecture_is_corrected(read, fixed):
    assert fix_prefecture(read) == fixed


@pytest.mark.parametrize("text", [
    "愛知県名古屋市中村区",  # already right
    "受知県名古屋市",  # 愛知県 or 高知県: ambiguous, left for a person
    "山田県",  # nothing after it, and 山形/山口/山梨 are all one character off
    "伊藤 誠",  # not an address
    "東京都港区",
])
def test_right_or_ambiguous_text_is_left_alone(text):
    assert fix_prefecture(text) == text
