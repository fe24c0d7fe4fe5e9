"""Page images for the review page: a reduced copy of the scan for display and full-resolution
crops of single fields. Runs in the agent (external PC, or the one machine).

A 300 dpi A4 scan is about 2480 x 3508 pixels; sending it whole to the browser for every
document would make moving to the next document slow, so the page gets a JPEG about 1200
pixels wide and the field being read is cropped from the full scan. My Number boxes are
painted over in the display image: the number is shown only after an audited reveal.

A page fed in upside down or sideways (``DocumentResult.page_rotation`` 180, 90 or 270) is
turned upright once when it is decoded, so the display image and every crop are upright. Field
boxes in results are in scan pixels; :meth:`PageImages.upright` maps them onto the upright
page, and everything the page is sent (boxes, painted-over areas, crops) uses the upright
coordinates. A multi-page TIFF or PDF shows the document's own page (``source_page``).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image, ImageDraw

DISPLAY_WIDTH = 1200
JPEG_QUALITY = 80
CROP_MARGIN = 0.25  # of the box height, on every side
Box = tuple[int, int, int, int]
ROTATIONS = (0, 90, 180, 270)


def upright_box(box: Box, size: tuple[int, int], rotation: int) -> Box:
    """``box`` (left, top, right, bottom in scan pixels of a ``size`` scan) on the page turned
    ``rotation`` degrees clockwise (0, 90, 180 or 270).

    Result boxes are in pixel-index coordinates (the aligner fits the marks' centroids, so a
    pixel's centre is at its index), and turning by 180° takes index ``x`` to ``w - 1 - x``:
    the box then is the one the pipeline would have found on the same page scanned upright."""
    if rotation == 0:
        return box
    if rotation not in ROTATIONS:
        raise ValueError(f"page rotation {rotation} is not supported (0, 90, 180 or 270)")
    w, h = size
    left, top, right, bottom = box
    if rotation == 90:  # (x, y) -> (h - 1 - y, x)
        return (h - 1 - bottom, left, h - 1 - top, right)
    if rotation == 270:  # (x, y) -> (y, w - 1 - x)
        return (top, w - 1 - right, bottom, w - 1 - left)
    return (w - 1 - right, h - 1 - bottom, w - 1 - left, h - 1 - top)


@dataclass(frozen=True)
class PageImages:
    """A decoded scan turned upright, its display copy (JPEG bytes) and the turn applied."""

    scan: Image.Image  # upright
    display_jpeg: bytes
    rotation: int = 0  # degrees clockwise the original scan was turned
    original_size: tuple[int, int] | None = None  # the scan before turning (90/270 swap sides)

    @property
    def size(self) -> tuple[int, int]:
        return self.scan.size

    def upright(self, box: Box) -> Box:
        """A box in the original scan's pixels as a box on the upright page."""
        return upright_box(box, self.original_size or self.size, self.rotation)


def _decode(data: bytes, page: int = 1) -> Image.Image:
    """Page ``page`` (1-based) of a scan: PNG/JPEG/TIFF frames through Pillow, PDF pages
    rasterised by the same code extraction uses."""
    from yomitori.extract.images import is_pdf, open_scan

    if is_pdf(data):
        return Image.fromarray(open_scan(data).grey(page - 1))
    img = Image.open(io.BytesIO(data))
    if page > 1:
        img.seek(page - 1)
    img.load()
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    return img


def render(data: bytes, hidden: list[Box], rotation: int = 0, page: int = 1) -> PageImages:
    """Decode page ``page`` of ``data``, turn it ``rotation`` degrees clockwise (0, 90, 180 or
    270) and make the display JPEG with the ``hidden`` boxes (original scan pixels) painted over."""
    if rotation not in ROTATIONS:
        raise ValueError(f"page rotation {rotation} is not supported (0, 90, 180 or 270)")
    scan = _decode(data, page)
    size = scan.size
    if rotation:
        # PIL's ROTATE_n turns counter-clockwise
        turn = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
                270: Image.Transpose.ROTATE_90}
        scan = scan.transpose(turn[rotation])
    w, h = scan.size
    hidden = [upright_box(b, size, rotation) for b in hidden]
    scale = min(1.0, DISPLAY_WIDTH / w)
    # draft mode is not available for every format; a box-filter reduce is fast and sharp enough
    small = scan.reduce(max(1, int(1 / scale))) if scale < 1 else scan.copy()
    if small.width > DISPLAY_WIDTH:
        small = small.resize((DISPLAY_WIDTH, round(small.height * DISPLAY_WIDTH / small.width)))
    sx, sy = small.width / w, small.height / h
    if hidden:
        draw = ImageDraw.Draw(small)
        fill = 160 if small.mode == "L" else (160, 160, 160)
        for left, top, right, bottom in hidden:
            draw.rectangle((left * sx, top * sy, right * sx, bottom * sy), fill=fill)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=JPEG_QUALITY)
    return PageImages(scan=scan, display_jpeg=out.getvalue(), rotation=rotation, original_size=size)


def crop_png(scan: Image.Image, box: Box) -> bytes:
    """The field ``box`` (pixels of ``scan`` as given, i.e. upright) with a margin, at full
    resolution, as PNG."""
    left, top, right, bottom = box
    m = max(8, round((bottom - top) * CROP_MARGIN))
    area = (max(0, left - m), max(0, top - m), min(scan.width, right + m), min(scan.height, bottom + m))
    if area[2] <= area[0] or area[3] <= area[1]:
        raise ValueError("the field box lies outside the scan")
    out = io.BytesIO()
    scan.crop(area).save(out, "PNG", compress_level=1)
    return out.getvalue()


REGION_MAX_SIDE = 3000  # scan pixels: a region larger than this is not zoomed in anyway


def region_jpeg(scan: Image.Image, area: Box, hidden: list[Box]) -> bytes:
    """The ``area`` (left, top, right, bottom; pixels of the upright ``scan``, clipped to it) at
    the scan's full resolution, as JPEG, with the ``hidden`` boxes (upright pixels) painted
    over: the page's zoom shows this over the reduced display image where it is enlarged."""
    left, top, right, bottom = (int(v) for v in area)
    left, top = max(0, left), max(0, top)
    right, bottom = min(scan.width, right), min(scan.height, bottom)
    if right <= left or bottom <= top:
        raise ValueError("the region lies outside the scan")
    if right - left > REGION_MAX_SIDE or bottom - top > REGION_MAX_SIDE:
        raise ValueError("the region is too large to zoom")
    part = scan.crop((left, top, right, bottom))
    if hidden:
        draw = ImageDraw.Draw(part)
        fill = 160 if part.mode == "L" else (160, 160, 160)
        for hl, ht, hr, hb in hidden:
            if hr >= left and hl <= right and hb >= top and ht <= bottom:
                draw.rectangle((hl - left, ht - top, hr - left, hb - top), fill=fill)
    out = io.BytesIO()
    part.save(out, "JPEG", quality=88)
    return out.getvalue()


class ImageCache:
    """A few decoded pages, newest last (thread-safe). Pages are personal data: memory only."""

    def __init__(self, size: int = 4):
        self.size = size
        self._items: OrderedDict[tuple[str, str], PageImages] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple[str, str], threading.Event] = {}

    def get(self, key: tuple[str, str], build) -> PageImages:
        """The cached pages for ``key``, built once with ``build()`` when missing (concurrent
        callers for the same key wait for the one build)."""
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
                event = self._building.get(key)
                if event is None:
                    event = self._building[key] = threading.Event()
                    break
            event.wait()
        try:
            value = build()
            with self._lock:
                self._items[key] = value
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return value
        finally:
            with self._lock:
                self._building.pop(key, None)
            event.set()

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._items.pop(key, None)
