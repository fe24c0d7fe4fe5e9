"""Progress on stderr (rich), switched off when stderr is not a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress(description: str, total: int, *, unit_bytes: bool = True,
             enabled: bool | None = None) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; draws a bar on stderr only when it is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    cols = [BarColumn(), DownloadColumn(), TransferSpeedColumn()] if unit_bytes else [BarColumn(),
                                                                                        MofNCompleteColumn()]
    with Progress("[progress.description]{task.description}", *cols, TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
