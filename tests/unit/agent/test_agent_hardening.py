"""Unit-level cases of the adversarial catalogue (issue 19): bounds that hold however a
manifest is spelled, the pack limit, and text from a stick made safe to print."""

from __future__ import annotations

import json

import pytest
from yomitori_agent.errors import BadInputError, PackageRejected
from yomitori_agent.manifests import MAX_MEMBERS, parse_manifest
from yomitori_agent.safetext import printable


def test_a_manifest_over_the_member_bound_is_refused_even_with_escaped_keys():
    # Given a results manifest whose keys are JSON-escaped, so a byte count of "sha256" misses them
    entry = '{"name": "documents/d%d.json", "size": 0, "sha\\u0032""56": "%s"}'
    files = ",".join(entry.replace('""', "") % (i, "0" * 64) for i in range(MAX_MEMBERS + 1))
    data = (
        '{"kind": "results", "batch_id": "city-test-20260301-090000-c0ffee", "client_id": "c", '
        f'"created_at": "2026-03-01T09:00:00Z", "files": [{files}]}}'
    ).encode()
    assert json.loads(data)["files"][0]["sha256"] == "0" * 64 and data.count(b'"sha256"') == 0
    # When it is parsed, Then it is refused for its size, not accepted
    with pytest.raises(PackageRejected, match="more than"):
        parse_manifest(data)


def test_pack_refuses_a_folder_of_more_scans_than_a_batch_holds(tmp_path, monkeypatch):
    from yomitori_agent import pack

    # Given a folder with one scan more than a batch may hold (the bound made small for the test)
    monkeypatch.setattr(pack, "MAX_PAGES", 3)
    pages = []
    for i in range(4):
        (tmp_path / f"p{i}.png").write_bytes(b"x")
        pages.append(tmp_path / f"p{i}.png")
    # When it is planned, Then it is refused with what to do
    with pytest.raises(BadInputError, match="at most 3") as e:
        pack.plan_pages(pages)
    assert "sub-folders" in e.value.action
    assert len(pack.plan_pages(pages[:3])) == 3


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\x1b[2Kb", "a\\x1b[2Kb"),
        ("nul\x00", "nul\\x00"),
        ("rtl\u202eexe.png", "rtl\\u202eexe.png"),
        ("申込書 1.png", "申込書 1.png"),
        ("bell\x07\r\n", "bell\\x07\\r\\n"),
    ],
)
def test_control_and_format_characters_are_escaped(raw, shown):
    assert printable(raw) == shown
    assert printable("x" * 100, 80) == "x" * 80 + "…"
