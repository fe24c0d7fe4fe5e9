"""Storage security properties on the full stack's template. Bucket policies are evaluated
against requests (tests/infra/policy_eval.py), not string-matched."""

from __future__ import annotations

import ipaddress
import json

import pytest
from yomitori import settings

from tests.infra import template as tpl
from tests.infra.conftest import CLIENTS, VPC_CIDR
from tests.infra.policy_eval import denied


def test_key_rotation_on(synth):
    (key,) = synth.resources("AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True


@pytest.mark.parametrize("role", ["intake", "results"])
def test_data_buckets_sse_kms_private_owner_enforced_and_expiring(synth, role):
    bucket_id = tpl.bucket_ids(synth)[role]
    props = synth.template["Resources"][bucket_id]["Properties"]
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] == "aws:kms" and "KMSMasterKeyID" in sse
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 1 and rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert "VersioningConfiguration" not in props  # purge's delete is final
    logging = props["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": tpl.bucket_ids(synth)["log"]}


@pytest.mark.parametrize("role", ["intake", "results"])
def test_bucket_policy_admits_functions_and_clients_through_our_endpoints(synth, role):
    bucket = tpl.bucket_ids(synth)[role]
    stmts = tpl.policy_of(synth, bucket)
    obj = f"arn:{bucket}/b-001/pages/p.png"
    _, iface = tpl.endpoint_ids(synth)
    # a function through the gateway endpoint
    assert denied(stmts, "s3:GetObject", obj, tpl.ctx(synth)) == []
    assert denied(stmts, "s3:PutObject", obj, tpl.ctx(synth)) == []
    # an allow-listed terminal through the interface endpoint
    assert (
        denied(
            stmts,
            "s3:PutObject",
            obj,
            tpl.ctx(synth, **{"aws:SourceVpce": iface, "aws:VpcSourceIp": "10.0.10.15"}),
        )
        == []
    )


@pytest.mark.parametrize("role", ["intake", "results"])
def test_bucket_policy_denies_outside_our_vpc_endpoints(synth, role):
    bucket = tpl.bucket_ids(synth)[role]
    stmts = tpl.policy_of(synth, bucket)
    obj = f"arn:{bucket}/b-001/pages/p.png"
    # another VPC endpoint, and the public internet (no aws:SourceVpce at all)
    assert "DenyOutsideVpcEndpoints" in denied(
        stmts, "s3:GetObject", obj, tpl.ctx(synth, **{"aws:SourceVpce": "vpce-other"})
    )
    assert "DenyOutsideVpcEndpoints" in denied(
        stmts, "s3:GetObject", obj, tpl.ctx(synth, **{"aws:SourceVpce": None, "aws:VpcSourceIp": None})
    )


@pytest.mark.parametrize("role", ["intake", "results"])
def test_bucket_policy_exempts_only_the_deploy_role_and_the_state_machine(synth, role):
    # Given calls that do not come through the VPC (CloudFormation; the Distributed Map's reader)
    bucket = tpl.bucket_ids(synth)[role]
    stmts = tpl.policy_of(synth, bucket)
    outside = {"aws:SourceVpce": None, "aws:VpcSourceIp": None}
    deploy = "arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-ap-northeast-1"
    sm_role = next(k for k in synth.resources("AWS::IAM::Role") if k.startswith("PipelineBatchFlowRole"))
    assert (
        denied(
            stmts,
            "s3:PutBucketPolicy",
            f"arn:{bucket}",
            tpl.ctx(synth, **outside, **{"aws:PrincipalArn": deploy}),
        )
        == []
    )
    assert (
        denied(
            stmts,
            "s3:GetObject",
            f"arn:{bucket}/b/manifest.json",
            tpl.ctx(synth, **outside, **{"aws:PrincipalArn": f"arn:{sm_role}"}),
        )
        == []
    )
    # and the deploy role configures the bucket but cannot touch an object from outside
    # (whoever may deploy does not get past the perimeter to the pages and results)
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert "DenyOutsideVpcEndpoints" in denied(
            stmts, action, f"arn:{bucket}/b/pages/p.png",
            tpl.ctx(synth, **outside, **{"aws:PrincipalArn": deploy}),
        ), action
    # an administrator of the account from outside is still denied
    admin = "arn:aws:iam::123456789012:role/Admin"
    assert denied(
        stmts, "s3:GetObject", f"arn:{bucket}/b/x", tpl.ctx(synth, **outside, **{"aws:PrincipalArn": admin})
    )


@pytest.mark.parametrize("role", ["intake", "results"])
def test_bucket_policy_denies_clients_outside_the_allow_list(synth, role):
    bucket = tpl.bucket_ids(synth)[role]
    stmts = tpl.policy_of(synth, bucket)
    _, iface = tpl.endpoint_ids(synth)
    ctx = tpl.ctx(
        synth, **{"aws:SourceVpce": iface, "aws:VpcSourceIp": "10.0.99.1"}
    )  # an office PC not listed
    assert "DenyClientsOutsideAllowList" in denied(stmts, "s3:GetObject", f"arn:{bucket}/b/x", ctx)
    # the statement uses aws:VpcSourceIp (aws:SourceIp is absent on endpoint traffic)
    assert "aws:SourceIp" not in json.dumps(stmts)


@pytest.mark.parametrize("role", ["intake", "results"])
def test_bucket_policy_denies_old_tls_and_plain_http(synth, role):
    bucket = tpl.bucket_ids(synth)[role]
    stmts = tpl.policy_of(synth, bucket)
    assert "DenyTlsBelow12" in denied(
        stmts, "s3:GetObject", f"arn:{bucket}/b/x", tpl.ctx(synth, **{"s3:TlsVersion": "1.1"})
    )
    assert "DenyInsecureTransport" in denied(
        stmts, "s3:GetObject", f"arn:{bucket}/b/x", tpl.ctx(synth, **{"aws:SecureTransport": "false"})
    )


@pytest.mark.parametrize("role", ["intake", "results"])
def test_bucket_policy_denies_puts_without_sse_kms_and_our_key(synth, role):
    bucket = tpl.bucket_ids(synth)[role]
    stmts = tpl.policy_of(synth, bucket)
    obj = f"arn:{bucket}/b/x"
    no_sse = tpl.ctx(
        synth,
        **{"s3:x-amz-server-side-encryption": None, "s3:x-amz-server-side-encryption-aws-kms-key-id": None},
    )
    assert "DenyPutWithoutSseKms" in denied(stmts, "s3:PutObject", obj, no_sse)
    assert "DenyPutWithoutSseKms" in denied(
        stmts, "s3:PutObject", obj, tpl.ctx(synth, **{"s3:x-amz-server-side-encryption": "AES256"})
    )
    other_key = tpl.ctx(
        synth, **{"s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:ap-northeast-1:1:key/x"}
    )
    assert "DenyPutWithoutOurKey" in denied(stmts, "s3:PutObject", obj, other_key)


def test_log_bucket_is_separate_private_and_tls_only(synth):
    log = tpl.bucket_ids(synth)["log"]
    props = synth.template["Resources"][log]["Properties"]
    assert props["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    stmts = tpl.policy_of(synth, log)
    assert denied(stmts, "s3:GetObject", f"arn:{log}/x", {"aws:SecureTransport": "false"})


def test_tables_encrypted_with_our_key_and_transient_ones_expire(synth):
    tables = synth.resources("AWS::DynamoDB::Table")
    assert len(tables) == len(settings.TABLES)
    by_key = {}
    for t in tables.values():
        p = t["Properties"]
        assert p["SSESpecification"]["SSEEnabled"] is True and p["SSESpecification"]["SSEType"] == "KMS"
        assert "KMSMasterKeyId" in p["SSESpecification"]
        by_key[tuple(k["AttributeName"] for k in p["KeySchema"])] = p
    for spec in settings.TABLES:
        keys = (spec.partition_key,) + ((spec.sort_key,) if spec.sort_key else ())
        p = by_key[keys]
        if spec.ttl_attribute:
            assert p["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in p


def test_cloudtrail_records_data_events_of_both_buckets(synth):
    (trail,) = synth.resources("AWS::CloudTrail::Trail").values()
    selectors = trail["Properties"]["EventSelectors"]
    values = json.dumps([r for s in selectors for r in s["DataResources"]])
    ids = tpl.bucket_ids(synth)
    assert ids["intake"] in values and ids["results"] in values
    assert all(s["ReadWriteType"] == "All" for s in selectors)
    assert trail["Properties"]["EnableLogFileValidation"] is True


def test_ip_ranges_in_policies_are_exactly_the_allow_list_and_the_vpc(synth):
    stmts = tpl.policy_of(synth, tpl.bucket_ids(synth)["intake"])
    (stmt,) = [s for s in stmts if s["Sid"] == "DenyClientsOutsideAllowList"]
    nets = [ipaddress.ip_network(c) for c in stmt["Condition"]["NotIpAddress"]["aws:VpcSourceIp"]]
    assert sorted(map(str, nets)) == sorted([*CLIENTS, VPC_CIDR])


def test_services_that_write_logs_can_use_the_key_and_the_log_bucket(synth):
    # Given the key policy / Then CloudTrail, CloudWatch Logs, alarms and the DLQ may use the
    # key, each limited to this account
    (key,) = synth.resources("AWS::KMS::Key").values()
    statements = {s.get("Sid"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    for sid in ("CloudTrailLogFiles", "CloudWatchLogsOfThisAccount", "CloudWatchAlarms", "EventBridgeDlq"):
        assert sid in statements and statements[sid]["Condition"], sid
    # and VPC flow logs of all traffic go to the audit bucket, whose policy admits their delivery
    (flow,) = synth.resources("AWS::EC2::FlowLog").values()
    assert flow["Properties"]["TrafficType"] == "ALL" and flow["Properties"]["LogDestinationType"] == "s3"
    log_policy = tpl.policy_of(synth, tpl.bucket_ids(synth)["audit"])
    write = next(s for s in log_policy if s.get("Sid") == "FlowLogDeliveryWrite")
    assert write["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
