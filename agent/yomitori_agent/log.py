"""The agent's log file: what was done (ids, counts, durations), never personal values."""

from __future__ import annotations

import logging
from pathlib import Path

LOGGER_NAME = "yomitori_agent"
log = logging.getLogger(LOGGER_NAME)


class _EscapingFormatter(logging.Formatter):
    """Control characters in a record (e.g. ESC in a file name from a stick) are escaped, so
    the log cannot be rewritten on the terminal that shows it; line breaks stay."""

    def format(self, record: logging.LogRecord) -> str:
        from yomitori_agent.safetext import printable_lines

        return printable_lines(super().format(record))


def setup_logging(path: Path | None, *, verbose: bool = False) -> None:
    """Log to ``path`` (created with its folder); warnings also go to stderr."""
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(path, encoding="utf-8")
        fh.setFormatter(_EscapingFormatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(fh)
