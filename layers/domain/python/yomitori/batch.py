"""Batches: the manifest contract and where a batch's objects live.

One source of truth for the bucket layout, used by the handlers, the local cloud runner,
the agent and the CDK stack (the EventBridge filter on the manifest key).
Key layout (the batch id is the prefix of everything, so purge is one prefix):

    intake bucket:   <batch_id>/pages/<file name>
                     <batch_id>/manifest.json            (uploaded last; starts the flow)
    results bucket:  <batch_id>/ocr/<document_id>.json   (engine words + extracted fields)
                     <batch_id>/documents/<document_id>.json
                     <batch_id>/results.json, <batch_id>/results.csv
                     <batch_id>/ack.json                 (download acknowledged)

A batch id is ``<client_id>-<YYYYmmdd>-<HHMMSS>-<6 hex>`` (:func:`new_batch_id`): the client
id of the office that packed it, then a tail of fixed length. That makes the key prefix a
client's own: the agent policy lets an external PC whose identity carries the principal tag
``yomitori-client`` = X touch only keys matching :func:`client_batch_pattern` (X) (infra/stack.py).
Because the tail's length is fixed, ``X-`` followed by exactly that many characters names X's
batches and no other client's, even when client ids contain '-' ("pc" never matches "pc-2"'s).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator

MANIFEST_NAME = "manifest.json"
# What `yomitori process` (and the local cloud runner) write next to the results of a folder:
# batch id, form, scans folder, counts, CSV encoding. Review and eval read it.
SUMMARY_NAME = "batch.json"
MANIFEST_SUFFIX = "/" + MANIFEST_NAME
BATCH_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$"
_SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class PageEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        # page names become object keys and file names: no paths, no odd characters
        if not _SAFE_FILE.match(v) or ".." in v:
            raise ValueError("page names are plain file names (letters, digits, . _ -)")
        return v


class BatchManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    batch_id: str = Field(pattern=BATCH_ID_PATTERN)
    client_id: str
    created_at: dt.datetime
    form_id: str = "auto"
    pages: list[PageEntry]

    @field_validator("pages")
    @classmethod
    def _unique(cls, pages: list[PageEntry]) -> list[PageEntry]:
        names = [p.name for p in pages]
        if len(set(names)) != len(names):
            raise ValueError("page names must be unique within a batch")
        return pages


# The IAM principal tag that names the client an external PC's identity acts for.
CLIENT_TAG = "yomitori-client"
# new_batch_id's tail after the client id, as IAM / fnmatch wildcards ('?' = one character).
BATCH_ID_TAIL_WILDCARD = "-????????-??????-??????"
_BATCH_ID_TAIL = re.compile(r"-\d{8}-\d{6}-[0-9a-f]{6}$")


def new_batch_id(client_id: str, now: dt.datetime | None = None) -> str:
    """A new batch id of ``client_id`` (unique: a second and 24 random bits)."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{client_id}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def has_batch_id_tail(name: str) -> bool:
    """Whether ``name`` ends like :func:`new_batch_id`'s ids."""
    return bool(_BATCH_ID_TAIL.search(name))


def client_batch_pattern(client_id: str) -> str:
    """The batch ids of ``client_id`` as an IAM wildcard (also an fnmatch pattern)."""
    return client_id + BATCH_ID_TAIL_WILDCARD


def owned_by(batch_id: str, client_id: str) -> bool:
    """Whether ``batch_id`` is one of ``client_id``'s batches (as IAM matches it)."""
    import fnmatch

    return fnmatch.fnmatchcase(batch_id, client_batch_pattern(client_id))


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def document_id_for(page_name: str) -> str:
    """The document id of a one-page document: the page's file name without its suffix."""
    return PurePosixPath(page_name).stem


# The manifest's object metadata: all the batch flow reads of it (a page count and a form id,
# no file names), so the execution history never holds the scanner's file names.
META_PAGES = "pages"
META_FORM = "form"
MAX_PAGES = 1000  # States.ArrayRange's limit: the flow maps over page ordinals 1..n


def manifest_metadata(manifest: BatchManifest) -> dict[str, str]:
    """S3 user metadata the manifest is uploaded with (``yomitori-agent upload``, the stores)."""
    return {META_PAGES: str(len(manifest.pages)), META_FORM: manifest.form_id}


def cloud_document_id(batch_id: str, ordinal: int) -> str:
    """The document id of the ``ordinal``-th page (from 1) of a batch in the cloud flow:
    opaque, unique across batches, and free of the scanner's file name (the name stays in
    the document's ``source``, inside the results)."""
    return f"{batch_id}-p{ordinal:04d}"


def page_key(batch_id: str, page_name: str) -> str:
    return f"{batch_id}/pages/{page_name}"


def manifest_key(batch_id: str) -> str:
    return f"{batch_id}{MANIFEST_SUFFIX}"


def ocr_key(batch_id: str, document_id: str) -> str:
    return f"{batch_id}/ocr/{document_id}.json"


def document_key(batch_id: str, document_id: str) -> str:
    return f"{batch_id}/documents/{document_id}.json"


def results_json_key(batch_id: str) -> str:
    return f"{batch_id}/results.json"


def results_csv_key(batch_id: str) -> str:
    return f"{batch_id}/results.csv"


ACK_NAME = "ack.json"


def ack_key(batch_id: str) -> str:
    return f"{batch_id}/{ACK_NAME}"


def batch_prefix(batch_id: str) -> str:
    return f"{batch_id}/"
