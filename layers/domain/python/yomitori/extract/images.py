"""Safe loading of one scanned page into a greyscale array.

A page comes from a scanner folder or an upload: it may be empty, not an image, cut short or
a decompression bomb. Each case becomes a :class:`yomitori.errors.DocumentError` with a stable
code and a message that says what is wrong and what to do (never a traceback, never a value).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from yomitori.errors import DocumentError
from yomitori.forms.layout import SCANNER_GREY_MATRIX

# A4 at 600 dpi is 35 MP, A3 at 400 dpi 31 MP: anything far above is not a page scan, and
# decoding it would blow the memory budget of a worker.
MAX_PIXELS = 60_000_000
# An uncompressed A3 colour scan at 400 dpi is ~90 MB; a file far above is not a page scan and
# is refused from its size alone (a 1 GB file in a scans folder must not be read at all).
MAX_FILE_BYTES = 256 << 20
# The first bytes of the formats Pillow reads for us (PNG, JPEG, TIFF, BMP, GIF, WebP, JPEG 2000).
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM", b"GIF87a", b"GIF89a",
          b"RIFF", b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51")

RESCAN = "Rescan the page (whole page, 200-300 dpi, PNG or JPEG) and add it to a new batch."


def doc_error(code: str, message: str, action: str = RESCAN) -> DocumentError:
    return DocumentError(message, code=code, action=action)


def load_grey(image: bytes | Path, *, name: str = "the file") -> np.ndarray:
    """Decode ``image`` (bytes or a path) into an 8-bit greyscale array (rows, columns).

    Raises DocumentError with code ``unreadable_file``, ``empty_file``, ``not_an_image``,
    ``corrupt_image`` or ``image_too_large``; a file's size and first bytes are checked before
    it is read. Multi-page files use their first page."""
    data = _read_checked(Path(image), name) if isinstance(image, Path | str) else bytes(image)
    if not data:
        raise doc_error("empty_file", f"{name} is empty (0 bytes).")
    if not data.startswith(_MAGIC):
        raise _not_an_image(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_large(name) from None
        except UnidentifiedImageError:
            raise _not_an_image(name) from None
        except Exception:  # noqa: BLE001 - any decoder failure on the header is a corrupt file
            raise _corrupt(name) from None
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise _too_large(name, w, h)
        try:
            img.load()
            grey = to_grey(img)
            return np.asarray(grey, dtype=np.uint8).copy()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_large(name) from None
        except Exception:  # noqa: BLE001 - truncated data, bad checksums, broken JPEG streams
            raise _corrupt(name) from None
        finally:
            img.close()


def _read_checked(path: Path, name: str) -> bytes:
    """The bytes of ``path``, read only after its size and first bytes say it may be a scan."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(16)
            if size and head and not head.startswith(_MAGIC):
                raise _not_an_image(name)
            check_file_size(size, name)
            return head + fh.read()
    except OSError as e:
        raise doc_error("unreadable_file", f"{name} could not be read ({e.strerror}).",
                        "Check that the file exists and is readable, then run again.") from None


def check_file_size(size: int, name: str) -> None:
    """DocumentError ``image_too_large`` when a file of ``size`` bytes cannot be a page scan
    (one machine and Lambda: checked before the file or object is read)."""
    if size > MAX_FILE_BYTES:
        raise doc_error("image_too_large", f"{name} is {size // (1 << 20)} MB: too large to be a "
                        f"page scan (the limit is {MAX_FILE_BYTES >> 20} MB).",
                        "Scan the page at 200-300 dpi and add it to a new batch.")


def _not_an_image(name: str) -> DocumentError:
    return doc_error("not_an_image", f"{name} is not an image Pillow can read (PNG, JPEG, TIFF).",
                     "Save the scan as PNG or JPEG and add it to a new batch.")


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
