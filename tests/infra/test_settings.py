"""yomitori.settings is usable without CDK: its table specs and bucket-policy builder produce
what boto3 accepts, so the local moto mode builds the same tables and policies as the stack."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from yomitori import settings


@pytest.fixture
def aws(monkeypatch):
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
    }.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        yield


def test_every_table_spec_creates_a_table_with_its_ttl(aws):
    ddb = boto3.client("dynamodb")
    for spec in settings.TABLES:
        # Given the spec / When the local mode creates the table from it
        ddb.create_table(**spec.create_table_kwargs(f"t-{spec.role}"))
        if (ttl := spec.ttl_kwargs(f"t-{spec.role}")) is not None:
            ddb.update_time_to_live(**ttl)
        # Then the key schema and TTL are the ones the stack declares
        desc = ddb.describe_table(TableName=f"t-{spec.role}")["Table"]
        assert [k["AttributeName"] for k in desc["KeySchema"]] == [
            k for k in (spec.partition_key, spec.sort_key) if k
        ]
        status = ddb.describe_time_to_live(TableName=f"t-{spec.role}")["TimeToLiveDescription"]
        assert (
            (status.get("AttributeName") == spec.ttl_attribute)
            if spec.ttl_attribute
            else (status["TimeToLiveStatus"] == "DISABLED")
        )


def test_bucket_policy_builder_output_is_a_valid_bucket_policy(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="intake", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
    statements = settings.bucket_policy_statements(
        "arn:aws:s3:::intake",
        vpc_endpoint_ids=["vpce-1"],
        client_cidrs=["10.0.10.15/32"],
        service_cidrs=["10.20.0.0/22"],
        kms_key_arn="arn:aws:kms:ap-northeast-1:123456789012:key/k",
        exempt_principal_arns=["arn:aws:iam::123456789012:role/deploy"],
    )
    s3.put_bucket_policy(
        Bucket="intake", Policy=json.dumps({"Version": "2012-10-17", "Statement": statements})
    )
    stored = json.loads(s3.get_bucket_policy(Bucket="intake")["Policy"])
    assert {s["Sid"] for s in stored["Statement"]} == {
        "DenyOutsideVpcEndpoints",
        "DenyBucketOutsideVpcEndpoints",
        "DenyClientsOutsideAllowList",
        "DenyInsecureTransport",
        "DenyTlsBelow12",
        "DenyPutWithoutOurKey",
        "DenyPutWithoutSseKms",
    }


def test_bucket_policy_builder_rejects_a_bad_cidr():
    with pytest.raises(ValueError):
        settings.bucket_policy_statements(
            "arn:aws:s3:::b",
            vpc_endpoint_ids=["v"],
            client_cidrs=["10.0.0.1/8"],
            service_cidrs=[],
            kms_key_arn="k",
        )


def test_residency_check_refuses_and_passes():
    settings.check_residency("textract", "ap-northeast-1", settings.DEFAULT_ALLOWED_REGIONS)
    settings.check_residency("tesseract", "us-east-1", settings.DEFAULT_ALLOWED_REGIONS)  # nothing leaves
    settings.check_residency("textract", "us-east-1", settings.DEFAULT_ALLOWED_REGIONS, override=True)
    with pytest.raises(settings.ResidencyError, match="outside the data-residency list"):
        settings.check_residency("textract", "us-east-1", settings.DEFAULT_ALLOWED_REGIONS)


@pytest.mark.parametrize("value,honoured", [("true", True), ("false", False), ("", False), ("yes", False)])
def test_functions_honour_the_stacks_residency_override(monkeypatch, value, honoured):
    # Given the environment the stack writes for the functions (the same override as synth)
    from yomitori.ocr.textract import TextractEngine
    from yomitori.steps import config

    env = {
        settings.ENV_INTAKE_BUCKET: "intake",
        settings.ENV_RESULTS_BUCKET: "results",
        settings.ENV_KMS_KEY_ARN: "arn:aws:kms:ap-northeast-1:123456789012:key/k",
        settings.ENV_REVIEW_TABLE: "review",
        settings.ENV_AUDIT_TABLE: "audit",
        settings.ENV_OCR_ENGINE: "textract",
        settings.ENV_OCR_REGION: "us-east-1",
        settings.ENV_ALLOWED_REGIONS: "ap-northeast-1",
        settings.ENV_RESIDENCY_OVERRIDE: value,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    config.get_settings.cache_clear()
    try:
        s = config.get_settings()
        assert s.residency_override is honoured
        # When the ocr function's engine is built / Then it refuses unless the override is on
        if honoured:
            assert TextractEngine(client=object()).region == "us-east-1"
        else:
            with pytest.raises(settings.ResidencyError):
                TextractEngine(client=object())
    finally:
        config.get_settings.cache_clear()
