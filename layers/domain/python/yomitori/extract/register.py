"""Registration of existing forms (no corner marks): a filled scan is matched to the form's
reference image (the blank scan it was registered from) by ORB features and a RANSAC
homography, checked by how much of the reference's print it lands on, then the aligned
reference print is subtracted so the crops hold only the handwriting.

Matching runs at ``MATCH_DPI`` (fast; about 60-120 ms per A4 page on one core), the warp at the
working resolution. Keypoints inside office-use areas (受付印, お届け印, the office table) are
not used, so stamps there cannot pull the fit. A poor fit is a ``poor_alignment`` error, never a
shifted read. Runs in Lambda and on one machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yomitori.errors import DocumentError
from yomitori.extract.align import BLANK_INK_SHARE, INK, WORK_DPI
from yomitori.extract.images import doc_error, load_grey
from yomitori.forms.layout import mm_to_px, page_size_px
from yomitori.forms.schema import FormDefinition, reference_path

MATCH_DPI = 100
FEATURES = 2000  # on the scan
REF_FEATURES = 3000  # on the reference (once per process)
RETRY_BELOW = 0.95  # print overlap under which a page is fitted again with more features
RETRY_FEATURES = 4000
GUIDED_NEIGHBOURS = 6
GUIDED_RADIUS_PX = 4.0  # at MATCH_DPI
GUIDED_MAX_HAMMING = 64
GUIDED_RANSAC_PX = 1.5
RATIO = 0.8  # Lowe's ratio test
RANSAC_PX = 2.5  # at MATCH_DPI
MIN_INLIERS = 40
# Share of the reference's printed lines and text that the aligned scan covers (within ~1 px at
# MATCH_DPI). Measured on 50 heavy synth scans of the example form: all aligned pages score
# >= 0.97; a page of another form or a page cut short scores < 0.5.
MIN_PRINT_OVERLAP = 0.6
REVIEW_PRINT_OVERLAP = 0.85  # below: read, but every field goes to a person (alignment_uncertain)
MAX_SCALE_CHANGE = 0.25
MAX_PERSPECTIVE = 2e-5  # per pixel at MATCH_DPI: a page a little tilted on the glass (2 % at the far edge)
# The printed form, darkened by this min-filter (px at WORK_DPI) before it is subtracted, so
# its slightly blurred and shifted copy on the scan goes too.
SUBTRACT_SPREAD_PX = 3

POOR_FIT_ACTION = ("Check that the page is this form (and the whole page is on the scan), rescan it "
                   "straight at 200-300 dpi and add it to a new batch; if the form's print has "
                   "changed, register the new blank with `yomitori forms new`.")


@dataclass(frozen=True)
class Reference:
    """A form's reference prepared for matching and subtraction."""

    page: np.ndarray  # grey, WORK_DPI, page size of the form
    print_spread: np.ndarray  # ``page`` min-filtered: the print grown by SUBTRACT_SPREAD_PX
    keypoints: np.ndarray  # (n, 2) at MATCH_DPI
    descriptors: np.ndarray
    print_mask: np.ndarray  # bool, MATCH_DPI: the reference's print outside office areas
    descriptor_bits: np.ndarray  # the descriptors unpacked, for Hamming distances in numpy


@dataclass(frozen=True)
class Registration:
    """``matrix`` maps scan pixels to working-page pixels (3x3 homography)."""

    matrix: np.ndarray
    rotation: int  # 0, 90, 180 or 270: degrees clockwise to turn the scan upright
    scan_dpi: float
    inliers: int
    score: float  # share of the reference's print the aligned scan covers, 0..1

    @property
    def rotated_180(self) -> bool:
        return self.rotation == 180

    @property
    def uncertain(self) -> bool:
        return self.score < REVIEW_PRINT_OVERLAP

    def to_scan_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A working-page box as the enclosing box in the original scan."""
        x0, y0, x1, y1 = box
        pts = np.array([[[x0, y0]], [[x1, y0]], [[x0, y1]], [[x1, y1]]], dtype=np.float64)
        mapped = cv2.perspectiveTransform(pts, np.linalg.inv(self.matrix))[:, 0, :]
        return (int(np.floor(mapped[:, 0].min())), int(np.floor(mapped[:, 1].min())),
                int(np.ceil(mapped[:, 0].max())), int(np.ceil(mapped[:, 1].max())))


def _orb(features: int = FEATURES) -> cv2.ORB:
    return cv2.ORB_create(nfeatures=features, scaleFactor=1.2, nlevels=6, edgeThreshold=15, patchSize=31,
                          fastThreshold=10)


def _office_mask(form: FormDefinition, shape: tuple[int, int], dpi: int) -> np.ndarray:
    """255 where keypoints may be used, 0 in office-use areas."""
    mask = np.full(shape, 255, np.uint8)
    for area in form.office_use:
        b = area.box
        cv2.rectangle(mask, (round(mm_to_px(b.x, dpi)), round(mm_to_px(b.y, dpi))),
                      (round(mm_to_px(b.right, dpi)), round(mm_to_px(b.bottom, dpi))), 0, -1)
    return mask


def prepare_reference(image: np.ndarray, form: FormDefinition) -> Reference:
    """The reference (a grey blank scan of any resolution) at the working and matching sizes."""
    size = page_size_px(form, WORK_DPI)
    page = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    spread = cv2.erode(page, np.ones((2 * SUBTRACT_SPREAD_PX + 1,) * 2, np.uint8))
    small = cv2.resize(page, page_size_px(form, MATCH_DPI), interpolation=cv2.INTER_AREA)
    mask = _office_mask(form, small.shape, MATCH_DPI)
    kps, desc = _orb(REF_FEATURES).detectAndCompute(small, mask)
    if desc is None or len(kps) < MIN_INLIERS:
        raise doc_error("reference_unusable", f"The reference image of form '{form.id}' has too little print "
                        "to align scans to.",
                        "Register a clear scan of the blank form with `yomitori forms new`.")
    pts = np.array([k.pt for k in kps], np.float32)
    print_mask = (small < INK) & (mask > 0)
    return Reference(page=page, print_spread=spread, keypoints=pts, descriptors=desc, print_mask=print_mask,
                     descriptor_bits=np.unpackbits(desc, axis=1))


_CACHE: dict[tuple[str, float, str], Reference] = {}


def _cached_reference(path: str, mtime: float, form: FormDefinition) -> Reference:
    key = (path, mtime, form.model_dump_json())
    if key not in _CACHE:
        if len(_CACHE) >= 16:
            _CACHE.clear()
        _CACHE[key] = prepare_reference(load_grey(Path(path), name=Path(path).name), form)
    return _CACHE[key]


def load_reference(form: FormDefinition, directory: Path | None = None) -> Reference:
    """The prepared reference of ``form`` (cached per process by file and modification time)."""
    path = reference_path(form, directory)
    if not path.is_file():
        raise doc_error("reference_missing",
                        f"The reference image {path.name} of form '{form.id}' is missing.",
                        f"Put the blank scan back beside {form.id}.yaml, or register it again with "
                        "`yomitori forms new`.")
    return _cached_reference(str(path), path.stat().st_mtime, form)


def _poor(message: str) -> Exception:
    return doc_error("poor_alignment", message, POOR_FIT_ACTION)


def _rotation_of(h: np.ndarray) -> int:
    """Degrees clockwise to turn the scan upright (0, 90, 180, 270), as the mark path says it."""
    angle = np.degrees(np.arctan2(h[1, 0], h[0, 0]))  # of the scan -> page map (y down: clockwise)
    return int(round(angle / 90.0)) % 4 * 90


def print_overlap(aligned_small: np.ndarray, ref: Reference) -> float:
    """Share of the reference's print (outside office areas) that is dark on the aligned scan
    within one pixel at MATCH_DPI."""
    dark = cv2.erode(aligned_small, np.ones((3, 3), np.uint8)) < 160
    total = int(np.count_nonzero(ref.print_mask))
    return float(np.count_nonzero(dark & ref.print_mask)) / max(1, total)


def fit_to_reference(grey: np.ndarray, form: FormDefinition,
                     ref: Reference | None = None) -> tuple[np.ndarray, float, int, float]:
    """(homography at MATCH_DPI, scan -> MATCH_DPI scale, inliers, print overlap) of a scan on
    ``form``'s reference; raises like :func:`register_page`."""
    if np.count_nonzero(grey < INK) < BLANK_INK_SHARE * grey.size:
        raise doc_error("blank_page", "The page is blank (no ink was found).",
                        "Check that the right side of the paper was scanned and add it to a new batch.")
    ref = ref or load_reference(form)
    match_size = page_size_px(form, MATCH_DPI)
    scale = float(np.sqrt(match_size[0] * match_size[1] / grey.size))  # rotation-proof
    small = cv2.resize(grey, (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    fit, failure = None, None
    for features in (FEATURES, RETRY_FEATURES):
        # a hard page (stamps, heavy blur, little print found) is fitted again with more features
        try:
            again = _fit_small(small, form, ref, match_size, features)
        except DocumentError as e:
            failure = e
            continue
        fit = again if fit is None or again[3] > fit[3] else fit
        if fit[3] >= RETRY_BELOW:
            break
    if fit is None:
        raise failure or _poor(f"The page does not match the '{form.id}' form's blank.")
    h_small, inliers, _, score = fit
    if score < MIN_PRINT_OVERLAP:
        raise _poor(f"The page fits the '{form.id}' form's blank poorly ({score:.0%} of its print lines "
                    "up); reading it could put values into the wrong fields.")
    return h_small, scale, inliers, score


def _fit_small(small: np.ndarray, form: FormDefinition, ref: Reference, match_size: tuple[int, int],
               features: int) -> tuple[np.ndarray, int, int, float]:
    """(homography, inliers, features, print overlap) of the scan at MATCH_DPI."""
    kps, desc = _orb(features).detectAndCompute(small, None)
    if desc is None or len(kps) < MIN_INLIERS:
        raise _poor(f"The page does not look like a '{form.id}' form (too little of its print was found).")
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(desc, ref.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_INLIERS:
        raise _poor(f"The page does not match the '{form.id}' form's blank ({len(good)} matching points).")
    src_all = np.array([k.pt for k in kps], np.float32)
    src = src_all[[m.queryIdx for m in good]]
    dst = ref.keypoints[[m.trainIdx for m in good]]
    # A scanner moves, turns and scales the page: an affine map found with RANSAC, then refitted
    # (least median) on the matches it explains, and a homography for a page that lay a little
    # tilted; the candidate under which most of the form's print lines up wins.
    affine, inl = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX,
                                       maxIters=2000, confidence=0.999)
    inliers = int(inl.sum()) if inl is not None else 0
    if affine is None or inliers < MIN_INLIERS:
        raise _poor(f"The page does not match the '{form.id}' form's blank (no consistent fit).")
    candidates = [np.vstack([affine, [0.0, 0.0, 1.0]])]
    moved = src @ affine[:, :2].T + affine[:, 2]
    near = np.linalg.norm(moved - dst, axis=1) < 2 * RANSAC_PX
    if near.sum() >= MIN_INLIERS:
        refit, _ = cv2.estimateAffine2D(src[near], dst[near], method=cv2.LMEDS)
        if refit is not None:
            candidates.append(np.vstack([refit, [0.0, 0.0, 1.0]]))
        tilted, _ = cv2.findHomography(src[near], dst[near], cv2.LMEDS)
        if tilted is not None and abs(tilted[2, 2]) > 1e-9:
            tilted = tilted / tilted[2, 2]
            if np.abs(tilted[2, :2]).max() < MAX_PERSPECTIVE:
                candidates.append(tilted)
    best = _best_fit(candidates, small, match_size, ref)
    if best is not None:
        # guided matching: every scan feature against the reference features where the fit puts
        # it, all over the page (the ratio test keeps few; their cluster can tilt the fit)
        guided = _guided_fit(src_all, desc, best[1], ref)
        if guided is not None:
            best = _best_fit([guided], small, match_size, ref, best)
    if best is None:
        raise _poor(f"The page does not fit the '{form.id}' form's blank (implausible stretch).")
    score, h_small = best
    return h_small, inliers, features, score


def _best_fit(candidates: list[np.ndarray], small: np.ndarray, match_size: tuple[int, int], ref: Reference,
              best: tuple[float, np.ndarray] | None = None) -> tuple[float, np.ndarray] | None:
    """The candidate under which most of the reference's print lines up (or ``best``)."""
    for h in candidates:
        det = float(np.linalg.det(h[:2, :2]))
        if not (1 - MAX_SCALE_CHANGE) ** 2 < abs(det) < (1 + MAX_SCALE_CHANGE) ** 2:
            continue
        warped = cv2.warpPerspective(small, h, match_size, flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=255)
        score = print_overlap(warped, ref)
        if best is None or score > best[0]:
            best = (score, h)
    return best


def _guided_fit(src: np.ndarray, desc: np.ndarray, h: np.ndarray, ref: Reference) -> np.ndarray | None:
    """An affine fit from each scan feature matched to the most alike reference feature among
    the few nearest to where ``h`` puts it."""
    projected = cv2.perspectiveTransform(src[:, None, :].astype(np.float64), h)[:, 0].astype(np.float32)
    index = cv2.flann_Index(ref.keypoints, {"algorithm": 1, "trees": 1})
    ids, sq_dist = index.knnSearch(projected, GUIDED_NEIGHBOURS, params={})
    ham = (np.unpackbits(desc, axis=1)[:, None, :] != ref.descriptor_bits[ids]).sum(axis=2)
    ham[sq_dist > GUIDED_RADIUS_PX ** 2] = 10_000
    pick = ham.argmin(axis=1)
    rows = np.arange(len(pick))
    ok = ham[rows, pick] < GUIDED_MAX_HAMMING
    if ok.sum() < MIN_INLIERS:
        return None
    affine, inl = cv2.estimateAffine2D(src[ok], ref.keypoints[ids[rows, pick][ok]], method=cv2.RANSAC,
                                       ransacReprojThreshold=GUIDED_RANSAC_PX)
    if affine is None or int(inl.sum()) < MIN_INLIERS:
        return None
    return np.vstack([affine, [0.0, 0.0, 1.0]])


def register_page(grey: np.ndarray, form: FormDefinition, ref: Reference | None = None,
                  work_dpi: int = WORK_DPI) -> tuple[np.ndarray, Registration]:
    """The scan warped onto the reference at the working resolution, and the registration.

    Raises DocumentError ``blank_page`` or ``poor_alignment`` (too few matching features, an
    implausible fit, or too little of the form's print where it should be)."""
    h_small, scale, inliers, score = fit_to_reference(grey, form, ref)
    up = work_dpi / MATCH_DPI
    full = np.diag([up, up, 1.0]) @ h_small @ np.diag([scale, scale, 1.0])
    page = cv2.warpPerspective(grey, full, page_size_px(form, work_dpi), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    dpi = float(MATCH_DPI / scale) if scale else 0.0
    return page, Registration(matrix=full, rotation=_rotation_of(h_small), scan_dpi=dpi, inliers=inliers,
                              score=round(score, 3))


def subtract_reference(page: np.ndarray, ref: Reference) -> np.ndarray:
    """The aligned page with the form's own print removed: darkness the (slightly grown)
    reference print already has is taken away, so only what was added on paper stays."""
    # 255 - max(0, (255 - page) - (255 - print)) = 255 - max(0, print - page), saturated in uint8
    return cv2.bitwise_not(cv2.subtract(ref.print_spread, page))


def match_reference(grey: np.ndarray, forms: list[FormDefinition] | None = None) -> str | None:
    """The id of the registered existing form whose blank ``grey`` fits best (for the page
    classifier of mixed batches), or None when none fits. ``forms`` default: every installed
    form with ``layout: existing``. About 0.1 s per existing form."""
    if forms is None:
        from yomitori.forms.schema import available_forms, load_form

        forms = [f for f in (load_form(i) for i in available_forms()) if f.is_existing]
    best: tuple[float, str] | None = None
    for form in forms:
        try:
            *_, score = fit_to_reference(grey, form)
        except DocumentError:
            continue
        if best is None or score > best[0]:
            best = (score, form.id)
    return best[1] if best else None
