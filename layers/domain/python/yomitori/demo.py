"""``yomitori demo``: synth → process → eval for every form, on one machine.

For each form: ``OUT/<form>/scans`` (synthetic scans with truth, light degradation, Klee One
and Seto alternating), ``OUT/<form>/results`` (the `process` output plus ``metrics.json``),
then one table per form and one for all forms together; ``OUT/thresholds.png`` shows how the
confidence thresholds trade accuracy against straight-through. Progress goes to stderr, the
tables to stdout.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from yomitori.errors import ExitCode, YomitoriError
from yomitori.evaluate import Metrics, evaluate_directory, write_metrics
from yomitori.forms import available_forms, load_form
from yomitori.ocr.engine import DEFAULT_ENGINE
from yomitori.synth import generate

DEMO_DEGRADE = "light"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _processor(cloud_local: bool) -> Callable[..., object]:
    """``process_directory`` of the one-machine pipeline, or of the local cloud runner."""
    if not cloud_local:
        from yomitori.pipeline import process_directory

        return process_directory
    from yomitori.cloud_local import run_batch_dir

    return run_batch_dir


def _fresh(directory: Path) -> Path:
    # A rerun with another --count must not score the scans of the last run.
    if directory.exists():
        shutil.rmtree(directory)
    return directory


def run_demo(
    *,
    count: int = 20,
    out: Path = Path("demo-out"),
    metrics_out: Path | str | None = None,
    seed: int = 7,
    forms: list[str] | None = None,
    cloud_local: bool = False,
    engine: str = DEFAULT_ENGINE,
) -> int:
    """Synthesise ``count`` documents per form (default: every installed form), read them
    with ``engine``, score them and print the tables. Writes the overall metrics JSON (with a
    ``forms`` section per form) to ``metrics_out`` when given. Returns the exit code (0: the
    demo ran; failed documents are part of what it measures, shown in the tables)."""
    if count < 1:
        raise YomitoriError(f"--count must be at least 1 (got {count}).", code="usage")
    process = _processor(cloud_local)
    out = Path(out)
    form_ids = forms or available_forms()
    per_form: dict[str, Metrics] = {}
    for form_id in form_ids:
        form = load_form(form_id)
        scans, results = _fresh(out / form_id / "scans"), _fresh(out / form_id / "results")
        _progress(f"[{form_id}] writing {count} synthetic scans into {scans}")
        generate(form, count=count, out_dir=scans, seed=seed, dpi=300, degrade=DEMO_DEGRADE)
        _progress(f"[{form_id}] reading them with {engine}")
        process(scans, form_id=form_id, out_dir=results, engine=engine)
        _progress(f"[{form_id}] scoring against the truth")
        per_form[form_id] = evaluate_directory(results, metrics_out=results / "metrics.json")
        print(f"== {form_id} ==")
        print(per_form[form_id].table())
        print()
    overall = Metrics.combine(list(per_form.values()))
    print(f"== all forms ({', '.join(form_ids)}) ==")
    print(overall.table())
    from yomitori.evaluate.plot import plot_thresholds

    plot = plot_thresholds(overall, out / "thresholds.png")
    if metrics_out:
        forms_section = {k: m.to_dict() for k, m in per_form.items()}
        write_metrics(overall, Path(metrics_out), extra={"forms": forms_section})
    print(f"\nresults: {out}/<form>/results (one JSON per document, results.csv, metrics.json); "
          f"threshold plot: {plot}" + (f"; metrics: {metrics_out}" if metrics_out else ""))
    return ExitCode.OK
