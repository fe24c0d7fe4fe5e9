"""Safe loading of scanned pages into greyscale arrays.

A file comes from a scanner folder or an upload: PNG, JPEG, a multi-page TIFF or a PDF. It
may be empty, not an image, cut short or a decompression bomb. Each case becomes a
:class:`yomitori.errors.DocumentError` with a stable code and a message that says what is
wrong and what to do (never a traceback, never a value). :func:`open_scan` counts the pages
of a file; :meth:`ScanFile.grey` decodes one page, so a bad page costs that page only.
PDF pages are rasterised with pypdfium2 at the working resolution (300 dpi).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from yomitori.errors import DocumentError
from yomitori.forms.layout import SCANNER_GREY_MATRIX

# A4 at 600 dpi is 35 MP, A3 at 400 dpi 31 MP: anything far above is not a page scan, and
# decoding it would blow the memory budget of a worker.
MAX_PIXELS = 60_000_000
# A scanner's multi-page file holds a batch of forms; far more pages is not a scan.
MAX_PAGES = 500
PDF_DPI = 300
SAVE_AS = "Save the scan as PNG, JPEG, TIFF or PDF and add it to a new batch."

RESCAN = "Rescan the page (whole page, 200-300 dpi, PNG, JPEG, TIFF or PDF) and add it to a new batch."


def doc_error(code: str, message: str, action: str = RESCAN) -> DocumentError:
    return DocumentError(message, code=code, action=action)


def _read(image: bytes | Path, name: str) -> bytes:
    if isinstance(image, Path | str):
        try:
            data = Path(image).read_bytes()
        except OSError as e:
            raise doc_error("unreadable_file", f"{name} could not be read ({e.strerror}).",
                            "Check that the file exists and is readable, then run again.") from None
    else:
        data = bytes(image)
    if not data:
        raise doc_error("empty_file", f"{name} is empty (0 bytes).")
    return data


def is_pdf(data: bytes) -> bool:
    return data[:1024].lstrip().startswith(b"%PDF-")


class ScanFile:
    """One input file's pages. ``count`` is known on opening (file-level problems raise
    there); :meth:`grey` decodes one page (page-level problems raise there)."""

    def __init__(self, data: bytes, name: str, count: int, pdf: bool, dpi: int):
        self.data, self.name, self.count, self.pdf, self.dpi = data, name, count, pdf, dpi

    def page_name(self, index: int) -> str:
        return self.name if self.count == 1 else f"{self.name} page {index + 1}"

    def grey(self, index: int) -> np.ndarray:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self._pdf_page(index) if self.pdf else self._image_page(index)

    def _image_page(self, index: int) -> np.ndarray:
        name = self.page_name(index)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                img = Image.open(io.BytesIO(self.data))
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise _too_large(name) from None
            except Exception:  # noqa: BLE001 - opened fine once; any failure now is damage
                raise _corrupt(name) from None
            try:
                if index:
                    img.seek(index)
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise _too_large(name, w, h)
                img.load()
                return np.asarray(to_grey(img), dtype=np.uint8).copy()
            except DocumentError:
                raise
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise _too_large(name) from None
            except Exception:  # noqa: BLE001 - truncated data, bad checksums, broken JPEG streams
                raise _corrupt(name) from None
            finally:
                img.close()

    def _pdf_page(self, index: int) -> np.ndarray:
        import pypdfium2 as pdfium

        name = self.page_name(index)
        try:
            pdf = pdfium.PdfDocument(self.data)
        except Exception:  # noqa: BLE001
            raise _corrupt_pdf(name) from None
        try:
            page = pdf[index]
            w_pt, h_pt = page.get_size()
            w, h = round(w_pt / 72 * self.dpi), round(h_pt / 72 * self.dpi)
            if w * h > MAX_PIXELS or w < 1 or h < 1:
                raise _too_large(name, w, h)
            bitmap = page.render(scale=self.dpi / 72, fill_color=(255, 255, 255, 255))
            return np.asarray(to_grey(bitmap.to_pil()), dtype=np.uint8).copy()
        except DocumentError:
            raise
        except Exception:  # noqa: BLE001 - a page pdfium cannot draw
            raise _corrupt_pdf(name) from None
        finally:
            pdf.close()


def open_scan(image: bytes | Path, *, name: str = "the file", dpi: int = PDF_DPI) -> ScanFile:
    """Open ``image`` (bytes or a path) and count its pages (1 for PNG and JPEG).

    Raises DocumentError with code ``unreadable_file``, ``empty_file``, ``not_an_image``,
    ``corrupt_image``, ``image_too_large`` or ``too_many_pages``."""
    data = _read(image, name)
    if is_pdf(data):
        import pypdfium2 as pdfium

        try:
            pdf = pdfium.PdfDocument(data)
            count = len(pdf)
            pdf.close()
        except Exception:  # noqa: BLE001 - pdfium's errors on a broken file
            raise _corrupt_pdf(name) from None
        pdf = True
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                with Image.open(io.BytesIO(data)) as img:
                    count = int(getattr(img, "n_frames", 1) or 1)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise _too_large(name) from None
            except UnidentifiedImageError:
                raise doc_error("not_an_image", f"{name} is not an image or PDF that can be read "
                                "(PNG, JPEG, TIFF, PDF).", SAVE_AS) from None
            except Exception:  # noqa: BLE001 - any decoder failure on the header is a corrupt file
                raise _corrupt(name) from None
        pdf = False
    if count < 1:
        raise doc_error("empty_file", f"{name} holds no pages.")
    if count > MAX_PAGES:
        raise doc_error("too_many_pages", f"{name} holds {count} pages; the limit is {MAX_PAGES} per file.",
                        f"Split the scan into files of at most {MAX_PAGES} pages; add them to a new batch.")
    return ScanFile(data, name, count, pdf, dpi)


def load_grey(image: bytes | Path, *, name: str = "the file") -> np.ndarray:
    """Decode a one-page ``image`` (bytes or a path) into an 8-bit greyscale array.

    Raises DocumentError with code ``empty_file``, ``not_an_image``, ``corrupt_image``,
    ``image_too_large``, or ``multi_page_file`` when the file holds several pages (read those
    with :func:`open_scan`, page by page: a page is never dropped silently)."""
    scan = open_scan(image, name=name)
    if scan.count > 1:
        raise doc_error("multi_page_file", f"{name} holds {scan.count} pages where one was expected.",
                        "Process the file with `yomitori process`, which reads every page of it.")
    return scan.grey(0)


COLOUR_MODES = ("RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV")


def to_grey(img: Image.Image) -> Image.Image:
    """Greyscale as a drop-out scanner sees it: a colour scan loses its red (the printed boxes,
    a 印 seal over a field) the way the scanner's drop-out would, black and blue ink stay dark."""
    if img.mode == "L":
        return img
    if img.mode in COLOUR_MODES:
        return img.convert("RGB").convert("L", matrix=SCANNER_GREY_MATRIX)
    return img.convert("L")


def _too_large(name: str, w: int | None = None, h: int | None = None) -> DocumentError:
    size = f" ({w}x{h} pixels)" if w else ""
    return doc_error("image_too_large", f"{name} is too large to be a page scan{size}; the limit is "
                     f"{MAX_PIXELS // 1_000_000} million pixels.",
                     "Scan the page at 200-300 dpi and add it to a new batch.")


def _corrupt(name: str) -> DocumentError:
    return doc_error("corrupt_image", f"{name} is damaged or cut short and cannot be decoded.")


def _corrupt_pdf(name: str) -> DocumentError:
    return doc_error("corrupt_pdf", f"{name} is a damaged PDF, or a page of it cannot be drawn.",
                     "Scan the pages again to a new PDF (or to PNG/TIFF) and add it to a new batch.")
