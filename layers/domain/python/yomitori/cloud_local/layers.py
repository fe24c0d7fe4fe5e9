"""Lambda layers for the host: what ``layers/build.py`` builds for the Lambda platform, built
here from this machine's installed distributions, so a function runs locally with only its
layers on the import path (one machine only; used by the local cloud's function runner).

A group's layer holds the distributions ``layers/requirements/<group>.in`` asks for (the
layer's own requirements; ``<group>.txt`` is their lock for the Lambda build) and all
they depend on (extras and markers honoured), minus what the Lambda runtime provides
(``PROVIDED`` of layers/build.py: boto3 and friends), which form the ``runtime`` layer every
function gets, as in Lambda. Each layer is a folder of symbolic links to the installed
top-level packages and their ``.dist-info``: cheap to build, and a package that is not in
the layer is simply not importable.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import importlib.util
import os
import re
import shutil
from pathlib import Path

from yomitori.cloud_local.server import LocalCloudError, lambdas_dir, state_dir

RUNTIME = "runtime"  # the runtime's own packages (boto3, botocore, ...), not a layer
# Layers for this machine only (no Lambda has them): `--engine tesseract` runs the ocr
# function with Debian's Tesseract through tesserocr.
HOST_ONLY = {"tesseract": ["tesserocr"]}


def repo_dir() -> Path:
    return lambdas_dir().parent


def _build_module():
    """layers/build.py (the single list of what the runtime provides)."""
    spec = importlib.util.spec_from_file_location("yomitori_layers_build", repo_dir() / "layers" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(group: str) -> list[str]:
    path = repo_dir() / "layers" / "requirements" / f"{group}.in"
    if not path.is_file():
        raise LocalCloudError(f"No layer group '{group}' (missing {path}).")
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def closure(requirements: list[str]) -> dict[str, md.Distribution]:
    """Every installed distribution the requirements pull in (canonical name -> dist)."""
    from packaging.requirements import Requirement

    out: dict[str, md.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = _canonical(req.name)
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            raise LocalCloudError(
                f"'{req.name}' (a layer requirement) is not installed on this machine.",
                action="Run `make setup` (pip install -r requirements.txt).",
            ) from None
        seen = name in out
        out[name] = dist
        for dep in dist.requires or []:
            dep_req = Requirement(dep)
            extras = ["", *req.extras]
            if dep_req.marker and not any(dep_req.marker.evaluate({"extra": e}) for e in extras):
                continue
            if not seen or req.extras:
                todo.append(dep_req)
    return out


def _top_levels(dist: md.Distribution) -> set[str]:
    tops = set()
    for f in dist.files or []:
        first = f.parts[0]
        if first in ("..", "__pycache__") or first.endswith(".pth"):
            continue
        tops.add(first)
    return tops


def _link_layer(dists: dict[str, md.Distribution], dest: Path) -> None:
    import threading

    tmp = dest.with_name(f".{dest.name}-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "python").mkdir(parents=True)
    for dist in dists.values():
        for top in _top_levels(dist):
            src = Path(dist.locate_file(top))
            link = tmp / "python" / top
            if src.exists() and not link.exists():
                link.symlink_to(src)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def _model_layer(root: Path) -> Path:
    """The ``models`` layer for this machine: ``<root>/models/models/<model file>`` (what
    Lambda mounts at /opt/models), a link to the pinned model this machine has: the folder
    ``YOMITORI_MODELS_DIR`` names (e.g. ``layers/build.py --host``'s ``models/models``), else
    the installed rapidocr wheel's ``models/`` (:func:`yomitori.ocr.models.locate`, which
    checks the pinned SHA-256)."""
    from yomitori import settings
    from yomitori.ocr.models import PPOCR_REC, locate

    model = locate(PPOCR_REC).resolve()
    dest = root / settings.MODEL_LAYER
    link = dest / "models" / PPOCR_REC.file_name
    if not (link.is_symlink() and link.resolve() == model):
        import threading

        tmp = dest.with_name(f".{dest.name}-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "models").mkdir(parents=True)
        (tmp / "models" / PPOCR_REC.file_name).symlink_to(model)
        shutil.rmtree(dest, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
        tmp.rename(dest)
    return dest


def host_layer(group: str, root: Path | None = None) -> Path:
    """The folder of ``group``'s layer for this machine (``<root>/<group>``, its packages
    under ``python/``, or for the model layer the model under ``models/``), built or refreshed
    when its requirements changed."""
    from yomitori import settings

    if group == settings.MODEL_LAYER:
        return _model_layer(root or state_dir() / "layers")
    provided = tuple(_build_module().PROVIDED)
    if group == RUNTIME:
        reqs = ["boto3"]
    elif group in HOST_ONLY:
        reqs = HOST_ONLY[group]
    else:
        reqs = _requirements(group)
    dists = closure(reqs)
    if group != RUNTIME:
        dists = {n: d for n, d in dists.items() if not n.replace("-", "_").startswith(provided)}
    root = root or state_dir() / "layers"
    dest = root / group
    digest = hashlib.sha256(
        "\n".join(sorted(f"{n}=={d.version}@{d.locate_file('')}" for n, d in dists.items())).encode()
    ).hexdigest()
    stamp = dest / ".built"
    if not (stamp.is_file() and stamp.read_text() == digest):
        root.mkdir(parents=True, exist_ok=True)
        _link_layer(dists, dest)
        stamp.write_text(digest)
    return dest
