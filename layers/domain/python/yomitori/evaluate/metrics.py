"""The numbers of an evaluation: counts that add up across documents and forms, the rates
derived from them, the metrics JSON and the printed table. No personal values: counts only."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

RATE_KEYS = ("field_accuracy", "cer", "straight_through_rate", "silent_error_rate")
TYPE_ORDER = ("text", "kana", "digits", "date", "checkbox", "choice")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions each cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class Tally:
    """Counts over a set of fields. Adding two tallies gives the tally of both sets."""

    fields: int = 0
    correct: int = 0
    accepted: int = 0
    silent_errors: int = 0  # accepted, yet wrong
    edits: int = 0  # edit distance summed over fields
    truth_chars: int = 0
    suggestions: int = 0
    suggestions_right: int = 0

    def add(self, other: Tally) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def rates(self) -> dict[str, float | int | None]:
        return {
            "fields": self.fields,
            "field_accuracy": _rate(self.correct, self.fields),
            "cer": self.edits / max(1, self.truth_chars) if self.fields else None,
            "straight_through_rate": _rate(self.accepted, self.fields),
            "silent_error_rate": _rate(self.silent_errors, self.fields),
            "suggestion_accuracy": _rate(self.suggestions_right, self.suggestions),
            "suggestions": self.suggestions,
        }


@dataclass(frozen=True)
class Observation:
    """One field as the threshold sweep needs it."""

    field_type: str
    confidence: float
    validators_ok: bool  # no finding besides low confidence
    correct: bool


@dataclass
class Metrics:
    """Result of :func:`yomitori.evaluate.evaluate_directory`."""

    documents: int = 0
    failed: int = 0
    missing: list[str] = field(default_factory=list)  # document ids with a truth file and no result
    processed: int = 0  # documents `process` read (from batch.json), for the throughput
    seconds: float | None = None  # of `process` alone (batch.json)
    overall: Tally = field(default_factory=Tally)
    by_type: dict[str, Tally] = field(default_factory=dict)
    observations: list[Observation] = field(default_factory=list)
    injected_errors: dict | None = None

    @property
    def pages_per_minute(self) -> float | None:
        if not self.seconds or not self.processed:
            return None
        return self.processed / self.seconds * 60

    def count(self, field_type: str, tally: Tally) -> None:
        self.overall.add(tally)
        self.by_type.setdefault(field_type, Tally()).add(tally)

    @classmethod
    def combine(cls, parts: list[Metrics]) -> Metrics:
        """The metrics of several evaluations together (e.g. one per form in the demo)."""
        out = cls()
        for m in parts:
            out.documents += m.documents
            out.failed += m.failed
            out.missing += m.missing
            out.processed += m.processed
            if m.seconds is not None:
                out.seconds = (out.seconds or 0.0) + m.seconds
            out.overall.add(m.overall)
            for t, tally in m.by_type.items():
                out.by_type.setdefault(t, Tally()).add(tally)
            out.observations += m.observations
        return out

    def to_dict(self) -> dict:
        """The metrics JSON (``--metrics-out``)."""
        overall = self.overall.rates()
        data = {
            "documents": self.documents,
            "fields": self.overall.fields,
            "seconds": round(self.seconds, 3) if self.seconds is not None else None,
            "pages_per_minute": round(self.pages_per_minute, 2) if self.pages_per_minute else None,
            **{k: overall[k] for k in RATE_KEYS},
            "by_type": {t: self.by_type[t].rates() for t in _ordered(self.by_type)},
            "suggestion_accuracy": overall["suggestion_accuracy"],
            "suggestions": overall["suggestions"],
            "failed": self.failed,
            "missing": len(self.missing),
        }
        if self.injected_errors is not None:
            data["injected_errors"] = self.injected_errors
        return data

    def table(self) -> str:
        """A compact aligned table: overall and per field type."""
        ppm = f", {self.pages_per_minute:.1f} pages/min" if self.pages_per_minute else ""
        secs = f"process {self.seconds:.1f} s{ppm}" if self.seconds is not None else "process time unknown"
        lines = [f"documents {self.documents} (failed {self.failed}, missing {len(self.missing)}); {secs}"]
        if self.missing:
            shown = ", ".join(self.missing[:5]) + (" ..." if len(self.missing) > 5 else "")
            lines.append(f"missing results: {shown}")
        lines.append(f"{'type':<9}{'fields':>7}{'accuracy':>10}{'CER':>8}"
                     f"{'straight-through':>18}{'silent errors':>15}")
        rows = [("all", self.overall)] + [(t, self.by_type[t]) for t in _ordered(self.by_type)]
        for name, tally in rows:
            r = tally.rates()
            lines.append(f"{name:<9}{r['fields']:>7}{_pct(r['field_accuracy']):>10}{_pct(r['cer']):>8}"
                         f"{_pct(r['straight_through_rate']):>18}{_pct(r['silent_error_rate']):>15}")
        s = self.overall
        right = _pct(_rate(s.suggestions_right, s.suggestions))
        lines.append(f"suggestions {s.suggestions} ({right} right)")
        if self.injected_errors is not None:
            lines.append("injected errors: see the metrics JSON (injected_errors)")
        return "\n".join(lines)


def _ordered(by_type: dict[str, Tally]) -> list[str]:
    return sorted(by_type, key=lambda t: (TYPE_ORDER.index(t) if t in TYPE_ORDER else len(TYPE_ORDER), t))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"
