"""Every function's layers plus its code fit Lambda's 250 MiB unzipped limit, measured on the
real layers: this test runs layers/build.py for the Lambda platform (Python 3.14, aarch64)
into build/layers, as a deployment does. It needs PyPI (as `make setup` does); a clean build
takes about 20 s, later runs reuse what is built (each layer is stamped with its inputs).
The pruned layers are also built for this machine and imported, so pruning cannot remove
something the ocr function needs at run time."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from yomitori import settings
from yomitori.ocr import models

REPO = Path(__file__).resolve().parents[2]


def _build_module():
    spec = importlib.util.spec_from_file_location("layer_build", REPO / "layers" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _build_module()


@pytest.fixture(scope="module")
def lambda_layers() -> dict[str, Path]:
    return build.build_all(build.OUT)


def test_every_function_fits_lambdas_unzipped_limit_with_every_engine(lambda_layers):
    # Given the layers built for Lambda / Then no function is over with any engine
    assert build.over_limit(lambda_layers, ("ppocr", "textract", "tesseract")) == []
    # and the default deployment's ocr function carries what ppocr needs, nothing else
    parts = build.function_sizes(lambda_layers, "ppocr")["ocr"]
    assert set(parts) == {"base", "imaging", "ppocr", "models", "domain", "code"}
    assert sum(parts.values()) <= build.LAMBDA_UNZIPPED_LIMIT


def test_the_ocr_layers_hold_onnxruntime_for_lambda_and_only_the_pinned_model(lambda_layers, monkeypatch):
    capi = lambda_layers["ppocr"] / "python" / "onnxruntime" / "capi"
    assert list(capi.glob("onnxruntime_pybind11_state.cpython-314-aarch64-linux-gnu.so"))
    # the model layer: the one pinned file, where Lambda mounts it (/opt/models)
    model_dir = lambda_layers[settings.MODEL_LAYER] / "models"
    assert [p.name for p in model_dir.iterdir()] == [models.PPOCR_REC.file_name]
    monkeypatch.setenv(settings.ENV_MODELS_DIR, str(model_dir))
    assert models.locate() == model_dir / models.PPOCR_REC.file_name  # SHA-256 checked
    # rapidocr and its other dependencies are shipped nowhere; textractor only in its group
    entries = {g: {e.name.split("-")[0].lower() for e in (p / "python").iterdir()}
               for g, p in lambda_layers.items() if g != settings.MODEL_LAYER}
    for group, names in entries.items():
        assert not names & {"rapidocr", "omegaconf", "shapely", "pyclipper", "colorlog", "tqdm"}, group
        assert ("textractor" in names) == (group == settings.LAYER_TEXTRACT), group
    # no package is carried twice by layers the same function takes together
    for engine in ("ppocr", "textract"):
        groups = settings.layer_groups("ocr", engine)
        for i, a in enumerate(groups):
            for b in groups[i + 1:]:
                assert not entries[a] & entries[b], (a, b)


def test_the_size_check_fails_when_a_function_is_over(tmp_path):
    # Given layers whose files add up to more than the limit for the ocr function with ppocr
    sizes_mib = {"base": 15, "imaging": 150, "reference": 115, "ppocr": 60, "textract": 8}
    built = {}
    for group, mib in sizes_mib.items():
        (tmp_path / group / "python").mkdir(parents=True)
        os.truncate(_touch(tmp_path / group / "python" / "blob.so"), mib * 2**20)
        built[group] = tmp_path / group
    (tmp_path / "models" / "models").mkdir(parents=True)
    os.truncate(_touch(tmp_path / "models" / "models" / "model.onnx"), 30 * 2**20)
    built[settings.MODEL_LAYER] = tmp_path / "models"
    # When checking / Then exactly that function and engine is named, with its parts
    problems = build.over_limit(built, ("ppocr", "textract", "tesseract"))
    assert len(problems) == 1
    assert problems[0].startswith("ocr with ocr_engine ppocr: 255.") and "imaging 150.0" in problems[0]


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def test_the_ppocr_engine_runs_on_the_pruned_layers_alone():
    # Given the same groups built for this machine (pruned the same way)
    host = build.build_all(build.HOST_OUT, host=True)
    groups = settings.layer_groups("ocr", "ppocr")
    layers = [*(host[g] / "python" for g in groups), REPO / "layers" / "domain" / "python"]
    path = os.pathsep.join(str(p) for p in layers)
    # When an interpreter without site-packages sees only the ocr function's layers
    code = (
        "import sys, numpy as np, cv2, onnxruntime as ort\n"
        "from PIL import Image, ImageDraw\n"
        "assert not any('site-packages' in p for p in sys.path)\n"
        "from yomitori.ocr.engine import FieldHint\n"
        "from yomitori.ocr.ppocr import PpocrEngine\n"
        "crop = Image.new('L', (160, 48), 255)\n"
        "ImageDraw.Draw(crop).rectangle((20, 10, 26, 38), fill=0)\n"
        "engine = PpocrEngine()\n"
        "r = engine.read_field(crop, FieldHint(field_type='digits'))\n"
        "print(set(r.text) <= set('0123456789'), 0 <= r.confidence < 1, engine.load_seconds > 0)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": path,
        settings.ENV_MODELS_DIR: str(host[settings.MODEL_LAYER] / "models"),
    }
    run = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    # Then numpy, OpenCV, Pillow, onnxruntime and the model all load, and the ppocr engine
    # reads a digit crop (digits only, a confidence below 1) after loading its model
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["True", "True", "True"]
