"""The C2SP CCTV age test vectors (npm package cctv-age, in node_modules) against the agent's
decryption path (:func:`yomitori_agent.unpack.decrypt_into`: pyrage.decrypt_io in the age
child process, from the package file into a streaming sink), with an explicit list of
expected deviations and why each is acceptable."""

from __future__ import annotations

import base64
import hashlib
import re
import zlib
from pathlib import Path

import pyrage
import pytest
from yomitori_agent.unpack import DecryptFailed, decrypt_into

VECTORS_JS = Path(__file__).resolve().parents[3] / "node_modules" / "cctv-age" / "index.js"

# Vectors the agent does not run, by feature, with the reason.
NOT_APPLICABLE = {
    "scrypt": "passphrase (scrypt) files: the agent only ever uses X25519 identities",
    "hybrid": "ML-KEM/X25519 hybrid (post-quantum) identities: pyrage 1.4 has no hybrid identity type, "
    "and the agent's keys are X25519",
}
# ASCII-armored files (``age -a``): the agent refuses them before age sees them (packages are
# binary; docs/agent.md), so every armored vector must be refused, whatever the vector expects.
ARMORED = "armored"

# Vectors where pyrage (rage) decides differently from the specification.
EXPECTED_DEVIATIONS = {
    "stanza_missing_body": "rage accepts a malformed *unknown* stanza (no body line) instead of failing the "
    "header; the X25519 stanza and the header MAC are still checked, so no forged "
    "content is accepted",
    "stanza_missing_final_line": "as stanza_missing_body (unknown stanza without its short final line)",
}


def _vectors() -> dict[str, bytes]:
    if not VECTORS_JS.is_file():
        pytest.fail("node_modules/cctv-age is missing: run `make setup` (npm ci)")
    found = re.findall(r'// \.\./testdata/(\S+)\nvar \w+ = __toBinary\("([^"]*)"\)', VECTORS_JS.read_text())
    return {name: base64.b64decode(b64) for name, b64 in found}


def _parse(raw: bytes) -> tuple[dict, list[str], bytes]:
    head, _, body = raw.partition(b"\n\n")
    meta: dict = {}
    identities: list[str] = []
    for line in head.decode().splitlines():
        key, _, value = line.partition(": ")
        if key == "identity":
            identities.append(value)
        else:
            meta.setdefault(key, value)
    if meta.get("compressed") == "zlib":
        body = zlib.decompress(body)
    return meta, identities, body


VECTORS = _vectors() if VECTORS_JS.is_file() else {}


def test_the_vector_set_is_there_and_the_lists_name_real_vectors():
    # Given the installed vectors (a vanished or renamed vector must not pass silently)
    assert len(VECTORS) >= 100
    assert set(EXPECTED_DEVIATIONS) <= set(VECTORS)
    assert all(any(n.startswith(p) or f"_{p}" in n for n in VECTORS) for p in NOT_APPLICABLE)


def _applicable(name: str, meta: dict, identities: list[str]) -> str | None:
    """None if the agent runs this vector, else the reason it does not."""
    if not identities and "passphrase" in meta:
        return NOT_APPLICABLE["scrypt"]
    if any(i.startswith("AGE-SECRET-KEY-PQ-") or "hybrid" in name for i in identities) or name.startswith(
        "hybrid"
    ):
        return NOT_APPLICABLE["hybrid"]
    return None


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector(tmp_path, name):
    meta, identity_lines, body = _parse(VECTORS[name])
    reason = _applicable(name, meta, identity_lines)
    if reason:
        pytest.skip(reason)
    # Given the vector's file and identities
    identities = [pyrage.x25519.Identity.from_str(i) for i in identity_lines]
    identities = identities or [pyrage.x25519.Identity.generate()]  # e.g. "empty": no key can help
    path = tmp_path / "vector.age"
    path.write_bytes(body)
    # When the agent's decryption path reads it to the end
    digest = hashlib.sha256()

    class Sink:
        def write(self, b):
            digest.update(b)
            return len(b)

    try:
        decrypt_into(path, identities, Sink())
        error = None
    except Exception as e:  # pyrage.DecryptError, or OSError from the payload stream
        error = e
    succeeded = error is None
    if meta.get(ARMORED) == "yes":
        assert isinstance(error, DecryptFailed), error
        assert "armored" in str(error) or "not an age file" in str(error)
        assert digest.hexdigest() == hashlib.sha256().hexdigest()  # refused before any plaintext
        return
    # Then success and failure are as the vector expects (or as the listed deviation says), and all
    # plaintext released before a payload failure matches the vector's payload hash
    expect_success = meta["expect"] == "success"
    if name in EXPECTED_DEVIATIONS:
        assert succeeded != expect_success, (
            f"{name} now behaves as specified: remove it from EXPECTED_DEVIATIONS"
        )
        return
    assert succeeded == expect_success, (meta["expect"], error)
    if meta["expect"] in ("success", "payload failure"):
        assert digest.hexdigest() == meta["payload"]
