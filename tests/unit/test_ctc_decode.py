"""CTC decoding with per-field character masks, on crafted probabilities (no model)."""

from __future__ import annotations

import numpy as np
import pytest
from yomitori.ocr.ctc import BLANK, allowed_mask, decode
from yomitori.ocr.engine import FieldHint
from yomitori.ocr.ppocr import MAX_CONFIDENCE, field_charset, field_confidence

CHARS = ["", "1", "7", "ア", "あ", "國", "国", "A", " "]


def probs(*steps: dict[str, float]) -> np.ndarray:
    """One row per timestep: the given characters' probabilities, the rest to the blank."""
    out = np.zeros((len(steps), len(CHARS)), dtype=np.float32)
    for t, step in enumerate(steps):
        for ch, p in step.items():
            out[t, CHARS.index(ch) if ch != "-" else BLANK] = p
        out[t, BLANK] += 1.0 - out[t].sum()
    return out


def test_repeats_merge_and_blanks_separate_doubled_characters():
    # Given "1 1 - 1" over four timesteps (a blank between the second and third)
    p = probs({"1": 0.9}, {"1": 0.95}, {"-": 1.0}, {"1": 0.8})
    # When decoded with every class allowed
    d = decode(p, np.ones(len(CHARS), dtype=bool))
    # Then two characters: the repeat merged, the blank kept them apart; each keeps its best probability
    assert [CHARS[i] for i in d.indices] == ["1", "1"]
    assert d.char_probs == pytest.approx([0.95, 0.8])
    assert d.spans == [(0, 2), (3, 4)]


def test_mask_keeps_the_low_probability_of_the_allowed_fallback():
    # Given a step where the model is sure of a Chinese-only form, and a little of the Japanese one
    p = probs({"國": 0.85, "国": 0.1})
    # When decoded with only 国 allowed
    d = decode(p, allowed_mask(CHARS, allowed={"国"}))
    # Then 国 is read, with its own (low) probability: routing sends the field to a person
    assert [CHARS[i] for i in d.indices] == ["国"]
    assert d.char_probs[0] == pytest.approx(0.1)
    assert field_confidence(d) == pytest.approx(0.1)


def test_mask_by_predicate_and_blank_always_allowed():
    mask = allowed_mask(CHARS, predicate=lambda ch: ch in "17")
    assert mask.tolist() == [True, True, True, False, False, False, False, False, False]


def test_a_character_that_nearly_appeared_lowers_the_confidence():
    # Given "1", then a blank that was almost an "ア", then "7"
    p = probs({"1": 0.99}, {"-": 0.55, "ア": 0.45}, {"7": 0.99})
    # When decoded
    d = decode(p, np.ones(len(CHARS), dtype=bool))
    # Then "17" is read, but the field is not sure a character was not dropped
    assert [CHARS[i] for i in d.indices] == ["1", "7"]
    assert d.blank_confidence == pytest.approx(0.55)
    assert field_confidence(d) == pytest.approx(0.55)


def test_tails_of_the_neighbours_do_not_count_as_dropped_characters():
    # Given a blank step whose remaining probability is the next character's onset
    p = probs({"1": 0.99}, {"-": 0.6, "7": 0.4}, {"7": 0.99})
    d = decode(p, np.ones(len(CHARS), dtype=bool))
    assert d.blank_confidence == pytest.approx(1.0)


def test_ink_the_mask_refuses_does_not_vanish_into_a_confident_empty_reading():
    # Given a letter written in a digit field
    p = probs({"A": 0.97}, {"-": 1.0})
    # When decoded with only digits allowed
    d = decode(p, allowed_mask(CHARS, allowed={"1", "7"}))
    # Then nothing is read, and the field is far from sure of that
    assert d.indices == []
    assert field_confidence(d) == pytest.approx(0.03)


def test_confidence_never_reaches_one():
    d = decode(probs({"1": 1.0}), np.ones(len(CHARS), dtype=bool))
    assert field_confidence(d) == MAX_CONFIDENCE < 1.0


def test_empty_reading_is_as_sure_as_the_blanks():
    d = decode(probs({"-": 1.0}, {"-": 0.7, "A": 0.3}), np.ones(len(CHARS), dtype=bool))
    assert d.indices == []
    assert field_confidence(d) == pytest.approx(0.7)


@pytest.mark.parametrize(("hint", "inside", "outside"), [
    (FieldHint("digits"), "0123456789", "-Aア"),
    (FieldHint("digits", charset="0123456789-"), "0-9", "Aア"),
    (FieldHint("kana"), "アイウーヴ ぁあ", "A1国"),
    (FieldHint("kana", single_char=True), "ア", " "),
])
def test_field_charsets(hint, inside, outside):
    charset = field_charset(hint)
    assert all(c in charset for c in inside)
    assert not any(c in charset for c in outside)


def test_names_and_addresses_are_limited_to_cp932_not_to_a_list():
    # text fields have no list: any character CP932 can encode (see PpocrEngine._mask)
    assert field_charset(FieldHint("text")) is None
