"""Digit voting, the 1/7 shape check and impossible small kana (no OCR engine involved)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from yomitori.extract.digits import (
    NEAR_UNANIMOUS,
    SHAPE_FIXED,
    UNANIMOUS,
    check_shapes,
    one_or_seven,
    repeats_for,
    vote,
)
from yomitori.extract.kana import fix_small_kana
from yomitori.fonts import font, handwriting_font_paths


def _glyph(ch: str, path: str, size: int, angle: float) -> np.ndarray:
    """``ch`` drawn black on white with a real handwriting font, slightly rotated."""
    f = font(path, size)
    img = Image.new("L", (size * 2, size * 2), 255)
    ImageDraw.Draw(img).text((size // 2, size // 4), ch, font=f, fill=20)
    return np.asarray(img.rotate(angle, fillcolor=255, resample=Image.BICUBIC))


@pytest.mark.parametrize("path", handwriting_font_paths())
@pytest.mark.parametrize("size", [48, 80, 120])
@pytest.mark.parametrize("angle", [-3.0, 0.0, 3.0])
def test_one_and_seven_told_apart_by_the_top_of_the_glyph(path, size, angle):
    # Given a 1 and a 7 written with each installed handwriting font, at several sizes and slants
    # When the shape is checked
    # Then each is recognised as itself
    assert one_or_seven(_glyph("1", path, size, angle)) == "1"
    assert one_or_seven(_glyph("7", path, size, angle)) == "7"


def test_hand_drawn_seven_with_short_bar_and_one_with_long_flag():
    # Given strokes drawn like a hurried hand: a 7 whose bar is half its height, a 1 with a flag
    seven = Image.new("L", (80, 120), 255)
    d = ImageDraw.Draw(seven)
    d.line([(20, 10), (70, 10), (40, 110)], fill=0, width=7)
    one = Image.new("L", (80, 120), 255)
    d = ImageDraw.Draw(one)
    d.line([(28, 30), (45, 10), (45, 110)], fill=0, width=7)
    # Then the shape check says 7 and 1
    assert one_or_seven(np.asarray(seven)) == "7"
    assert one_or_seven(np.asarray(one)) == "1"
    # and an empty cell says nothing
    assert one_or_seven(np.full((50, 50), 255, np.uint8)) is None


def test_check_shapes_overrules_a_misread_seven_and_leaves_it_for_review():
    # Given readings that agree on "1" where the glyph is clearly a 7
    path = handwriting_font_paths()[0]
    glyphs = [_glyph("2", path, 80, 0), _glyph("7", path, 80, 0)]
    # When checked
    text, confs = check_shapes("21", [UNANIMOUS, UNANIMOUS], glyphs)
    # Then the 7 is restored, with a confidence below any threshold, and the 2 untouched
    assert text == "27"
    assert confs == [UNANIMOUS, SHAPE_FIXED]
    # and a count mismatch (glyphs not one per character) changes nothing
    assert check_shapes("21", [UNANIMOUS, UNANIMOUS], glyphs[:1]) == ("21", [UNANIMOUS, UNANIMOUS])


def test_vote_uses_only_readings_of_the_written_length():
    # Given three readings of 3 written cells, one of which dropped a character
    voted = vote(["011", "11", "011"], length=3)
    # Then the two full readings decide, and the missing one keeps it from being unanimous
    assert voted is not None
    text, confs = voted
    assert text == "011" and max(confs) < 0.85
    # and with fewer than two readings of the right length there is no vote
    assert vote(["11", "11", "011"], length=3) is None


def test_vote_counts_every_copy_of_a_repeated_short_line():
    # Given one written cell set repeats_for(1) times and read by three readers
    n = repeats_for(1)
    assert n >= 4 and repeats_for(4) == 1
    # When all copies agree
    assert vote(["7" * n] * 3, length=1, repeats=n) == ("7", [UNANIMOUS])
    # When one reader saw a different digit in one copy of seven readings
    odd = "7" * (n - 1) + "1"
    text, confs = vote([odd] + ["7" * n] * 6, length=1, repeats=n)
    # Then the majority wins and all-but-one agreement is near-unanimous
    assert text == "7" and confs == [NEAR_UNANIMOUS]
    # but with three readings one dissent is a split vote
    text, confs = vote([odd] + ["7" * n] * 2, length=1, repeats=n)
    assert text == "7" and confs[0] < 0.85


@pytest.mark.parametrize(("read", "fixed"), [
    ("フジタ ュイ", "フジタ ユイ"),  # a small yu cannot start a word
    ("ョシダ", "ヨシダ"),
    ("マッモト", "マツモト"),  # m cannot be doubled
    ("ェモリ", "エモリ"),
    ("カッ", "カツ"),  # nor can a word end in a small tsu
    ("ワタナベ ヶイコ", "ワタナベ ケイコ"),
])
def test_impossible_small_kana_become_full_size(read, fixed):
    assert fix_small_kana(read) == fixed


@pytest.mark.parametrize("ok", ["ショウタ", "キョウコ", "ハットリ", "ティナ", "シェリー", "ジュン イッペイ"])
def test_possible_small_kana_are_kept(ok):
    assert fix_small_kana(ok) == ok
