"""A fake engine for tests: answers from a table keyed by field name, or by a function."""

from __future__ import annotations

from collections.abc import Callable

from yomitori.ocr.engine import FieldHint, OcrEngine, Reading, register_engine


class FakeEngine(OcrEngine):
    name = "fake"

    def __init__(
        self,
        answers: dict[str, Reading | tuple[str, float]] | None = None,
        *,
        reader: Callable[[object, FieldHint], Reading] | None = None,
        default: Reading | None = None,
    ):
        self.answers = {k: v if isinstance(v, Reading) else Reading(*v) for k, v in (answers or {}).items()}
        self.reader = reader
        self.default = default or Reading("", 0.0)
        self.calls: list[FieldHint] = []

    def read_field(self, crop, hint: FieldHint) -> Reading:
        self.calls.append(hint)
        if self.reader is not None:
            return self.reader(crop, hint)
        return self.answers.get(hint.name, self.default)


register_engine("fake", FakeEngine)
