"""The threshold plot of ``yomitori eval --plot``: per field type, how accurate the accepted
fields are and how many fields go straight through, as the confidence threshold moves from 0
to 1. Thresholds (:data:`yomitori.validation.routing.DEFAULT_THRESHOLDS`) are chosen by looking
at it. Runs on one machine (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yomitori.evaluate.metrics import Metrics, Observation, _ordered
from yomitori.validation.routing import DEFAULT_THRESHOLDS

THRESHOLDS = np.linspace(0.0, 1.0, 101)


def sweep(observations: list[Observation]) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy of the accepted fields, straight-through rate) at each of :data:`THRESHOLDS`.
    A field is accepted at threshold t when its validators pass and its confidence is >= t.
    Accuracy is NaN where nothing is accepted."""
    conf = np.array([o.confidence for o in observations], dtype=float)
    ok = np.array([o.validators_ok for o in observations], dtype=bool)
    correct = np.array([o.correct for o in observations], dtype=bool)
    accepted = ok[None, :] & (conf[None, :] >= THRESHOLDS[:, None])
    n_accepted = accepted.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n_accepted > 0, (accepted & correct).sum(axis=1) / n_accepted, np.nan)
    return accuracy, n_accepted / max(1, len(observations))


def plot_thresholds(metrics: Metrics, path: Path) -> Path:
    """Draw the sweep per field type into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = _ordered(metrics.by_type)
    cols = min(3, max(1, len(types)))
    rows = -(-len(types) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, field_type in zip(axes.flat, types, strict=False):
        accuracy, stp = sweep([o for o in metrics.observations if o.field_type == field_type])
        ax.plot(THRESHOLDS, accuracy, label="accuracy of accepted")
        ax.plot(THRESHOLDS, stp, label="straight-through")
        if field_type in DEFAULT_THRESHOLDS:
            ax.axvline(DEFAULT_THRESHOLDS[field_type], color="grey", linestyle="--", linewidth=1)
        ax.set_title(f"{field_type} ({metrics.by_type[field_type].fields} fields)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("confidence threshold")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(types):]:
        ax.axis("off")
    axes.flat[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
