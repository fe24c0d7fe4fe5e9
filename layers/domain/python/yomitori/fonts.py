"""Where the fonts are. Printed labels use Noto Sans CJK; synthetic handwriting uses Klee One
and Seto (Debian: fonts-noto-cjk, fonts-klee, fonts-seto). Any other font file can be passed."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from yomitori.errors import YomitoriError

LABEL_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKjp-Regular.otf",
)
HANDWRITING_FONTS = (
    "/usr/share/fonts/truetype/klee/KleeOne-Regular.ttf",
    "/usr/share/fonts/truetype/seto/setofont.ttf",
)


class FontNotFound(YomitoriError):
    code = "font_not_found"
    action = (
        "Install the fonts with `make setup` (Debian: fonts-noto-cjk fonts-klee fonts-seto) or pass --font."
    )


def label_font_path() -> str:
    for p in LABEL_FONTS:
        if Path(p).is_file():
            return p
    raise FontNotFound("No Japanese label font (Noto Sans CJK) was found.")


def handwriting_font_paths() -> list[str]:
    found = [p for p in HANDWRITING_FONTS if Path(p).is_file()]
    if not found:
        raise FontNotFound("No handwriting-style font (Klee One, Seto) was found.")
    return found


@lru_cache(maxsize=256)
def font(path: str, size_px: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(path, size_px)
    except OSError as e:
        raise FontNotFound(
            f"Cannot open font file {path} ({e}).", action="Pass a TrueType/OpenType font."
        ) from e
