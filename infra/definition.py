"""The ASL of the batch flow, as plain data (no CDK): see :func:`definition`.

State payloads carry only ids and object keys (execution history is kept 90 days and cannot
be deleted); Lambda results are narrowed with ResultSelector so nothing else gets in. Plain
ASL because the Distributed Map reads the manifest's nested ``pages`` array with
``ReaderConfig.ItemsPointer``, which CDK's ``S3JsonItemReader`` does not expose.
"""

from __future__ import annotations

from yomitori import batch, settings

# Errors worth retrying: Lambda throttling/service faults, and the OCR engine's throttling
# (the ocr function lets Textract's throttling exceptions through under their own names).
THROTTLING_ERRORS = [
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
]


def _retry(attempts: int = 6) -> list[dict]:
    return [
        {
            "ErrorEquals": THROTTLING_ERRORS,
            "IntervalSeconds": 2,
            "MaxAttempts": attempts,
            "BackoffRate": 2.0,
            "MaxDelaySeconds": 60,
            "JitterStrategy": "FULL",
        }
    ]


def _invoke(
    function_arn: str,
    payload: dict,
    *,
    next_state: str | None,
    result_selector: dict | None = None,
    result_path: str | None = None,
    catch_to: str | None = None,
    wait_for_token: bool = False,
    heartbeat_s: int | None = None,
    timeout_s: int | None = None,
) -> dict:
    state: dict = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke" + (".waitForTaskToken" if wait_for_token else ""),
        "Parameters": {"FunctionName": function_arn, "Payload": payload},
        "Retry": _retry(),
        "ResultPath": result_path,
    }
    if result_selector is not None:
        state["ResultSelector"] = result_selector
    if heartbeat_s:
        state["HeartbeatSeconds"] = heartbeat_s
    if timeout_s:
        state["TimeoutSeconds"] = timeout_s
    if catch_to:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": catch_to}]
    state.update({"Next": next_state} if next_state else {"End": True})
    return state


def definition(
    *,
    functions: dict[str, str],
    audit_table: str,
    max_concurrency: int,
    review_heartbeat_s: int,
    review_timeout_s: int,
    ack_timeout_s: int,
    csv_encoding: str = "utf-8-sig",
) -> dict:
    """The ASL of the batch flow. ``functions`` maps function names to ARNs.

    Input (from the EventBridge rule):
    ``{"bucket": <intake bucket>, "manifest_key": "<batch_id>/manifest.json"}``.
    """
    ids = {"batch_id.$": "$.batch_id"}
    page_states = {
        "Ocr": _invoke(
            functions["ocr"],
            {**ids, "form_id.$": "$.form_id", "ordinal.$": "$.ordinal"},
            result_selector={"document_id.$": "$.Payload.document_id", "form_id.$": "$.Payload.form_id"},
            result_path="$.ocr",
            catch_to="RecordPageFailure",
            next_state="Validate",
        ),
        "Validate": _invoke(
            functions["validate"],
            {**ids, "document_id.$": "$.ocr.document_id", "form_id.$": "$.ocr.form_id"},
            result_selector={
                "document_id.$": "$.Payload.document_id",
                "needs_person.$": "$.Payload.needs_person",
            },
            result_path="$.validated",
            catch_to="RecordPageFailure",
            next_state=None,
        ),
        # A page that cannot be read is recorded (ids and the error name only) and the batch
        # goes on; the person sees it in the review as a failed document.
        "RecordPageFailure": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:putItem",
            "Parameters": {
                "TableName": audit_table,
                "Item": {
                    settings.AUDIT.partition_key: {"S.$": "$.batch_id"},
                    settings.AUDIT.sort_key: {"S.$": "States.Format('page_failed#{}', $.ordinal)"},
                    "error": {"S.$": "$.error.Error"},
                },
            },
            "Retry": [
                {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0}
            ],
            "ResultPath": None,
            "End": True,
        },
    }
    return {
        "Comment": "yomitori batch flow: ids and object keys only in every state",
        "StartAt": "ParseEvent",
        "States": {
            "ParseEvent": {
                "Type": "Pass",
                "Parameters": {
                    "bucket.$": "$.bucket",
                    "manifest_key.$": "$.manifest_key",
                    "batch_id.$": "States.ArrayGetItem(States.StringSplit($.manifest_key, '/'), 0)",
                },
                "Next": "ReadManifestHeader",
            },
            # HEAD only: the manifest's metadata (page count, form id), never its body, whose
            # page names are the scanner's file names (history is kept 90 days).
            "ReadManifestHeader": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:headObject",
                "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.manifest_key"},
                "ResultSelector": {
                    "pages.$": f"States.StringToJson($.Metadata.{batch.META_PAGES})",
                    "form_id.$": f"$.Metadata.{batch.META_FORM}",
                },
                "ResultPath": "$.header",
                "Retry": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "IntervalSeconds": 2,
                        "MaxAttempts": 3,
                        "BackoffRate": 2.0,
                    }
                ],
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "PurgeAfterFailure"}
                ],
                "Next": "KeepIds",
            },
            # Keep only the ids; the pages are mapped over by ordinal (1..n), so no page name
            # is ever in the state. States.ArrayRange makes at most 1,000 (batch.MAX_PAGES).
            "KeepIds": {
                "Type": "Pass",
                "Parameters": {
                    "batch_id.$": "$.batch_id",
                    "bucket.$": "$.bucket",
                    "manifest_key.$": "$.manifest_key",
                    "form_id.$": "$.header.form_id",
                    "ordinals.$": "States.ArrayRange(1, $.header.pages, 1)",
                },
                "Next": "Pages",
            },
            "Pages": {
                "Type": "Map",
                "Label": "Pages",
                "MaxConcurrency": max_concurrency,
                "ItemsPath": "$.ordinals",
                "ItemSelector": {**ids, "form_id.$": "$.form_id", "ordinal.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Ocr",
                    "States": page_states,
                },
                "ResultPath": None,  # per-page outcomes live in S3 and the audit table, not here
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "PurgeAfterFailure"}
                ],
                "Next": "ReviewGate",
            },
            "ReviewGate": _invoke(
                functions["review"],
                {
                    "action": "wait",
                    "task_kind": settings.TASK_KIND_REVIEW,
                    **ids,
                    "task_token.$": "$$.Task.Token",
                },
                wait_for_token=True,
                heartbeat_s=review_heartbeat_s,
                timeout_s=review_timeout_s,
                catch_to="PurgeAfterFailure",
                next_state="Finalize",
            ),
            "Finalize": _invoke(
                functions["finalize"],
                {**ids, "form_id.$": "$.form_id", "encoding": csv_encoding},
                catch_to="PurgeAfterFailure",
                next_state="WaitForDownloadAck",
            ),
            "WaitForDownloadAck": _invoke(
                functions["review"],
                {
                    "action": "wait",
                    "task_kind": settings.TASK_KIND_ACK,
                    **ids,
                    "task_token.$": "$$.Task.Token",
                },
                wait_for_token=True,
                timeout_s=ack_timeout_s,
                catch_to="PurgeAfterFailure",
                next_state="Purge",
            ),
            "Purge": _invoke(functions["purge"], {**ids, "reason": "acknowledged"}, next_state="Done"),
            "Done": {"Type": "Succeed"},
            # Whatever went wrong, the batch's objects are deleted now, not at the lifecycle backstop.
            "PurgeAfterFailure": _invoke(
                functions["purge"],
                {**ids, "reason": "failed"},
                result_path="$.purge",
                next_state="BatchFailed",
            ),
            "BatchFailed": {
                "Type": "Fail",
                "Error": "yomitori.BatchFailed",
                "Cause": "The batch stopped early and was purged; see its audit records.",
            },
        },
    }
