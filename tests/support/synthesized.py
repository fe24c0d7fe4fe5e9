"""The CloudFormation template of the stack, synthesized with the infra tests' configuration
(tests/infra/conftest.py) and cached on disk under ``build/test-synth/``, keyed by the
sources that shape it, so test runs that only need the template (the policy guard, the
executed state machine) pay for jsii once per change, not once per session."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("app.py", "cdk.json", "infra", "layers/domain/python/yomitori/settings.py",
           "layers/domain/python/yomitori/batch.py", "layers/domain/python/yomitori/principals.py",
           "tests/infra/conftest.py")


def _fingerprint() -> str:
    h = hashlib.sha256()
    for name in SOURCES:
        p = ROOT / name
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            if f.exists():
                h.update(str(f.relative_to(ROOT)).encode())
                h.update(f.read_bytes())
    for dist in ("aws-cdk-lib", "cdk-nag"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            h.update(f"{dist}={metadata.version(dist)}".encode())
    return h.hexdigest()[:20]


def synthesized_template() -> dict:
    """The stack's template (``Yomitori.template.json``), from the cache when the sources are
    unchanged; otherwise synthesized now (about 20 s) and cached."""
    cache = ROOT / "build" / "test-synth" / f"{_fingerprint()}.json"
    if cache.exists():
        return json.loads(cache.read_text(encoding="utf-8"))
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from infra.app import build_app
    from tests.infra.conftest import context

    with tempfile.TemporaryDirectory(prefix="yomitori-synth-") as out:
        app = build_app(context=context(), outdir=out)
        with contextlib.suppress(RuntimeError):
            app.synth()  # a cdk-nag finding is the infra tests' business; the template is written
        template = json.loads((Path(out) / "Yomitori.template.json").read_text(encoding="utf-8"))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(template), encoding="utf-8")
    tmp.replace(cache)
    return template
