#!/usr/bin/env python3
"""Build the third-party Lambda layers with pip for the Lambda platform (no Docker).

    .venv/bin/python layers/build.py      # -> build/layers/<group>/python/... for each group

One layer per group in ``layers/requirements/<group>.txt`` (``base`` for every function,
``imaging`` for ocr, ``reference`` for validate): all of them together exceed Lambda's
250 MiB unzipped limit, each function's share does not. Runs on the build machine before
``npx cdk deploy`` and needs PyPI (or a mirror set in pip's configuration) once; ``npx cdk
synth`` and the tests never run it (synth uses empty placeholders and warns). Only binary
wheels for the runtime's Python version and architecture are accepted.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "layers" / "requirements"
OUT = REPO / "build" / "layers"
GROUPS = ("base", "imaging", "reference")
# Must match infra/functions.py (RUNTIME, ARCHITECTURE); tests/infra checks they agree.
PYTHON_VERSION = "3.14"
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64")
# Provided by the Lambda runtime; pip pulls them in as dependencies (e.g. of textractor).
PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "python_dateutil", "six")
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # all layers of a function + its code


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _pip(requirements: Path, target: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        *(arg for p in PLATFORMS for arg in ("--platform", p)),
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    print("running:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)


def build_group(group: str, out: Path = OUT, *, drop: set[str] = frozenset()) -> Path:
    """Install ``<group>.txt`` into ``out/<group>/python`` (skipped when up to date), leaving
    out what the runtime provides and the top-level names in ``drop`` (already in base)."""
    req = REQUIREMENTS / f"{group}.txt"
    dest = out / group
    stamp = dest / ".requirements.sha256"
    digest = hashlib.sha256(req.read_bytes() + PYTHON_VERSION.encode() + ",".join(sorted(drop)).encode())
    if stamp.is_file() and stamp.read_text() == digest.hexdigest() and (dest / "python").is_dir():
        print(f"{dest}: up to date", file=sys.stderr)
        return dest
    tmp = out / f".{group}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    _pip(req, tmp / "python")
    for entry in list((tmp / "python").iterdir()):
        name = entry.name.split("-")[0]
        if name.startswith(PROVIDED) or entry.name in drop or name == "bin":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for p in (tmp / "python").rglob("__pycache__"):
        shutil.rmtree(p, ignore_errors=True)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    stamp.write_text(digest.hexdigest())
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    try:
        base = build_group("base", args.out)
        in_base = {p.name for p in (base / "python").iterdir()}
        sizes = {"base": _size(base / "python")}
        for group in GROUPS[1:]:
            sizes[group] = _size(build_group(group, args.out, drop=in_base) / "python")
    except subprocess.CalledProcessError as e:
        print(f"error: pip failed ({e.returncode}); check access to PyPI or your pip mirror", file=sys.stderr)
        return 1
    for group, size in sizes.items():
        print(f"{group}: {size / 2**20:.1f} MiB unzipped", file=sys.stderr)
    worst = sizes["base"] + max(sizes[g] for g in GROUPS[1:])
    if worst > LAMBDA_UNZIPPED_LIMIT * 0.9:
        print(
            f"error: base + largest group = {worst / 2**20:.0f} MiB leaves too little of Lambda's "
            "250 MiB unzipped limit; trim layers/requirements/",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
