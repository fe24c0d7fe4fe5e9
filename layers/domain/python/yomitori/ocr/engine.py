"""The OCR engine interface (a port) and the engine factory.

An engine reads either a whole page (``reads_pages``: Textract returns every word of the page
with its box) or one field crop at a time (Tesseract, tuned per field type). Extraction asks
the engine which it does and maps words into field boxes either way, so it does not care which
engine read the page. Optional abilities are capability flags with defaults, so an engine can
grow without breaking the others.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from yomitori.errors import EngineError

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class Word:
    """A word (or a single character) with its box in image pixels and a confidence 0..1."""

    text: str
    box: tuple[int, int, int, int]  # left, top, right, bottom
    confidence: float


@dataclass(frozen=True)
class FieldHint:
    """What the engine should expect in a crop."""

    field_type: str  # text, kana, digits (a FieldType value)
    charset: str | None = None  # allowed characters, when known
    single_char: bool = False  # one cell of a ``cells`` field
    name: str = ""  # the field's name (fakes key on it; real engines ignore it)


@dataclass(frozen=True)
class Reading:
    text: str
    confidence: float  # 0..1
    words: list[Word] = field(default_factory=list)


class OcrEngine(ABC):
    """An OCR engine. Engines are built once per process and reused (they hold models)."""

    name: str = "engine"
    #: reads a whole page and returns word boxes (``read_page``) instead of field crops
    reads_pages: bool = False
    #: can read one character cell at a time reliably (used for ``cells`` fields)
    reads_cells: bool = True
    #: gives several independent readings of a digit line (``digit_readings``) for a vote
    reads_digit_votes: bool = False

    @abstractmethod
    def read_field(self, crop: Image.Image, hint: FieldHint) -> Reading:
        """Read one field crop (a greyscale image with the box lines already removed)."""

    def read_page(self, page: Image.Image) -> list[Word]:
        """Read every word of an aligned page. Only engines with ``reads_pages``."""
        raise NotImplementedError(f"the {self.name} engine reads field crops, not pages")

    def digit_readings(self, crop: Image.Image, hint: FieldHint, *, spare: bool = False) -> list[Reading]:
        """Several readings of one digit line, by different recognisers or settings (``spare``:
        further ones, asked for when the first disagree). Only engines with ``reads_digit_votes``."""
        raise NotImplementedError(f"the {self.name} engine gives one reading per field")

    def close(self) -> None:  # noqa: B027 - optional hook; engines without resources keep it
        """Release models and handles."""


def get_engine(name: str, **options) -> OcrEngine:
    """Build the engine ``name`` (``tesseract``, ``textract`` or ``fake``)."""
    if name == "tesseract":
        from yomitori.ocr.tesseract import TesseractEngine

        return TesseractEngine(**options)
    if name == "fake":
        from yomitori.ocr.fake import FakeEngine

        return FakeEngine(**options)
    if name == "textract":
        from yomitori.ocr.textract import TextractEngine

        return TextractEngine(**options)
    raise EngineError(f"Unknown OCR engine '{name}'.", action="Use one of: tesseract, textract, fake.")
