"""One-machine implementations: a folder for objects, a callback for the gate.

Layout under the root mirrors the two buckets (``intake/<key>``, ``results/<key>``) so keys
are identical to the cloud's (see ``yomitori.batch``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from yomitori.batch import BatchManifest, batch_prefix, manifest_key, page_key
from yomitori.store.base import GateReleaser, ObjectMissing, PurgeCount, ResultStore, StoreError

AREAS = ("intake", "results")


class LocalResultStore(ResultStore):
    """Objects as files under ``root`` (one-machine mode and tests)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def _path(self, key: str, area: str) -> Path:
        if area not in AREAS:
            raise StoreError(f"Unknown storage area '{area}'.", action="Use 'intake' or 'results'.")
        parts = Path(key).parts
        if not parts or key.startswith("/") or ".." in parts:
            raise StoreError(
                f"Refusing object key '{key}'.", action="Keys are relative paths inside a batch."
            )
        return self.root / area / key

    def _write(self, path: Path, data: bytes) -> None:
        # write to a temporary name and rename, so a reader never sees half an object
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def _read(self, key: str, area: str) -> bytes:
        path = self._path(key, area)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(f"Object '{key}' is missing from the {area} store.") from None

    def put_page(self, batch_id: str, page_name: str, data: bytes) -> str:
        key = page_key(batch_id, page_name)
        self._write(self._path(key, "intake"), data)
        return key

    def get_page(self, batch_id: str, page_name: str) -> bytes:
        return self._read(page_key(batch_id, page_name), "intake")

    def put_manifest(self, manifest: BatchManifest) -> str:
        key = manifest_key(manifest.batch_id)
        self._write(self._path(key, "intake"), manifest.model_dump_json(indent=2).encode())
        return key

    def get_manifest(self, batch_id: str) -> BatchManifest:
        return BatchManifest.model_validate_json(self._read(manifest_key(batch_id), "intake"))

    def put_json(self, key: str, payload: dict | list) -> str:
        return self.put_bytes(
            key, json.dumps(payload, ensure_ascii=False, indent=1).encode(), "application/json"
        )

    def get_json(self, key: str) -> dict | list:
        return json.loads(self._read(key, "results"))

    def put_bytes(self, key: str, data: bytes, content_type: str) -> str:
        self._write(self._path(key, "results"), data)
        return key

    def get_bytes(self, key: str) -> bytes:
        return self._read(key, "results")

    def list_keys(self, prefix: str, *, area: str = "results") -> list[str]:
        base = self.root / area
        if not base.is_dir():
            return []
        keys = (p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix) and not Path(k).name.startswith(".tmp-"))

    def delete_batch(self, batch_id: str) -> PurgeCount:
        count = PurgeCount()
        for area in AREAS:
            folder = self._path(batch_prefix(batch_id).rstrip("/"), area)
            if not folder.exists():
                continue
            for p in folder.rglob("*"):
                if p.is_file():
                    count.objects += 1
                    count.bytes += p.stat().st_size
            shutil.rmtree(folder)
        return count


class LocalGateReleaser(GateReleaser):
    """Releases the gate by calling ``callback(task_token, output)`` (the local runner's
    continuation) and remembers what it released."""

    def __init__(self, callback: Callable[[str, dict], None] | None = None):
        self.callback = callback
        self.released: list[tuple[str, dict]] = []

    def release(self, task_token: str, output: dict) -> None:
        self.released.append((task_token, output))
        if self.callback is not None:
            self.callback(task_token, output)
