"""Purge step: delete every object of the batch (one prefix in each bucket) and write the
deletion record. Minimal in issue 4; issue 5 deletes (all versions) and records.

Event: {"batch_id": str}
Returns: {"batch_id", "prefix"}.
"""

from __future__ import annotations

import re

from yomitori import batch


def handler(event: dict, context: object) -> dict:
    batch_id = event["batch_id"]
    if not re.match(batch.BATCH_ID_PATTERN, batch_id):
        raise ValueError("batch_id is not valid")  # never purge a malformed (e.g. empty) prefix
    return {"batch_id": batch_id, "prefix": batch.batch_prefix(batch_id)}
