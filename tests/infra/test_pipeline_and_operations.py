"""The batch flow's definition, trigger and operations, on the full stack's template."""

from __future__ import annotations

import json
import re

from yomitori import batch
from yomitori.forms import available_forms, load_form
from yomitori.results import FieldResult

from tests.infra.policy_eval import resolve


def _state_machine(synth) -> dict:
    (sm,) = synth.resources("AWS::StepFunctions::StateMachine").values()
    return sm


def _definition(synth) -> dict:
    """The ASL with tokens replaced by placeholders (``arn:<LogicalId>`` etc.)."""
    props = _state_machine(synth)["Properties"]
    body = props["DefinitionString"]
    text = resolve(body, synth.template) if isinstance(body, dict) else body
    for key, value in props.get("DefinitionSubstitutions", {}).items():
        text = text.replace("${" + key + "}", str(resolve(value, synth.template)))
    return json.loads(text)


def test_standard_state_machine_logs_all_events_and_traces(synth):
    p = _state_machine(synth)["Properties"]
    assert p["StateMachineType"] == "STANDARD"
    assert p["LoggingConfiguration"]["Level"] == "ALL"
    assert p["TracingConfiguration"] == {"Enabled": True}


def _rule(synth, suffix: str) -> dict:
    (rule,) = [
        r
        for r in synth.resources("AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["detail"]["object"]["key"] == [{"suffix": suffix}]
    ]
    return rule


def test_trigger_is_the_manifest_arriving_in_the_intake_bucket(synth):
    rule = _rule(synth, batch.MANIFEST_SUFFIX)
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"]["key"] == [{"suffix": batch.MANIFEST_SUFFIX}]
    (bucket_ref,) = pattern["detail"]["bucket"]["name"]
    assert bucket_ref["Ref"].startswith("StorageIntakeBucket")
    (target,) = rule["Properties"]["Targets"]
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 8
    # the execution input carries the bucket and the manifest key only
    assert set(target["InputTransformer"]["InputPathsMap"].values()) == {
        "$.detail.bucket.name",
        "$.detail.object.key",
    }
    intake = synth.template["Resources"][bucket_ref["Ref"]]
    enabled = intake["Properties"]["NotificationConfiguration"]["EventBridgeConfiguration"]
    assert enabled == {"EventBridgeEnabled": True}


def test_the_download_acknowledgement_reaches_the_review_function(synth):
    rule = _rule(synth, "/" + batch.ACK_NAME)
    (bucket_ref,) = rule["Properties"]["EventPattern"]["detail"]["bucket"]["name"]
    assert bucket_ref["Ref"].startswith("StorageResultsBucket")
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"]["Fn::GetAtt"][0].startswith("FunctionsReview")
    assert "DeadLetterConfig" in target
    # the review function learns the key and S3's authenticated requester, nothing else
    assert set(target["InputTransformer"]["InputPathsMap"].values()) == {
        "$.detail.object.key",
        "$.detail.requester",
    }
    results = synth.template["Resources"][bucket_ref["Ref"]]
    assert results["Properties"]["NotificationConfiguration"]["EventBridgeConfiguration"] == {
        "EventBridgeEnabled": True
    }


def test_one_acknowledgement_path_and_an_agent_policy_without_repeats(synth):
    from support.policy_guard import policy_statements

    statements = policy_statements(synth.template)

    def grants(s):
        acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        res = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        return [(a, json.dumps(r, sort_keys=True)) for a in acts for r in res]

    # Given the synthesized agent policy / Then no grant is there twice (sids unique as well)
    every = [g for s in statements for g in grants(s)]
    assert len(every) == len(set(every))
    assert len({s["Sid"] for s in statements}) == len(statements)
    # and the agent invokes no function: it acknowledges by writing ack.json (one statement) and
    # reviews with its own rights, so it can neither name a reviewer nor acknowledge another way
    assert not [a for a, _ in every if a.startswith("lambda:")]
    acks = [s["Sid"] for s in statements for _, r in grants(s) if batch.ACK_NAME in r]
    assert acks == ["AcknowledgeDownloads"]
    # and the review function is invoked by the flow and the acknowledgement rule only
    review = next(k for k in synth.resources("AWS::Lambda::Function") if k.startswith("FunctionsReview"))
    callers = [
        p["Properties"]["Principal"]
        for p in synth.resources("AWS::Lambda::Permission").values()
        if json.dumps(p["Properties"]["FunctionName"]).count(review)
    ]
    assert callers == ["events.amazonaws.com"]


def test_distributed_map_goes_over_page_ordinals_never_page_names(synth, config):
    states = _definition(synth)["States"]
    # the manifest is only HEADed: its metadata (page count, form), never its body (file names)
    head = states["ReadManifestHeader"]
    assert head["Resource"].endswith(":s3:headObject")
    assert "ordinals.$" in states["KeepIds"]["Parameters"]
    pages = states["Pages"]
    assert pages["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert pages["MaxConcurrency"] == config.max_concurrency
    assert pages["ItemsPath"] == "$.ordinals" and "ItemReader" not in pages
    assert pages["ItemSelector"]["ordinal.$"] == "$$.Map.Item.Value"
    # the Map's results are dropped (null kept in the deployed definition, not stripped)
    assert "ResultPath" in pages and pages["ResultPath"] is None


def test_page_steps_retry_throttling_and_record_failures_instead_of_failing(synth):
    states = _definition(synth)["States"]["Pages"]["ItemProcessor"]["States"]
    for name in ("Ocr", "Validate"):
        retry = states[name]["Retry"][0]
        assert "Lambda.TooManyRequestsException" in retry["ErrorEquals"]
        assert "ThrottlingException" in retry["ErrorEquals"] and retry["BackoffRate"] > 1
        assert states[name]["Catch"][0]["Next"] == "RecordPageFailure"
    record = states["RecordPageFailure"]
    assert record["Resource"].endswith(":dynamodb:putItem") and record.get("End") is True
    assert "Cause" not in json.dumps(record)  # the error name only, never its message


def test_review_gate_and_download_ack_wait_for_callbacks_with_timeouts(synth, config):
    states = _definition(synth)["States"]
    gate = states["ReviewGate"]
    assert gate["Resource"].endswith("lambda:invoke.waitForTaskToken")
    assert gate["HeartbeatSeconds"] == config.review_heartbeat_hours * 3600
    assert gate["TimeoutSeconds"] == config.review_timeout_hours * 3600
    assert gate["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    ack = states["WaitForDownloadAck"]
    assert ack["Resource"].endswith("lambda:invoke.waitForTaskToken")
    assert ack["TimeoutSeconds"] == config.ack_timeout_hours * 3600
    # order: review -> finalize -> ack -> purge, and every failure purges before failing
    assert gate["Next"] == "Finalize" and states["Finalize"]["Next"] == "WaitForDownloadAck"
    assert ack["Next"] == "Purge" and states["Purge"]["Next"] == "Done"
    for name in ("ReadManifestHeader", "Pages", "ReviewGate", "Finalize", "WaitForDownloadAck"):
        assert states[name]["Catch"][0]["Next"] == "PurgeAfterFailure", name
    assert states["PurgeAfterFailure"]["Next"] == "BatchFailed"


def _names_used(definition) -> set[str]:
    """Every JSON key (without ``.$``) and every JSONPath segment in the definition, except
    the manifest's page attributes reached through ``$.page`` (file name, size, hash)."""
    names: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                names.add(k.removesuffix(".$"))
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            for path in re.findall(r"\$\$?((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", node):
                segments = path.strip(".").split(".")
                if segments[0] == "page":
                    segments = segments[:1]
                names.update(segments)

    walk(definition)
    return names


def test_state_payloads_never_name_a_result_field(synth):
    # Given every form's field names and the per-field result attributes
    personal = {f.name for form_id in available_forms() for f in load_form(form_id).fields}
    personal |= set(FieldResult.model_fields) - {"status"}
    assert {"name", "address", "postal_code"} <= personal  # the check is not vacuous
    # When we list every name the state machine moves around / Then none of them is there
    leaked = _names_used(_definition(synth)) & personal
    assert leaked == set()


def test_alarms_notify_an_encrypted_topic(synth):
    ((topic_id, topic),) = synth.resources("AWS::SNS::Topic").items()
    assert "KmsMasterKeyId" in topic["Properties"]
    alarms = synth.resources("AWS::CloudWatch::Alarm").values()
    metrics = {a["Properties"]["MetricName"] for a in alarms}
    assert {"ExecutionsFailed", "ApproximateNumberOfMessagesVisible", "Throttles", "Errors"} <= metrics
    for a in alarms:
        assert a["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    (sub,) = synth.resources("AWS::SNS::Subscription").values()
    assert sub["Properties"]["Protocol"] == "email" and sub["Properties"]["Endpoint"] == "ops@example.jp"


def test_outputs_the_agent_needs(synth):
    outputs = synth.template["Outputs"]
    for name in (
        "IntakeBucketName",
        "ResultsBucketName",
        "StateMachineArn",
        "DataKeyArn",
        "ReviewFunctionName",
        "AgentPolicyArn",
        "S3EndpointDns",
        "LambdaEndpointDns",
        "StsEndpointDns",
        "DynamoDbEndpointDns",
        "InboundResolverEndpointId",
    ):
        assert name in outputs, name


def test_everything_taggable_is_tagged(synth):
    (key,) = synth.resources("AWS::KMS::Key").values()
    tags = {t["Key"]: t["Value"] for t in key["Properties"]["Tags"]}
    assert tags["Project"] == "yomitori" and tags["DataClassification"] == "personal-information"


def test_definition_is_well_formed(synth):
    # Given the definition / Then every StartAt, Next and Catch target exists in its scope,
    # every state is reachable, and every path ends
    def check(scope: dict) -> None:
        states = scope["States"]
        assert scope["StartAt"] in states
        reachable, todo = set(), [scope["StartAt"]]
        while todo:
            name = todo.pop()
            if name in reachable:
                continue
            reachable.add(name)
            state = states[name]
            targets = [state.get("Next")] + [c["Next"] for c in state.get("Catch", [])]
            for target in filter(None, targets):
                assert target in states, (name, target)
                todo.append(target)
            assert state.get("Next") or state.get("End") or state["Type"] in ("Succeed", "Fail"), name
            if "ItemProcessor" in state:
                check(state["ItemProcessor"])
        assert reachable == set(states)

    check(_definition(synth))


def test_finalize_writes_the_csv_in_the_configured_encoding(synth, config):
    # Given the stack's configuration (utf-8-sig unless cdk.json says cp932)
    finalize = _definition(synth)["States"]["Finalize"]["Parameters"]["Payload"]
    # Then the Finalize step passes that encoding, and nothing but ids besides it
    assert finalize["encoding"] == config.csv_encoding
    assert set(finalize) == {"batch_id.$", "form_id.$", "encoding"}
