"""checkov over the synthesized template: every failed check is one docs/deploy.md lists (check
id and resource) with its reason, and every listed one still fails (no stale excuses).

checkov lives in ``.venv-checkov`` (``make setup``; its pins conflict with the project's). On a
machine without it the test is skipped, but never in CI (``CI`` set): there it must run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "deploy.md"


def _checkov() -> str:
    for candidate in (os.environ.get("YOMITORI_CHECKOV"), str(REPO / ".venv-checkov" / "bin" / "checkov"),
                      shutil.which("checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    if os.environ.get("CI"):
        pytest.fail("checkov is not installed: `make setup` installs it into .venv-checkov")
    pytest.skip("checkov is not installed (make setup puts it into .venv-checkov)")


def _documented() -> dict[str, list[str]]:
    """check id -> resource logical-id prefixes, from the table under '## checkov findings'."""
    section = DOCS.read_text(encoding="utf-8").split("## checkov findings", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for m in re.finditer(r"^\| (CKV2?_[A-Z0-9_]+) \| ([^|]+) \| ([^|]+) \|$", section, re.M):
        assert len(m.group(3).strip()) >= 40, f"{m.group(1)}: the reason is too short"
        rows[m.group(1)] = [r.strip() for r in m.group(2).split(",")]
    return rows


@pytest.fixture(scope="module")
def failed(synth) -> list[tuple[str, str]]:
    out = subprocess.run(
        [_checkov(), "-f", str(synth.outdir / "Yomitori.template.json"), "--framework", "cloudformation",
         "--quiet", "--compact", "-o", "json"],
        capture_output=True, text=True, timeout=600,
    )
    report = json.loads(out.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 100  # it really checked the stack
    return [(f["check_id"], f["resource"].split(".", 1)[1]) for f in report["results"]["failed_checks"]]


def test_every_failed_checkov_check_is_documented_with_its_reason(failed):
    documented = _documented()
    assert documented
    # Given the checks checkov failed / Then each is a documented check on a documented resource
    for check, resource in failed:
        assert check in documented, f"{check} on {resource}: fix it or list it in docs/deploy.md"
        assert any(resource.startswith(p) for p in documented[check]), (check, resource)
    # and each documented row still fails on each of its resources
    for check, prefixes in documented.items():
        for p in prefixes:
            assert any(c == check and r.startswith(p) for c, r in failed), f"{check} {p}: passes now"
