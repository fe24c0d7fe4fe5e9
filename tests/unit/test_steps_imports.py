"""Cold-start hygiene: importing a handler, or the domain's one-machine path, builds no AWS
client and imports neither boto3 nor Powertools (they load on first use). Checked in a fresh
interpreter, so other tests' imports cannot hide a regression."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = ("import sys; {imports}; "
         "print(sorted(m for m in ('boto3', 'botocore', 'aws_lambda_powertools') if m in sys.modules))")


@pytest.mark.parametrize("name", ["ocr", "validate", "review", "finalize", "purge"])
def test_importing_a_handler_loads_no_aws_sdk(repo_root, name):
    # Given a fresh interpreter in the handler's folder (as Lambda imports it)
    # When the handler module is imported
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(imports="import handler")],
        cwd=repo_root / "lambdas" / name,
        capture_output=True,
        text=True,
        check=True,
    )
    # Then neither boto3 nor Powertools was imported
    assert out.stdout.strip() == "[]", out.stdout


def test_the_one_machine_path_imports_no_boto3():
    modules = [
        "yomitori.pipeline",
        "yomitori.store",
        "yomitori.steps.review",
        "yomitori.cli",
        "yomitori.export",
    ]
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(imports="; ".join(f"import {m}" for m in modules))],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_importing_the_ocr_handler_loads_no_engine(repo_root):
    # Given a fresh interpreter in the ocr function's folder / When the handler is imported
    engines = ("onnxruntime", "cv2", "numpy", "PIL", "textractor", "tesserocr", "yomitori.ocr.ppocr")
    probe = f"import sys; import handler; print(sorted(m for m in {engines!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=repo_root / "lambdas" / "ocr",
        capture_output=True,
        text=True,
        check=True,
    )
    # Then no engine or image library was loaded: the engine and its model load on first use,
    # which keeps the handler's import (the cold start) short
    assert out.stdout.strip() == "[]", out.stdout
