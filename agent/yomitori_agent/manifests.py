"""What a package's ``manifest.json`` holds.

A scans package (scanner PC -> external PC) carries the batch manifest of the domain
(:class:`yomitori.batch.BatchManifest`) unchanged: the external PC uploads it as is, last.
A results package (cloud -> contract server) carries a :class:`ResultsManifest`: the same
idea, with member names that may sit in ``documents/`` as in the results bucket.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from yomitori.batch import BATCH_ID_PATTERN, BatchManifest

from yomitori_agent.errors import PackageRejected

MANIFEST_MEMBER = "manifest.json"
# A batch holds at most 4 000 pages (pack refuses more; a folder's sub-folders are separate
# batches; the 1 GB benchmark has 3 334), a package at most that many files plus a few (a
# results package: results.json, results.csv and perhaps one JSON per document). Its manifest
# is then under 1 MiB. Both bounds are checked before anything is parsed, so a crafted package
# costs constant memory, and at most MAX_MEMBERS member files are created before a package
# without a manifest is refused: creating files is what costs (0.2-1.5 ms each on the shared
# test machine), so this bounds the time too.
MAX_PAGES = 4_000
MAX_MEMBERS = MAX_PAGES + 16
MAX_MANIFEST_BYTES = 2 << 20
_RESULT_NAME = re.compile(r"^(documents/)?[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str) -> str:
        if not _RESULT_NAME.match(v) or ".." in v or v.endswith(".part"):
            raise ValueError("names are plain file names, optionally under documents/")
        return v


class ResultsManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    kind: Literal["results"] = "results"
    batch_id: str = Field(pattern=BATCH_ID_PATTERN)
    client_id: str
    created_at: dt.datetime
    files: list[FileEntry]

    @field_validator("files")
    @classmethod
    def _unique(cls, files: list[FileEntry]) -> list[FileEntry]:
        if len({f.name for f in files}) != len(files):
            raise ValueError("file names must be unique")
        return files


@dataclass(frozen=True)
class PackageManifest:
    """Either kind of manifest, with the list of members the package must hold."""

    kind: Literal["scans", "results"]
    batch_id: str
    entries: tuple[FileEntry, ...]
    raw: bytes
    batch: BatchManifest | None = None
    results: ResultsManifest | None = None


def parse_manifest(data: bytes) -> PackageManifest:
    """Parse and validate ``manifest.json``; PackageRejected (no details of values) if invalid."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise PackageRejected(f"manifest.json is larger than {MAX_MANIFEST_BYTES >> 20} MiB.")
    if data.count(b'"sha256"') > MAX_MEMBERS:  # every entry has one: counted before parsing
        raise PackageRejected(f"manifest.json lists more than {MAX_MEMBERS} files.",
                              action=f"Split the batch into packages of at most {MAX_MEMBERS} files.")
    try:
        obj = json.loads(data.decode("utf-8"))
        if isinstance(obj, dict) and obj.get("kind") == "results":
            res = ResultsManifest.model_validate(obj)
            if len(res.files) > MAX_MEMBERS:
                raise PackageRejected(f"manifest.json lists more than {MAX_MEMBERS} files.")
            return PackageManifest("results", res.batch_id, tuple(res.files), data, results=res)
        batch = BatchManifest.model_validate(obj)
    except (ValueError, ValidationError) as e:
        where = ""
        if isinstance(e, ValidationError) and e.errors():
            where = " at " + ".".join(str(p) for p in e.errors()[0]["loc"])
        raise PackageRejected(f"manifest.json is not a valid manifest{where}.") from None
    if len(batch.pages) > MAX_MEMBERS:  # the count before parsing missed escaped keys
        raise PackageRejected(f"manifest.json lists more than {MAX_MEMBERS} files.")
    entries = tuple(FileEntry(name=p.name, size=p.size, sha256=p.sha256) for p in batch.pages)
    return PackageManifest("scans", batch.batch_id, entries, data, batch=batch)


def dump(model: BaseModel) -> bytes:
    return model.model_dump_json(indent=2).encode("utf-8")
