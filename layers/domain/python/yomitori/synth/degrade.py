"""Scanner degradations of a greyscale page: small rotation, shift and scale, blur, noise,
JPEG artefacts, and now and then a page fed upside down.

The page always stays whole on the image: a transform that would push a registration mark
off the sheet is drawn again. Deterministic for a given ``numpy`` Generator. Runs on one machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from yomitori.errors import ExitCode, YomitoriError
from yomitori.forms.layout import MARK_SIZE_MM, mm_to_px, registration_mark_centres
from yomitori.forms.schema import FormDefinition

MARK_MARGIN_MM = 2.0  # a mark keeps at least this much paper between it and the image edge


@dataclass(frozen=True)
class Degradation:
    max_angle: float  # degrees
    max_shift_mm: float
    max_scale: float  # relative, e.g. 0.02 for ±2 %
    blur_sigma: tuple[float, float]  # px at 300 dpi
    noise_sigma: tuple[float, float]  # grey levels
    jpeg_quality: tuple[int, int] | None  # None: lossless PNG
    upside_down: float  # share of pages rotated by 180°
    specks: int = 0  # dust specks per page
    bad_levels: float = 0.0  # share of pages scanned too light (faint ink) or too dark (grey paper)
    streaks: float = 0.0  # share of pages with a feeder streak (dust on the scanner glass)
    dust: int = 0  # larger dust blobs (0.5-1.2 mm) per page


LEVELS: dict[str, Degradation | None] = {
    "none": None,
    "light": Degradation(2.0, 3.0, 0.02, (0.2, 0.6), (2.0, 5.0), (75, 92), 0.03),
    "heavy": Degradation(4.0, 6.0, 0.04, (0.6, 1.2), (6.0, 12.0), (40, 65), 0.06, specks=60, bad_levels=0.08,
                          streaks=0.05, dust=8),
}


class UnknownDegradation(YomitoriError):
    code = "unknown_degradation"
    exit_code = ExitCode.USAGE
    action = "Use one of: none, light, heavy."


def level(name: str) -> Degradation | None:
    """The degradation settings called ``name`` (none, light, heavy)."""
    try:
        return LEVELS[name]
    except KeyError:
        raise UnknownDegradation(f"Unknown degradation '{name}'.") from None


def _mark_corners_px(form: FormDefinition, dpi: int) -> np.ndarray:
    half = MARK_SIZE_MM / 2 + MARK_MARGIN_MM
    pts = [(cx + dx, cy + dy) for cx, cy in registration_mark_centres(form) for dx in (-half, half)
           for dy in (-half, half)]
    return np.array([[mm_to_px(x, dpi), mm_to_px(y, dpi)] for x, y in pts], dtype=np.float64)


def _affine(spec: Degradation, rng: np.random.Generator, form: FormDefinition, dpi: int,
            size: tuple[int, int]) -> np.ndarray:
    """A rotation/scale/shift matrix that keeps every registration mark on the image."""
    w, h = size
    corners = _mark_corners_px(form, dpi)
    shrink = 1.0
    for _ in range(20):
        angle = rng.uniform(-spec.max_angle, spec.max_angle) * shrink
        scale = 1 + rng.uniform(-spec.max_scale, spec.max_scale) * shrink
        shift = rng.uniform(-1, 1, 2) * mm_to_px(spec.max_shift_mm, dpi) * shrink
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        m[:, 2] += shift
        moved = corners @ m[:, :2].T + m[:, 2]
        if (moved >= 0).all() and (moved[:, 0] < w).all() and (moved[:, 1] < h).all():
            return m
        shrink *= 0.8
    return cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, 1.0)


def _scanner_levels(page: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A scanner set too light (ink as pale as grey 110-140) or too dark (paper at 180-200)."""
    if rng.random() < 0.5:
        return 255 - (255 - page) * np.float32(rng.uniform(0.45, 0.6))
    return page * np.float32(rng.uniform(0.7, 0.78))


def _feeder_streak(page: np.ndarray, rng: np.random.Generator) -> None:
    """A vertical line down the whole sheet, as dust on a document feeder's glass draws it."""
    x, width = int(rng.integers(page.shape[1] // 10, page.shape[1] * 9 // 10)), int(rng.integers(1, 4))
    v = np.float32(rng.uniform(40, 120))
    page[:, x:x + width] = np.minimum(page[:, x:x + width], v)


def apply_degradation(page: np.ndarray, spec: Degradation | None, rng: np.random.Generator,
                      form: FormDefinition, dpi: int) -> tuple[np.ndarray, bool, int | None]:
    """Apply ``spec`` to a greyscale (or RGB: a colour scan) page (uint8, white paper). Returns
    the page, whether it was turned upside down, and the JPEG quality to save it with (None:
    save as PNG)."""
    if spec is None:
        return page, False, None
    h, w = page.shape[:2]
    colour = page.ndim == 3
    m = _affine(spec, rng, form, dpi, (w, h))
    out = cv2.warpAffine(page, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(255, 255, 255) if colour else 255)
    sigma = rng.uniform(*spec.blur_sigma) * dpi / 300
    out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma)
    noisy = out.astype(np.float32)
    noisy += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(rng.uniform(*spec.noise_sigma))
    for _ in range(spec.specks):
        x, y = int(rng.integers(w)), int(rng.integers(h))
        v = float(rng.uniform(40, 160))
        cv2.circle(noisy, (x, y), int(rng.integers(1, 4)), (v, v, v) if colour else v, -1)
    if spec.bad_levels and rng.random() < spec.bad_levels:
        noisy = _scanner_levels(noisy, rng)
    for _ in range(spec.dust):
        x, y = int(rng.integers(w)), int(rng.integers(h))
        v = float(rng.uniform(30, 120))
        cv2.circle(noisy, (x, y), int(rng.integers(3, 8)) * dpi // 300, (v, v, v) if colour else v, -1)
    if spec.streaks and rng.random() < spec.streaks:
        _feeder_streak(noisy, rng)
    out = np.clip(noisy, 0, 255).astype(np.uint8)
    flipped = bool(rng.random() < spec.upside_down)
    if flipped:
        out = np.ascontiguousarray(out[::-1, ::-1])
    quality = int(rng.integers(spec.jpeg_quality[0], spec.jpeg_quality[1] + 1)) if spec.jpeg_quality else None
    return out, flipped, quality
