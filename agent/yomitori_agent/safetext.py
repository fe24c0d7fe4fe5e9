"""Text from outside (tar member names, file names on a stick) made safe to echo on a terminal
or in the log: control characters (ESC, NUL, CR, ...) and invisible format characters (bidi
overrides) become ``\\xNN``/``\\uNNNN`` escapes, so an ANSI sequence in a crafted name cannot
hide or rewrite the "what to do" line. Runs on every agent machine."""

from __future__ import annotations

import unicodedata

_ESCAPE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with every control or format character escaped, cut to ``limit`` characters
    (before escaping) with ``…`` when longer."""
    cut = text if limit is None or len(text) <= limit else text[:limit] + "…"
    if cut.isprintable():
        return cut
    return "".join(ch if ch == " " or unicodedata.category(ch) not in _ESCAPE_CATEGORIES and ch.isprintable()
                   else ch.encode("unicode_escape").decode("ascii") if ord(ch) < 0x10000
                   else f"\\U{ord(ch):08x}" for ch in cut)


def printable_lines(text: str) -> str:
    """Like :func:`printable`, line by line (a multi-line log record keeps its lines)."""
    return "\n".join(printable(line) for line in text.split("\n"))
