"""Registration: find the four corner marks, decide the page's orientation, and map the scan
onto the form template at a fixed working resolution.

Marks are solid 6 mm squares whose centres sit 12 mm from the page corners; a 3 mm dot 9 mm
right of the top-left mark says which way up the page is (see :mod:`yomitori.forms.layout`).
The transform is an affine fit of the four mark centres (rotation, shift, scale, a little
shear from the scanner), so 200 or 300 dpi scans, a few degrees of skew and ±2 % scale all land
on the same template pixels.

A page fed in sideways (90° or 270°: a portrait form in a landscape scan, or the reverse) is
turned a quarter first; the orientation dot then tells upright from upside down, as for 180°.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from yomitori.extract.images import doc_error
from yomitori.forms.layout import (
    FORM_CODE_BITS,
    MARK_INSET_MM,
    MARK_SIZE_MM,
    ORIENTATION_DOT_MM,
    ORIENTATION_DOT_OFFSET_MM,
    form_code_bits,
    form_code_cells,
    mm_to_px,
    page_size_px,
    registration_mark_centres,
)
from yomitori.forms.schema import FormDefinition

WORK_DPI = 300
INK = 128  # grey level below which a pixel is ink (drop-out lines print at ~170)
BLANK_INK_SHARE = 0.0002
CORNER_SEARCH_MM = 45.0
MAX_RESIDUAL_MM = 2.0
FORM_CODE_TOLERANCE = 2  # bits that may read wrong (a pen stroke, a speck) before refusing

NO_MARKS_ACTION = ("Rescan the page with the whole page visible (all four black corner squares), "
                   "straight, at 200-300 dpi, and add it to a new batch.")


@dataclass(frozen=True)
class Alignment:
    """``matrix`` maps scan pixels to working-template pixels (2x3 affine)."""

    matrix: np.ndarray
    rotated_180: bool
    scan_dpi: float
    quarter_turn: bool = False  # the scan was sideways (turned a quarter before the 180° check)

    @property
    def rotation(self) -> int:
        """Degrees clockwise to turn the scan upright: 0, 90, 180 or 270."""
        # the quarter turn applied is 90° counter-clockwise, i.e. 270° clockwise
        return ((270 if self.quarter_turn else 0) + (180 if self.rotated_180 else 0)) % 360

    def to_scan_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A template box (working pixels) as the enclosing box in the original scan."""
        inv = cv2.invertAffineTransform(self.matrix)
        x0, y0, x1, y1 = box
        pts = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], dtype=np.float64)
        mapped = pts @ inv.T
        return (int(np.floor(mapped[:, 0].min())), int(np.floor(mapped[:, 1].min())),
                int(np.ceil(mapped[:, 0].max())), int(np.ceil(mapped[:, 1].max())))


def estimate_affine(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares affine ``dst ≈ M @ [src, 1]`` from ≥3 point pairs; returns (M, max residual)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    a = np.hstack([src, np.ones((len(src), 1))])
    sol, *_ = np.linalg.lstsq(a, dst, rcond=None)
    m = sol.T  # 2x3
    residual = float(np.max(np.linalg.norm(a @ sol - dst, axis=1)))
    return m, residual


def ink_share(grey: np.ndarray, box: tuple[int, int, int, int], thresh: int = INK) -> float:
    """Share of ink pixels inside ``box`` (left, top, right, bottom), clipped to the image."""
    h, w = grey.shape
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float(np.count_nonzero(grey[y0:y1, x0:x1] < thresh)) / ((x1 - x0) * (y1 - y0))


def _find_mark(grey: np.ndarray, region: tuple[int, int, int, int], expect: tuple[float, float],
               size_px: float) -> tuple[float, float] | None:
    """Centre of the solid square nearest ``expect`` inside ``region`` (scan pixels)."""
    x0, y0, x1, y1 = region
    sub = (grey[y0:y1, x0:x1] < INK).astype(np.uint8)
    n, _, stats, centroids = cv2.connectedComponentsWithStats(sub, connectivity=8)
    best, best_d = None, float("inf")
    for k in range(1, n):
        _, _, bw, bh, area = stats[k]
        # a rotated square's bounding box grows by up to ~10 % at 5 degrees
        if not (0.7 * size_px <= bw <= 1.45 * size_px and 0.7 * size_px <= bh <= 1.45 * size_px):
            continue
        if area < 0.6 * bw * bh or area < 0.6 * size_px * size_px:
            continue
        cx, cy = centroids[k][0] + x0, centroids[k][1] + y0
        d = (cx - expect[0]) ** 2 + (cy - expect[1]) ** 2
        if d < best_d:
            best, best_d = (float(cx), float(cy)), d
    return best


def find_marks(grey: np.ndarray, form: FormDefinition) -> tuple[list[tuple[float, float]], float]:
    """Mark centres in the scan (top-left, top-right, bottom-left, bottom-right as they appear
    in the image) and the scan's resolution estimated from the page width."""
    h, w = grey.shape
    page_w_mm, page_h_mm = form.page_size_mm
    dpi = w / page_w_mm * 25.4
    size_px = mm_to_px(MARK_SIZE_MM, dpi)
    inset = mm_to_px(MARK_INSET_MM, dpi)
    reach = round(mm_to_px(CORNER_SEARCH_MM, dpi))
    corners = [
        ((0, 0, reach, reach), (inset, inset)),
        ((w - reach, 0, w, reach), (w - inset, inset)),
        ((0, h - reach, reach, h), (inset, h - inset)),
        ((w - reach, h - reach, w, h), (w - inset, h - inset)),
    ]
    found = []
    for region, expect in corners:
        region = (max(0, region[0]), max(0, region[1]), min(w, region[2]), min(h, region[3]))
        c = _find_mark(grey, region, expect, size_px)
        if c is None:
            raise doc_error("no_registration_marks",
                            "The page's black corner squares (registration marks) were not all found.",
                            NO_MARKS_ACTION)
        found.append(c)
    return found, dpi


def _upside_down(grey: np.ndarray, marks: list[tuple[float, float]], dpi: float) -> bool:
    """True when the orientation dot sits beside the bottom-right mark instead of the top-left."""
    tl, tr = np.array(marks[0]), np.array(marks[1])
    bl, br = np.array(marks[2]), np.array(marks[3])
    ux = (tr - tl) / np.linalg.norm(tr - tl)
    step = mm_to_px(ORIENTATION_DOT_OFFSET_MM, dpi)
    half = mm_to_px(ORIENTATION_DOT_MM, dpi) * 0.35

    def ink_at(p: np.ndarray) -> float:
        box = (round(p[0] - half), round(p[1] - half), round(p[0] + half), round(p[1] + half))
        return ink_share(grey, box)

    upright = ink_at(tl + ux * step)
    flipped = ink_at(br - (br - bl) / np.linalg.norm(br - bl) * step)
    return flipped > upright


def align_page(grey: np.ndarray, form: FormDefinition,
               work_dpi: int = WORK_DPI) -> tuple[np.ndarray, Alignment]:
    """The page warped onto the template at ``work_dpi`` and the alignment used.

    Raises DocumentError ``blank_page`` (no ink at all), ``no_registration_marks``."""
    if np.count_nonzero(grey < INK) < BLANK_INK_SHARE * grey.size:
        raise doc_error("blank_page", "The page is blank (no ink was found).",
                        "Check that the right side of the paper was scanned and add it to a new batch.")
    scan = grey
    quarter = _sideways(grey, form)
    if quarter:
        grey = np.rot90(grey)  # counter-clockwise: a page turned 90° clockwise stands upright
    marks, dpi = find_marks(grey, form)
    rotated = _upside_down(grey, marks, dpi)
    template = [(mm_to_px(x, work_dpi), mm_to_px(y, work_dpi)) for x, y in registration_mark_centres(form)]
    if rotated:
        template = template[::-1]  # the scan's top-left mark is the form's bottom-right one
    matrix, residual = estimate_affine(np.array(marks), np.array(template))
    if quarter:
        # scan (x, y) -> turned (y, w - 1 - x); the matrix maps the original scan from here on
        w = scan.shape[1]
        turn = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, w - 1.0], [0.0, 0.0, 1.0]])
        matrix = matrix @ turn
    if residual > mm_to_px(MAX_RESIDUAL_MM, work_dpi):
        raise doc_error("no_registration_marks",
                        "The corner squares found do not form the form's rectangle (page folded, cut "
                        "or not this kind of form).", NO_MARKS_ACTION)
    size = page_size_px(form, work_dpi)
    warped = cv2.warpAffine(scan, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=255)
    return warped, Alignment(matrix=matrix, rotated_180=rotated, scan_dpi=dpi, quarter_turn=quarter)


def _sideways(grey: np.ndarray, form: FormDefinition) -> bool:
    """True when the scan's long side lies across the form's long side (fed in at 90°/270°).
    A square-ish scan (a cropped page) is taken as it comes."""
    h, w = grey.shape
    page_w, page_h = form.page_size_mm
    return (w > h * 1.1 and page_h > page_w) or (h > w * 1.1 and page_w > page_h)


def read_form_code(page: np.ndarray, form: FormDefinition, work_dpi: int = WORK_DPI) -> list[int]:
    """The bits of the printed form-code strip of an aligned page."""
    bits = []
    inset = mm_to_px(0.6, work_dpi)
    for cell in form_code_cells(form):
        x0, y0 = mm_to_px(cell.x, work_dpi) + inset, mm_to_px(cell.y, work_dpi) + inset
        x1, y1 = mm_to_px(cell.right, work_dpi) - inset, mm_to_px(cell.bottom, work_dpi) - inset
        bits.append(1 if ink_share(page, (round(x0), round(y0), round(x1), round(y1))) > 0.5 else 0)
    return bits


def check_form_code(page: np.ndarray, form: FormDefinition, work_dpi: int = WORK_DPI) -> None:
    """Raise ``wrong_form`` unless the page's code strip is the code of ``form``."""
    got = read_form_code(page, form, work_dpi)
    want = form_code_bits(form.id)
    wrong = sum(1 for a, b in zip(got, want, strict=True) if a != b)
    if wrong > FORM_CODE_TOLERANCE:
        raise doc_error("wrong_form", f"The page is not a '{form.id}' form (its form code strip does not "
                        f"match; {wrong} of {FORM_CODE_BITS} marks differ).",
                        f"Put the page in a batch of its own form, or process this batch with the right "
                        f"--form (the batch was processed as '{form.id}').")

