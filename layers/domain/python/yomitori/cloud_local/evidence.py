"""What a batch left behind in the local cloud (one machine only; the journey and the tests):
objects in the buckets, the deletion record, and seeded personal values or scanner file names
anywhere they must never be: execution history (the flow and its Map's child executions),
the functions' logs (files and moto's CloudWatch Logs), the events EventBridge delivered, and
every item of every table (audit records included)."""

from __future__ import annotations

import json

from yomitori.cloud_local.server import LocalCloud, state_dir

EVENTS_LOG = "events.jsonl"  # moto_host appends every event it delivers
INVOCATIONS_LOG = "invocations.jsonl"  # the function runner: every payload and result


def objects_left(cloud: LocalCloud) -> int:
    """Objects (and versions) in every bucket of the local cloud but the trail bucket, whose
    audit trail copies are kept on purpose (ids and codes only; searched by :func:`pii_report`)."""
    from yomitori import settings

    s3, n = cloud.client("s3"), 0
    for b in s3.list_buckets().get("Buckets", []):
        if b["Name"] == cloud.bucket(settings.BUCKET_TRAIL):
            continue
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=b["Name"]):
            n += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
    return n


def deletion_receipt(cloud: LocalCloud, batch_id: str) -> bool:
    from yomitori.steps import config

    cloud.activate()
    return bool(config.review_store().deletions(batch_id))


def audit_verdict(cloud: LocalCloud, batch_id: str) -> tuple[bool, int]:
    """Whether the batch's audit chain verifies, and against how many anchors (the deletion
    record and the trail bucket's Object-Lock copy: 2 after purge)."""
    from yomitori.audit.report import verify_batches
    from yomitori.audit.sources import cloud_source

    cloud.activate()
    src = cloud_source()
    (v,) = verify_batches(src.reviews, batch=batch_id, extra=src.anchors([batch_id]))
    return v.ok, len(v.anchors)


def audit_reviewers(cloud: LocalCloud, batch_id: str) -> list[str]:
    """Who the batch's audit records name (each reviewer once, sorted)."""
    from yomitori.steps import config

    cloud.activate()
    return sorted({r.reviewer for r in config.review_store().audit_trail(batch_id)})


def needles(truth: dict, form_id: str) -> list[str]:
    """The seeded values of personal fields and the scanner file names (with and without their
    suffix) of a batch: ``truth`` maps page file name -> truth file."""
    import datetime as dt

    from yomitori.forms import load_form

    personal = {f.name for f in load_form(form_id).fields if f.is_sensitive}
    # today's date is in every timestamp: an application date of today says nothing about anyone
    today = {dt.date.today().isoformat(), dt.datetime.now(dt.UTC).date().isoformat()}
    out = set()
    for name, t in truth.items():
        out.update({name, name.rsplit(".", 1)[0]})
        for field, value in t.get("fields", {}).items():
            # short digit strings (a branch code "001") would match ids and times by chance
            if (
                field in personal
                and isinstance(value, str)
                and value not in today
                and len(value.strip()) >= (5 if value.isdigit() else 3)
            ):
                out.add(value)
                out.add(json.dumps(value)[1:-1])  # as it looks inside JSON text (\\u escapes)
    return sorted(out)


def _history_texts(cloud: LocalCloud, state_machine_arn: str) -> list[str]:
    sfn, texts = cloud.client("stepfunctions"), []

    def one(arn: str) -> None:
        token = None
        while True:
            kw = {"executionArn": arn, "maxResults": 1000, **({"nextToken": token} if token else {})}
            page = sfn.get_execution_history(**kw)
            texts.append(json.dumps(page["events"], default=str, ensure_ascii=False))
            token = page.get("nextToken")
            if not token:
                break
        desc = sfn.describe_execution(executionArn=arn)
        texts.append(json.dumps(desc, default=str, ensure_ascii=False))
        # moto keeps no child executions for a Distributed Map's items (ListExecutions by map
        # run fails): what their history would hold (each Lambda task's payload and result) is
        # in the function runner's invocation record instead (INVOCATIONS_LOG).

    for ex in sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]:
        one(ex["executionArn"])
    return texts


def _log_texts(cloud: LocalCloud) -> list[str]:
    texts = [p.read_text("utf-8", errors="replace") for p in (state_dir() / "logs").glob("*.log")]
    logs = cloud.client("logs")
    for group in logs.describe_log_groups().get("logGroups", []):
        for ev in logs.filter_log_events(logGroupName=group["logGroupName"]).get("events", []):
            texts.append(ev["message"])
    return texts


def _table_texts(cloud: LocalCloud) -> list[str]:
    ddb = cloud.client("dynamodb")
    return [
        json.dumps(ddb.scan(TableName=t)["Items"], ensure_ascii=False)
        for t in ddb.list_tables()["TableNames"]
    ]


def _trail_texts(cloud: LocalCloud) -> list[str]:
    """Every version of every audit trail copy in the trail bucket."""
    from yomitori import settings

    s3, bucket, texts = cloud.client("s3"), cloud.bucket(settings.BUCKET_TRAIL), []
    try:
        pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket))
    except Exception:  # noqa: BLE001 - a local cloud provisioned before the trail bucket existed
        return []
    for page in pages:
        for v in page.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
            texts.append(body.decode("utf-8", "replace"))
    return texts


def pii_report(cloud: LocalCloud, state_machine_arn: str, truth: dict, form_id: str) -> dict[str, int]:
    """How many seeded values / file names were found where, by place."""
    events = state_dir() / EVENTS_LOG
    invocations = state_dir() / INVOCATIONS_LOG
    places = {
        "execution_history": _history_texts(cloud, state_machine_arn)
        + ([invocations.read_text("utf-8")] if invocations.exists() else []),
        "handler_logs": _log_texts(cloud),
        "events": [events.read_text("utf-8")] if events.exists() else [],
        "tables": _table_texts(cloud),
        "audit_trail_copies": _trail_texts(cloud),
    }
    found = {}
    wanted = needles(truth, form_id)
    for place, texts in places.items():
        found[place] = sum(1 for n in wanted for t in texts if n in t)
    return found
