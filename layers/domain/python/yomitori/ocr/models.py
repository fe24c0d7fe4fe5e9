"""Where the ppocr engine's model comes from, and the check that it is the pinned one.

Runs in Lambda and on one machine. Nothing is downloaded: the model ships inside the pinned
``rapidocr`` wheel (Apache-2.0) on one machine, and inside the ocr function's model layer
(``/opt/models``) in Lambda. ``YOMITORI_MODELS_DIR`` overrides both. The file's SHA-256 must
match the pinned digest, so a different or damaged model can never read a form silently.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from yomitori import settings
from yomitori.errors import EngineError


@dataclass(frozen=True)
class ModelSpec:
    file_name: str
    sha256: str
    source: str  # the pinned distribution that ships it


# PP-OCRv6 small recognition, as shipped in rapidocr 3.10.0 (rapidocr/models/).
PPOCR_REC = ModelSpec(
    file_name="PP-OCRv6_rec_small.onnx",
    sha256="6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
    source="rapidocr==3.10.0",
)


class ModelMissingError(EngineError):
    code = "model_missing"
    action = "Run `make setup` (it installs the pinned rapidocr wheel that carries the model)."


class ModelMismatchError(EngineError):
    code = "model_mismatch"
    action = ("Reinstall the pinned model with `make setup`, or point YOMITORI_MODELS_DIR at a "
              "folder holding the pinned file.")


def candidate_dirs() -> list[Path]:
    """Folders searched for model files, first match wins."""
    dirs = []
    if os.environ.get(settings.ENV_MODELS_DIR):
        dirs.append(Path(os.environ[settings.ENV_MODELS_DIR]))
    dirs.append(Path(settings.LAMBDA_MODELS_DIR))
    spec = find_spec("rapidocr")  # finds the package without importing it (its import is slow)
    if spec is not None and spec.submodule_search_locations:
        dirs.extend(Path(loc) / "models" for loc in spec.submodule_search_locations)
    return dirs


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def locate(spec: ModelSpec = PPOCR_REC, *, verify: bool = True) -> Path:
    """The path of ``spec``'s file, checked against its pinned SHA-256.

    Raises :class:`ModelMissingError` when no candidate folder has it and
    :class:`ModelMismatchError` when the file found differs from the pinned one (both exit 5)."""
    for d in candidate_dirs():
        path = d / spec.file_name
        if path.is_file():
            if verify and sha256_of(path) != spec.sha256:
                raise ModelMismatchError(
                    f"The OCR model {path} is not the pinned {spec.file_name} from {spec.source} "
                    "(its SHA-256 differs)."
                )
            return path
    raise ModelMissingError(
        f"The OCR model {spec.file_name} ({spec.source}) was not found "
        f"(looked in: {', '.join(str(d) for d in candidate_dirs())})."
    )
