"""CTC decoding with a character mask, keeping the probabilities routing needs.

Pure numpy; runs wherever the ppocr engine runs. The model's output is a probability per
timestep and class (class 0 is CTC's blank). Classes outside the field's mask are never
chosen, but their probability is not handed to the allowed ones: when the model was sure of
a character the field cannot hold, the allowed character it falls back to has a low
probability, and the field goes to a person.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

BLANK = 0


@dataclass(frozen=True)
class Decoded:
    indices: list[int] = field(default_factory=list)  # class of each character read
    char_probs: list[float] = field(default_factory=list)  # its best probability over its timesteps
    spans: list[tuple[int, int]] = field(default_factory=list)  # its timesteps [start, end)
    # 1 - the most probability any other character had where blank was decoded: low when the
    # decoder may have dropped a character, or when the mask refused what was written
    blank_confidence: float = 1.0


def allowed_mask(chars: Sequence[str], *, allowed: Iterable[str] | None = None,
                 predicate: Callable[[str], bool] | None = None) -> np.ndarray:
    """A boolean mask over the classes: the blank, plus each character in ``allowed`` (or for
    which ``predicate`` holds)."""
    allowed_set = set(allowed) if allowed is not None else None
    mask = np.zeros(len(chars), dtype=bool)
    mask[BLANK] = True
    for i, ch in enumerate(chars):
        if i == BLANK or not ch:
            continue
        if (allowed_set is not None and ch in allowed_set) or (predicate is not None and predicate(ch)):
            mask[i] = True
    return mask


def decode(probs: np.ndarray, mask: np.ndarray) -> Decoded:
    """Greedy CTC decoding of ``probs`` (T × classes) restricted to ``mask``: the best allowed
    class per timestep, repeats merged, blanks dropped."""
    masked = np.where(mask[None, :], probs, -1.0)
    best = masked.argmax(axis=1)
    indices: list[int] = []
    char_probs: list[float] = []
    spans: list[tuple[int, int]] = []
    t, n = 0, best.size
    while t < n:
        c = int(best[t])
        start = t
        while t < n and best[t] == c:
            t += 1
        if c != BLANK:
            indices.append(c)
            char_probs.append(float(probs[start:t, c].max()))
            spans.append((start, t))
    return Decoded(indices, char_probs, spans, _blank_confidence(probs, best))


def _blank_confidence(probs: np.ndarray, best: np.ndarray) -> float:
    """The least sure blank: 1 - the probability of any character (allowed or not) at a
    timestep decoded as blank, leaving out the characters emitted right before and after it
    (their own tails). Characters the mask refuses count too: ink the field cannot hold must
    not vanish into a confident empty reading."""
    n = best.size
    worst = 0.0
    prev = BLANK
    t = 0
    while t < n:
        if best[t] != BLANK:
            prev = int(best[t])
            t += 1
            continue
        start = t
        while t < n and best[t] == BLANK:
            t += 1
        nxt = int(best[t]) if t < n else BLANK
        other = 1.0 - probs[start:t, BLANK]
        if prev != BLANK:
            other = other - probs[start:t, prev]
        if nxt != BLANK and nxt != prev:
            other = other - probs[start:t, nxt]
        worst = max(worst, float(other.max()))
    return 1.0 - worst
