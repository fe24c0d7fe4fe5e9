"""OCR engines behind one interface (see :mod:`yomitori.ocr.engine`)."""

from yomitori.ocr.engine import FieldHint, OcrEngine, Reading, Word, get_engine

__all__ = ["FieldHint", "OcrEngine", "Reading", "Word", "get_engine"]
