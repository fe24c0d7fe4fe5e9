"""The default OCR engine: PP-OCRv6 small recognition (ONNX) on onnxruntime.

Runs on one machine and inside the ocr Lambda. No text detector: the form already says where
each field is, so each field crop (or a line of composed cells) goes straight to the
recogniser. The model and its dictionary come from the pinned rapidocr wheel (or the model
layer in Lambda, see :mod:`yomitori.ocr.models`) and load once per process, on first use.

What we control, and why we call onnxruntime ourselves instead of rapidocr:

- a per-field **character mask** applied to the model's output before decoding (digits for
  digit fields, katakana/hiragana for kana, characters CP932 can hold for names and
  addresses), so a Chinese-only form or a letter can never be read into a Japanese field;
- **per-character probabilities** (and the probability of a character the decoder dropped),
  which make a field confidence that routing can trust;
- the preprocessing (height 48, aspect kept, the model's normalisation, white padding).
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from yomitori.errors import EngineError
from yomitori.ocr.ctc import Decoded, allowed_mask, decode
from yomitori.ocr.engine import FieldHint, OcrEngine, Reading, register_engine
from yomitori.ocr.models import PPOCR_REC, locate

if TYPE_CHECKING:
    from PIL import Image

HEIGHT = 48  # the model's input height
MIN_WIDTH = 96  # px at height 48; narrower inputs are padded (the model's stride is 8)
MARGIN = 0.18  # white margin around the ink, as a share of the ink height
WHITE = 1.0  # white in the model's normalisation ((x / 255 - 0.5) / 0.5)
THREADS_ENV = "YOMITORI_PPOCR_THREADS"
MAX_CONFIDENCE = 0.999  # a field is never certain: `threshold: 1.0` still means "always a person"

DIGITS = "0123456789"
KATAKANA = "".join(chr(c) for c in range(0x30A1, 0x30F7)) + "ー"
HIRAGANA = "".join(chr(c) for c in range(0x3041, 0x3097))  # read as katakana by normalisation


def field_charset(hint: FieldHint) -> str | None:
    """The characters a field of this kind may hold (None: a name or address, see
    :func:`_text_character`)."""
    extra = "".join(c for c in (hint.charset or "") if not c.isdigit())
    if hint.field_type == "digits":
        return DIGITS + extra
    if hint.field_type == "kana":
        return KATAKANA + HIRAGANA + ("" if hint.single_char else " ")
    return hint.charset or None


# Punctuation no name or address holds: dust beside a digit is read as one of these (1.485-11),
# ノ as /.
# Left out of text fields, so such a read costs confidence instead of passing as a value.
NOT_IN_NAMES_OR_ADDRESSES = set(".,:;!?'\"`^_|\\~/．，。、：；！？＇＂｀＾＿｜￣／")


def _text_character(ch: str) -> bool:
    """A character a name or an address may hold: CP932 can encode it (no Chinese-only forms),
    and it is not stray punctuation."""
    if ch in NOT_IN_NAMES_OR_ADDRESSES:
        return False
    try:
        ch.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


def _onnxruntime():
    """The onnxruntime module, imported on first use (the handler module must import fast)."""
    try:
        import onnxruntime
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise EngineError("The Python package onnxruntime is not installed.",
                          action="Run `make setup` (it installs onnxruntime into .venv).") from e
    return onnxruntime


class PpocrEngine(OcrEngine):
    """Reads field crops with PP-OCRv6 small recognition (see the module docstring)."""

    name = "ppocr"
    reads_pages = False
    reads_cells = True
    reads_digit_votes = False

    def __init__(self, model_path: str | None = None, threads: int | None = None):
        self._model_path = model_path
        # one thread: parallelism comes from worker processes (yomitori.pipeline) or Lambda
        self._threads = threads or int(os.environ.get(THREADS_ENV, "1"))
        self._session = None
        self._chars: list[str] = []
        self._masks: dict[str | None, np.ndarray] = {}
        self._lock = threading.Lock()

    # --- model --------------------------------------------------------------------------
    def _load(self):
        with self._lock:
            if self._session is not None:
                return self._session
            ort = _onnxruntime()
            started = time.perf_counter()
            path = self._model_path or str(locate(PPOCR_REC))
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self._threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            session = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
            meta = session.get_modelmeta().custom_metadata_map
            if "character" not in meta:
                raise EngineError(f"The OCR model {path} carries no character dictionary.",
                                  action="Reinstall the pinned model with `make setup`.")
            # index 0 is CTC's blank; the dictionary follows; the last class is a space
            self._chars = ["", *meta["character"].splitlines(), " "]
            self._session = session
            self.load_seconds = round(time.perf_counter() - started, 3)
            return session

    def _mask(self, charset: str | None) -> np.ndarray:
        mask = self._masks.get(charset)
        if mask is None:
            if charset is None:
                mask = allowed_mask(self._chars, predicate=_text_character)
            else:
                mask = allowed_mask(self._chars, allowed=set(charset))
            self._masks[charset] = mask
        return mask

    def probe(self) -> None:
        """The pinned model is installed and intact (its SHA-256 is checked); onnxruntime imports."""
        if self._model_path is None:
            locate(PPOCR_REC)
        _onnxruntime()

    # --- reading ------------------------------------------------------------------------
    def probabilities(self, crop: Image.Image) -> np.ndarray:
        """The model's per-timestep class probabilities (T × classes) for one crop."""
        session = self._load()
        x = preprocess(np.asarray(crop.convert("L")))
        return session.run(None, {session.get_inputs()[0].name: x})[0][0]

    def read_field(self, crop: Image.Image, hint: FieldHint) -> Reading:
        probs = self.probabilities(crop)
        decoded = decode(probs, self._mask(field_charset(hint)))
        text = "".join(self._chars[i] for i in decoded.indices)
        return Reading(text=text, confidence=field_confidence(decoded))

    def close(self) -> None:
        self._session = None


def field_confidence(decoded: Decoded) -> float:
    """How sure the field is: its least sure character, and how clearly nothing was dropped
    between characters (a dropped character is the error a per-character score cannot see)."""
    if not decoded.indices:
        return round(min(MAX_CONFIDENCE, decoded.blank_confidence), 4)
    worst = min(min(decoded.char_probs), decoded.blank_confidence)
    return round(min(MAX_CONFIDENCE, worst), 4)


def preprocess(arr: np.ndarray) -> np.ndarray:
    """A greyscale crop -> the model's input (1, 3, 48, W): cut to the ink with a white margin,
    scaled to height 48 with its aspect kept, normalised, padded with white on the right."""
    ink = arr < 128
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size:
        arr = arr[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h = arr.shape[0]
    m = max(2, round(MARGIN * h))
    arr = np.pad(arr, ((m, m), (m, m)), constant_values=255)
    h, w = arr.shape
    width = max(1, math.ceil(HEIGHT * w / h))
    import cv2  # imported here: the handler module must import fast (cold start)

    scaled = cv2.resize(arr, (width, HEIGHT), interpolation=cv2.INTER_AREA if h > HEIGHT else cv2.INTER_CUBIC)
    norm = (scaled.astype(np.float32) / 255.0 - 0.5) / 0.5
    total = max(MIN_WIDTH, math.ceil(width / 8) * 8)
    out = np.full((1, 3, HEIGHT, total), WHITE, dtype=np.float32)
    out[0, :, :, :width] = norm
    return out


register_engine("ppocr", PpocrEngine)
