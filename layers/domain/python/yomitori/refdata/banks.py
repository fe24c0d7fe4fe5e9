"""Zengin bank and branch codes from the ``zengin_code`` package's JSON files.

The package itself loads every branch of every bank when imported (slow); we read its data
files directly: the bank list on first use, each bank's branches on first use of that bank.
Runs in Lambda and on one machine.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

__all__ = ["Entry", "all_banks", "bank", "branch", "branches", "data_dir"]


@dataclass(frozen=True)
class Entry:
    """A bank or a branch: its code, name (漢字/かな as registered) and katakana name."""

    code: str
    name: str
    kana: str


_lock = threading.Lock()


@lru_cache(maxsize=1)
def data_dir() -> Path:
    spec = find_spec("zengin_code")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the zengin_code package is not installed; run `make setup`")
    return Path(next(iter(spec.submodule_search_locations))) / "source-data" / "data"


@lru_cache(maxsize=1)
def all_banks() -> dict[str, Entry]:
    """Bank code → bank, for every bank in the Zengin list."""
    raw = json.loads((data_dir() / "banks.json").read_text(encoding="utf-8"))
    return {code: Entry(code, b["name"], b["kana"]) for code, b in raw.items()}


def bank(code: str) -> Entry | None:
    return all_banks().get(code)


@lru_cache(maxsize=2048)
def branches(bank_code: str) -> dict[str, Entry]:
    """Branch code → branch of one bank; empty for an unknown bank."""
    if bank_code not in all_banks():
        return {}
    path = data_dir() / "branches" / f"{bank_code}.json"
    if not path.is_file():
        return {}
    with _lock:
        raw = json.loads(path.read_text(encoding="utf-8") or "{}")
    return {code: Entry(code, b["name"], b["kana"]) for code, b in raw.items()}


def branch(bank_code: str, branch_code: str) -> Entry | None:
    return branches(bank_code).get(branch_code)
