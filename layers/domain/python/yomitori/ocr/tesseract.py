"""The local OCR engine: Tesseract (Debian's ``jpn`` and ``eng`` models) through tesserocr.

Runs on one machine and in self-hosted containers. One ``PyTessBaseAPI`` per language and
page-segmentation mode is created on first use and reused for every crop afterwards: loading
a model costs far more than reading a field, so a process never starts one Tesseract per field.
Tesseract's own threading is switched off (``OMP_THREAD_LIMIT=1``); parallelism comes from
worker processes (see :mod:`yomitori.pipeline`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yomitori.errors import EngineError
from yomitori.ocr.engine import FieldHint, OcrEngine, Reading, Word, register_engine

if TYPE_CHECKING:
    from PIL import Image

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
DIGITS = "0123456789"
# Full-width katakana (with the small ones and the long-vowel mark) for kana fields.
# (line height px, white margin px) of the three readings of a text line. Measured on synth
# names and addresses: PSM 13 at these sizes agrees on a wrong text far less often than any
# single setting errs (docs/ocr.md).
TEXT_VARIANTS = ((72, 8), (96, 20), (72, 20))
# The same for kana, re-measured on 320 synth name pieces (seeds 7 and 11): 72/8 errs
# differently from the rest (few unanimous mistakes), 48/12 and 36/10 are right more often
# than 72/20; majority of four: 285 right vs 278, unanimous and wrong 1 vs 2.
KANA_VARIANTS = ((72, 8), (96, 20), (48, 12), (36, 10))
KATAKANA = "".join(chr(c) for c in range(0x30A1, 0x30F7)) + "ー"
# (ink height px, thickening px, language, PSM) of the readings of a digit line. Measured on
# 800 synth cell fields (Klee One, Seto; 200/300 dpi): eng raw-line at 32 px, eng single-line
# and jpn raw-line on strokes thickened by a 3 px minimum filter (at ~64 px) make the fewest
# errors together, and none of them unanimous. jpn alone reads a slashed 0 as 9, eng alone
# drops a leading character now and then: they err differently, which is the point.
DIGIT_READERS = ((32, 0, "eng", 13), (40, 3, "eng", 7), (40, 3, "jpn", 13))
# Read only when too few of the above have the expected length.
DIGIT_SPARE_READERS = ((32, 3, "eng", 13), (40, 3, "eng", 13), (32, 0, "eng", 7), (48, 0, "eng", 7))


def find_tessdata(explicit: str | None = None) -> str:
    """The tessdata folder that holds ``jpn.traineddata`` ($TESSDATA_PREFIX, then Debian's)."""
    candidates = [explicit, os.environ.get("TESSDATA_PREFIX"), *TESSDATA_DIRS]
    for c in candidates:
        if c and (Path(c) / "jpn.traineddata").is_file():
            return str(c).rstrip("/") + "/"
    raise EngineError(
        "Tesseract's Japanese model (jpn.traineddata) was not found.",
        action="Install it with `make setup` (Debian: tesseract-ocr-jpn) or set TESSDATA_PREFIX.",
    )


class TesseractEngine(OcrEngine):
    """Reads field crops with Tesseract, tuned per field type.

    - text: ``jpn``, raw line (PSM 13) at three sizes, the majority text
    - kana: the same at four sizes, whitelist of katakana
    - digits: three readings (``eng``/``jpn``, two sizes, thin and thickened strokes) with a digit
      whitelist (plus the field's charset, e.g. "-"), voted per character
    - one cell (``hint.single_char``, the fallback when a row cannot be voted): raw line (PSM 13),
      ``jpn`` for digits, with the same whitelists
    """

    name = "tesseract"
    reads_pages = False
    reads_cells = True
    reads_digit_votes = True

    def __init__(self, tessdata: str | None = None, digits_lang: str = "eng"):
        try:
            import tesserocr
        except ImportError as e:  # pragma: no cover - depends on the installation
            raise EngineError("The Python package tesserocr is not installed.",
                              action="Run `make setup` (it installs tesserocr into .venv).") from e
        self._t = tesserocr
        self.tessdata = find_tessdata(tessdata)
        langs = set(tesserocr.get_languages(self.tessdata)[1])
        if "jpn" not in langs:
            raise EngineError(f"Tesseract has no 'jpn' model in {self.tessdata}.",
                              action="Install tesseract-ocr-jpn (`make setup`).")
        self.digits_lang = digits_lang if digits_lang in langs else "jpn"
        self._apis: dict[tuple[str, int], Any] = {}

    def _api(self, lang: str, psm: int) -> Any:
        key = (lang, psm)
        api = self._apis.get(key)
        if api is None:
            t = self._t
            api = t.PyTessBaseAPI(path=self.tessdata, lang=lang, psm=psm, oem=t.OEM.LSTM_ONLY)
            # Forms have no dictionary words worth correcting towards.
            api.SetVariable("load_system_dawg", "0")
            api.SetVariable("load_freq_dawg", "0")
            self._apis[key] = api
        return api

    def _settings(self, hint: FieldHint) -> tuple[str, int, str]:
        # PSM 13 (raw line) reads one isolated character far more reliably than PSM 10 with
        # the LSTM models; the jpn model knows handwritten-looking digits better in one cell.
        psm = int(self._t.PSM.RAW_LINE if hint.single_char else self._t.PSM.SINGLE_LINE)
        if hint.field_type == "digits":
            extra = "" if hint.single_char else "".join(c for c in (hint.charset or "") if not c.isdigit())
            return ("jpn" if hint.single_char else self.digits_lang), psm, DIGITS + extra
        if hint.field_type == "kana":
            return "jpn", psm, KATAKANA + ("" if hint.single_char else " ")
        return "jpn", psm, hint.charset or ""

    def _recognise(self, img: Image.Image, lang: str, psm: int, whitelist: str) -> Reading:
        api = self._api(lang, psm)
        api.SetVariable("tessedit_char_whitelist", whitelist)
        api.SetImage(img)
        api.Recognize()
        words: list[Word] = []
        ri = api.GetIterator()
        level = self._t.RIL.SYMBOL
        if ri is not None:
            for sym in self._t.iterate_level(ri, level):
                try:
                    text = sym.GetUTF8Text(level)
                except RuntimeError:  # an empty result at this position
                    continue
                box = sym.BoundingBox(level)
                if not text or not text.strip() or box is None:
                    continue
                conf = max(0.0, min(100.0, sym.Confidence(level))) / 100.0
                words.append(Word(text.strip(), tuple(box), conf))
        api.Clear()
        if not words:
            return Reading("", 0.0, [])
        return Reading("".join(w.text for w in words), _combine([w.confidence for w in words]), words)

    def read_field(self, crop: Image.Image, hint: FieldHint) -> Reading:
        """Read one cleaned greyscale crop; confidence is built from symbol confidences.

        Digit lines are read by ``DIGIT_READERS`` and voted character by character: the
        recognisers err differently, so agreement is a far better confidence than one
        recogniser's own score. (Cell rows are voted by the caller, which knows how many
        characters were written: see :meth:`digit_readings`.)"""
        lang, psm, whitelist = self._settings(hint)
        if hint.single_char:
            r = self._recognise(crop, lang, psm, whitelist)
            text = r.text.replace(" ", "")
            return Reading(text, r.confidence if len(text) == 1 else min(r.confidence, 0.3), r.words)
        if hint.field_type != "digits":
            raw_line = int(self._t.PSM.RAW_LINE)
            variants = KANA_VARIANTS if hint.field_type == "kana" else TEXT_VARIANTS
            readings = [self._recognise(_fit(crop, h, pad), lang, raw_line, whitelist) for h, pad in variants]
            if hint.field_type == "kana":
                # Readings that differ only in a small kana spelling cannot have count as one.
                from yomitori.extract.kana import fix_small_kana

                readings = [Reading(fix_small_kana(r.text), r.confidence, r.words) for r in readings]
            return _agree(readings)
        return _vote(self.digit_readings(crop, hint))

    def digit_readings(self, img: Image.Image, hint: FieldHint, *, spare: bool = False) -> list[Reading]:
        """Readings of one line of digits (``DIGIT_READERS``, or the spare ones), for voting
        by the caller, which may know how many characters were written."""
        whitelist = DIGITS + "".join(c for c in (hint.charset or "") if not c.isdigit())
        out = []
        for height, thicken, lang, psm in (DIGIT_SPARE_READERS if spare else DIGIT_READERS):
            src = _thicken(img, thicken)
            lang = self.digits_lang if lang == "eng" else lang
            out.append(self._recognise(_fit(src, height, max(4, round(0.3 * height))), lang, psm, whitelist))
        return out

    def close(self) -> None:
        for api in self._apis.values():
            api.End()
        self._apis.clear()


def _combine(confs: list[float]) -> float:
    """A field is as sure as its least sure character, pulled a little towards the mean."""
    return round(0.7 * min(confs) + 0.3 * (sum(confs) / len(confs)), 4)


def _thicken(img: Image.Image, size: int) -> Image.Image:
    """Dark strokes widened by a ``size`` px (odd) minimum filter (thin pens read worse)."""
    from PIL import ImageFilter

    return img if size <= 1 else img.filter(ImageFilter.MinFilter(size))


def _vote(readings: list[Reading]) -> Reading:
    """Character-wise majority of several readings of the same digits. Only readings of the
    most common length can be aligned; the others count as disagreeing everywhere."""
    from collections import Counter

    texts = [r.text.replace(" ", "") for r in readings]
    lengths = Counter(len(t) for t in texts if t)
    if not lengths:
        return readings[0]
    length = max(lengths, key=lambda n: (lengths[n], n == len(texts[0])))
    aligned = [t for t in texts if len(t) == length]
    n = len(readings)
    out, confs = [], []
    for i in range(length):
        ch, agree = Counter(t[i] for t in aligned).most_common(1)[0]
        out.append(ch)
        # unanimity counts most; a split vote leaves the field for a person
        confs.append(0.97 if agree == n else 0.6 * agree / n)
    base = next(r for r, t in zip(readings, texts, strict=True) if len(t) == length)
    return Reading("".join(out), _combine(confs), base.words)


def _agree(readings: list[Reading]) -> Reading:
    """The text most of the readings (at different scales) agree on. Tesseract is sure of
    itself even when wrong; a reading that changes with the scale is not to be trusted."""
    from collections import Counter

    texts = [r.text.replace(" ", "") for r in readings]
    best, votes = Counter(texts).most_common(1)[0]
    base = next(r for r, t in zip(readings, texts, strict=True) if t == best)
    if votes == len(readings):
        return base
    cap = 0.6 if votes > 1 else 0.3
    return Reading(base.text, min(base.confidence, cap), base.words)


def _fit(img: Image.Image, height: int, pad: int) -> Image.Image:
    """The ink of ``img`` scaled to ``height`` pixels, on a white margin of ``pad``."""
    import numpy as np
    from PIL import Image as _Image

    arr = np.asarray(img.convert("L"))
    mask = arr < 128
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size:
        arr = arr[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    ink = _Image.fromarray(arr)
    ink = ink.resize((max(1, round(ink.width * height / ink.height)), height), _Image.LANCZOS)
    canvas = _Image.new("L", (ink.width + 2 * pad, height + 2 * pad), 255)
    canvas.paste(ink, (pad, pad))
    return canvas


register_engine("tesseract", TesseractEngine)
