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
    compare: list[str] | None = None,
    degrade: str = DEMO_DEGRADE,
    fonts: list[str] | None = None,
) -> int:
    """Synthesise ``count`` documents per form (default: every installed form), read them
    with ``engine``, score them and print the tables. ``compare`` names further engines that
    read the same scans in the same run (a side-by-side benchmark: their results go to
    ``results-<engine>``, and a last table sets each against ``engine``). Writes the overall
    metrics JSON of ``engine`` (with a ``forms`` section per form, and a ``compare`` section)
    to ``metrics_out`` when given. Returns the exit code (0: the demo ran; failed documents are
    part of what it measures, shown in the tables)."""
    if count < 1:
        raise YomitoriError(f"--count must be at least 1 (got {count}).", code="usage")
    process = _processor(cloud_local)
    out = Path(out)
    form_ids = forms or available_forms()
    engines = [engine, *[e for e in (compare or []) if e != engine]]
    per_engine: dict[str, dict[str, Metrics]] = {e: {} for e in engines}
    for form_id in form_ids:
        form = load_form(form_id)
        scans = _fresh(out / form_id / "scans")
        _progress(f"[{form_id}] writing {count} synthetic scans into {scans} (degrade {degrade})")
        generate(form, count=count, out_dir=scans, seed=seed, dpi=300, degrade=degrade, fonts=fonts or None)
        for e in engines:
            results = _fresh(out / form_id / ("results" if e == engine else f"results-{e}"))
            _progress(f"[{form_id}] reading them with {e}")
            process(scans, form_id=form_id, out_dir=results, engine=e)
            _progress(f"[{form_id}] scoring against the truth")
            per_engine[e][form_id] = evaluate_directory(results, metrics_out=results / "metrics.json")
            print(f"== {form_id} ({e}) ==")
            print(per_engine[e][form_id].table())
            print()
    overall = {e: Metrics.combine(list(per_engine[e].values())) for e in engines}
    for e in engines:
        print(f"== all forms ({', '.join(form_ids)}) ({e}) ==")
        print(overall[e].table())
        print()
    if len(engines) > 1:
        print(side_by_side(overall, engines))
    from yomitori.evaluate.plot import plot_thresholds

    plot = plot_thresholds(overall[engine], out / "thresholds.png")
    if metrics_out:
        extra = {"forms": {k: m.to_dict() for k, m in per_engine[engine].items()}, "engine": engine,
                 "degrade": degrade, "compare": {e: overall[e].to_dict() for e in engines[1:]}}
        write_metrics(overall[engine], Path(metrics_out), extra=extra)
    print(f"\nresults: {out}/<form>/results (one JSON per document, results.csv, metrics.json); "
          f"threshold plot: {plot}" + (f"; metrics: {metrics_out}" if metrics_out else ""))
    return ExitCode.OK


def side_by_side(overall: dict[str, Metrics], engines: list[str]) -> str:
    """One line per engine: accuracy, straight-through, silent errors and speed, with the speed
    ratio against the first engine (measured in this run, on the same scans)."""
    head = "speed ÷ " + engines[0]
    lines = [f"{'engine':<10} {'accuracy':>9} {'straight':>9} {'silent':>7} {'pages/min':>10} {head:>14}"]
    base = overall[engines[0]].pages_per_minute or 0.0
    for e in engines:
        d = overall[e].to_dict()
        ppm = overall[e].pages_per_minute or 0.0
        ratio = f"{ppm / base:.2f}" if base else "-"
        lines.append(f"{e:<10} {d['field_accuracy'] * 100:>8.1f}% {d['straight_through_rate'] * 100:>8.1f}% "
                     f"{d['silent_error_rate'] * 100:>6.2f}% {ppm:>10.1f} {ratio:>14}")
    return "\n".join(lines)
