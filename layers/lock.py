#!/usr/bin/env python3
"""Pin the third-party layers: ``layers/requirements/<group>.in`` (what each layer needs, as
ranges) -> ``<group>.txt`` (every distribution it installs, ``==`` pinned, with the SHA-256 of
every file PyPI has for that version). layers/build.py installs the ``.txt`` files with
``pip install --require-hashes``, so a build gets exactly the files pinned here, for the Lambda
platform (Python 3.14, aarch64) and for this machine (``--host``) alike: the hashes cover all
of a version's wheels, not only those of the machine that locked.

    .venv/bin/python -m pip install uv          # once; a maintainer's tool, not a dependency
    .venv/bin/python layers/lock.py             # after changing a .in file, or to update

A group is locked with the groups it sits on (``settings.LAYER_DEPENDS``) as constraints, so
numpy in the ppocr layer is the imaging layer's numpy. The resolution is universal (markers
kept) from Python 3.11 (this machine's venv) up, binary wheels only.
tests/infra/test_layer_pins.py checks that every line is pinned and hashed and that each
``.txt`` satisfies its ``.in``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from yomitori import settings

REQUIREMENTS = Path(__file__).resolve().parent / "requirements"
LOWEST_PYTHON = "3.11"


def lock(group: str) -> Path:
    out = REQUIREMENTS / f"{group}.txt"
    constraints = [a for dep in settings.LAYER_DEPENDS[group]
                   for a in ("--constraint", str(REQUIREMENTS / f"{dep}.txt"))]
    cmd = [
        sys.executable, "-m", "uv", "pip", "compile", "--quiet",
        "--generate-hashes", "--universal", "--python-version", LOWEST_PYTHON,
        "--only-binary", ":all:", "--no-strip-markers",
        # one version per package for every Python (pip evaluates markers against the
        # interpreter that runs it, not --python-version: a fork would put the host's
        # choice into the Lambda layer)
        "--fork-strategy", "fewest",
        "--custom-compile-command", ".venv/bin/python layers/lock.py",
        *constraints, "--output-file", str(out), str(REQUIREMENTS / f"{group}.in"),
    ]
    print("running:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, cwd=REQUIREMENTS)
    return out


def main() -> int:
    for group in settings.LAYER_GROUPS:  # ordered: a group's constraints are locked first
        lock(group)
    return 0


if __name__ == "__main__":
    sys.exit(main())
