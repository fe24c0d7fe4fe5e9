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
from importlib import import_module
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
    #: seconds its model took to load, once loaded (engines that load a model on first use)
    load_seconds: float | None = None
    _load_reported: bool = False

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

    def probe(self) -> None:  # noqa: B027 - optional hook; most engines check themselves when built
        """Check that the engine can run (its model is installed and intact) without reading
        anything; raises EngineError (exit code 5) with what to install."""

    def new_load_seconds(self) -> float | None:
        """The model's load time the first time it is asked for after the load, else None (so
        a long-lived process reports it once)."""
        if self.load_seconds is None or self._load_reported:
            return None
        self._load_reported = True
        return self.load_seconds

    def close(self) -> None:  # noqa: B027 - optional hook; engines without resources keep it
        """Release models and handles."""


# name -> engine class, filled by each engine's module when it is imported (``register_engine``)
_REGISTRY: dict[str, type[OcrEngine]] = {}
ENGINE_NAMES = ("ppocr", "tesseract", "textract", "fake")  # the engines shipped with yomitori
DEFAULT_ENGINE = "ppocr"


def register_engine(name: str, cls: type[OcrEngine]) -> None:
    """Make ``cls`` available to :func:`get_engine` as ``name`` (called by the engine's module)."""
    _REGISTRY[name] = cls


def get_engine(name: str = DEFAULT_ENGINE, **options) -> OcrEngine:
    """Build the engine ``name``. An engine is a plug-in: the module ``yomitori.ocr.<name>``
    registers its class when imported, so adding an engine adds a module, not a branch here.
    Modules are imported only when asked for (each pulls in its own heavy dependencies)."""
    if name not in _REGISTRY and name.isidentifier() and name in ENGINE_NAMES:
        import_module(f"yomitori.ocr.{name}")
    cls = _REGISTRY.get(name)
    if cls is None:
        raise EngineError(f"Unknown OCR engine '{name}'.", action=f"Use one of: {', '.join(ENGINE_NAMES)}.")
    return cls(**options)
