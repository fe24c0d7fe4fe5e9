"""The third-party layers are installed from locked files only: every distribution of every
layer is ``==`` pinned with its SHA-256 hashes (layers/lock.py), the locks satisfy what each
layer asks for (``<group>.in``), a layer and the layers it sits on agree on shared versions,
and layers/build.py installs them with ``--require-hashes``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from yomitori import settings

REQUIREMENTS = Path(__file__).resolve().parents[2] / "layers" / "requirements"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def _logical_lines(path: Path) -> list[str]:
    """Requirement lines with their backslash continuations joined, comments dropped."""
    out, buf = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].rstrip() if not raw.lstrip().startswith("--hash") else raw.strip()
        if not line.strip() and not buf:
            continue
        buf += " " + line.strip().removesuffix("\\")
        if not line.endswith("\\"):
            out.append(buf.strip())
            buf = ""
    return [x for x in out if x]


def _pins(group: str) -> dict[str, str]:
    pins = {}
    for line in _logical_lines(REQUIREMENTS / f"{group}.txt"):
        m = _PIN.match(line)
        assert m, f"{group}.txt: not an == pin: {line[:80]}"
        assert _HASH.search(line), f"{group}.txt: {m.group(1)} has no --hash"
        assert ";" not in line.split("--hash")[0], f"{group}.txt: {m.group(1)} depends on a marker"
        name = canonicalize_name(m.group(1))
        assert name not in pins, f"{group}.txt: {name} pinned twice"
        pins[name] = m.group(2)
    return pins


@pytest.mark.parametrize("group", settings.LAYER_GROUPS)
def test_every_layer_requirement_is_pinned_with_hashes(group):
    # Given the lock of a layer / Then every line is name==version with at least one hash, and
    # nothing else (no ranges, no URLs, no options that would let pip pick another file)
    pins = _pins(group)
    assert pins
    # and it satisfies what the layer asks for
    for line in _logical_lines(REQUIREMENTS / f"{group}.in"):
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in pins, f"{group}: {req.name} is not in the lock (run layers/lock.py)"
        assert req.specifier.contains(pins[name], prereleases=True), (group, line, pins[name])


@pytest.mark.parametrize("group", settings.LAYER_GROUPS)
def test_a_layer_and_the_layers_it_sits_on_pin_the_same_versions(group):
    pins = _pins(group)
    for dep in settings.LAYER_DEPENDS[group]:
        below = _pins(dep)
        for name in set(pins) & set(below):
            assert pins[name] == below[name], (group, dep, name)


def test_the_build_installs_the_locks_with_require_hashes(monkeypatch, tmp_path):
    import importlib.util
    import subprocess

    spec = importlib.util.spec_from_file_location("layer_build", REQUIREMENTS.parent / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    seen = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: seen.append(cmd))
    # When a layer is built for Lambda and for this machine
    for host in (False, True):
        build._pip(REQUIREMENTS / "base.txt", tmp_path, host=host)
    # Then pip is told to accept only the hashed files of the lock
    for cmd in seen:
        assert "--require-hashes" in cmd and cmd[cmd.index("-r") + 1].endswith("base.txt")
