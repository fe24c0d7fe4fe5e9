"""Score `process` results against synth truth files: ``yomitori eval`` (one machine).

Field accuracy (exact match of the normalised values, white space ignored), character error
rate (edit distance summed over fields / truth characters), straight-through rate (share of
fields accepted) and silent-error rate (share of all fields accepted yet wrong), overall and
per field type. A document whose result has an error counts with all its fields wrong and not
accepted; a truth file without a result counts the same way and is reported as missing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import ValidationError

from yomitori.batch import SUMMARY_NAME
from yomitori.errors import ExitCode, YomitoriError
from yomitori.evaluate.metrics import Metrics, Observation, Tally, edit_distance
from yomitori.forms import load_form
from yomitori.forms.schema import FieldDef, FormDefinition
from yomitori.normalise import normalise_value
from yomitori.results import DocumentResult, FieldResult, FieldStatus
from yomitori.validation.routing import LOW_CONFIDENCE

__all__ = ["EvaluationError", "Metrics", "evaluate_directory", "score_field"]

_WHITE = re.compile(r"\s+")


class EvaluationError(YomitoriError):
    code = "evaluation_input"
    exit_code = ExitCode.BAD_INPUT
    action = "Pass the output folder of `yomitori process` and, if needed, the truth folder with --truth."


def canonical(field: FieldDef, value: str) -> str:
    """How values are compared: normalised for the field's type, white space removed."""
    return _WHITE.sub("", normalise_value(field.type, value or "", field.charset))


def score_field(field: FieldDef, truth: str, result: FieldResult | None) -> tuple[Tally, Observation]:
    """The tally of one field (``result`` None: not read at all) and its sweep observation."""
    want = canonical(field, truth)
    got = canonical(field, result.value) if result is not None else ""
    correct = result is not None and got == want
    accepted = result is not None and result.status is FieldStatus.ACCEPTED
    suggestion = result.suggestion if result is not None else None
    tally = Tally(
        fields=1, correct=int(correct), accepted=int(accepted), silent_errors=int(accepted and not correct),
        edits=edit_distance(got, want), truth_chars=len(want),
        suggestions=int(suggestion is not None),
        suggestions_right=int(suggestion is not None and canonical(field, suggestion.value) == want),
    )
    ok = result is not None and not [r for r in result.reasons if r != LOW_CONFIDENCE]
    confidence = result.confidence if result is not None else 0.0
    return tally, Observation(field.type.value, confidence, ok, correct)


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EvaluationError(f"{path}: cannot read the {what} ({type(e).__name__}).") from None
    if not isinstance(data, dict):
        raise EvaluationError(f"{path}: the {what} is not a JSON object.")
    return data


def _truth_dir(results_dir: Path, batch: dict | None) -> Path:
    if batch is None or not batch.get("scans_dir"):
        raise EvaluationError(f"{results_dir} has no {SUMMARY_NAME} naming the scans folder, so the truth "
                              "folder is unknown.", action="Pass the truth folder with --truth.")
    scans = Path(batch["scans_dir"])
    if not scans.is_absolute():
        scans = results_dir / scans
    return scans / "truth"


def _load_result(path: Path) -> DocumentResult | None:
    if not path.is_file():
        return None
    try:
        return DocumentResult.model_validate(_read_json(path, "result"))
    except ValidationError:
        raise EvaluationError(f"{path}: not a document result.") from None


def _injection_report(forms: dict[str, FormDefinition], truths: dict[str, list[dict]]) -> dict:
    """Run the validators against injected OCR confusions (``yomitori.validation.inject``)."""
    from yomitori.validation.inject import injection_report

    return {form_id: injection_report(forms[form_id], fields) for form_id, fields in truths.items()}


def evaluate_directory(
    results_dir: Path,
    *,
    truth_dir: Path | None = None,
    metrics_out: Path | None = None,
    plot: Path | None = None,
    inject_errors: bool = False,
) -> Metrics:
    """Score the results in ``results_dir`` (``<document_id>.json`` and ``batch.json``, as
    written by `process`) against the truth files in ``truth_dir`` (default: the ``truth``
    folder of the scans folder recorded in ``batch.json``). Every truth file is scored: a
    missing or failed result counts as all fields wrong. Writes the metrics JSON and the
    threshold plot when asked. Raises :class:`EvaluationError` for unusable input."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise EvaluationError(f"{results_dir} is not a folder.")
    batch_path = results_dir / SUMMARY_NAME
    batch = _read_json(batch_path, "batch summary") if batch_path.is_file() else None
    truth_dir = Path(truth_dir) if truth_dir else _truth_dir(results_dir, batch)
    truth_files = sorted(truth_dir.glob("*.json")) if truth_dir.is_dir() else []
    if not truth_files:
        raise EvaluationError(f"No truth files (*.json) in {truth_dir}.")

    metrics = Metrics()
    if batch is not None:
        metrics.seconds = batch.get("seconds")
        metrics.processed = int(batch.get("documents") or 0)
    forms: dict[str, FormDefinition] = {}
    truths: dict[str, list[dict]] = {}
    for path in truth_files:
        truth = _read_json(path, "truth file")
        try:
            doc_id, form_id, values = truth["document_id"], truth["form_id"], truth["fields"]
        except KeyError as e:
            raise EvaluationError(f"{path}: not a truth file (no '{e.args[0]}').") from None
        if form_id not in forms:
            forms[form_id] = load_form(form_id)
        form = forms[form_id]
        truths.setdefault(form_id, []).append(values)
        result = _load_result(results_dir / f"{doc_id}.json")
        metrics.documents += 1
        if result is None:
            metrics.missing.append(doc_id)
        elif result.error is not None:
            metrics.failed += 1
        usable = result if result is not None and result.error is None else None
        for field in form.fields:
            read = usable.fields.get(field.name) if usable is not None else None
            tally, observation = score_field(field, values.get(field.name, ""), read)
            metrics.count(field.type.value, tally)
            metrics.observations.append(observation)

    if inject_errors:
        metrics.injected_errors = _injection_report(forms, truths)
    if metrics_out is not None:
        write_metrics(metrics, Path(metrics_out))
    if plot is not None:
        from yomitori.evaluate.plot import plot_thresholds

        plot_thresholds(metrics, Path(plot))
    return metrics


def write_metrics(metrics: Metrics, path: Path, extra: dict | None = None) -> None:
    """Write the metrics JSON (plus ``extra`` top-level keys) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**metrics.to_dict(), **(extra or {})}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
