"""The agent's log file: what was done (ids, counts, durations), never personal values."""

from __future__ import annotations

import logging
from pathlib import Path

LOGGER_NAME = "yomitori_agent"
log = logging.getLogger(LOGGER_NAME)


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
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(fh)
