"""Each construct alone in a bare stack (no other yomitori construct), so a construct's
contract does not depend on how the stack happens to wire it."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Match, Template

from infra.app import FEATURE_FLAGS
from infra.config import load_config
from tests.infra.conftest import context


def _bare() -> Stack:
    # the app's feature flags (server access logs through a bucket policy, not an ACL)
    return Stack(
        App(context=dict(FEATURE_FLAGS)),
        "Bare",
        env=Environment(account="123456789012", region="ap-northeast-1"),
    )


def test_network_alone_with_tesseract_and_an_existing_vgw():
    from infra.network import Network

    # Given Tesseract (runs in the function) and an existing virtual private gateway
    cfg = load_config(
        context(
            ocr_engine="tesseract",
            direct_connect={"vpn_gateway_id": "vgw-0123456789abcdef0"},
            s3_prefix_list_id="pl-61a54008",
            dynamodb_prefix_list_id="pl-78a54011",
        )
    )
    stack = _bare()
    Network(stack, "Net", config=cfg)
    t = Template.from_stack(stack)
    # Then no Textract endpoint, the given VGW is attached (no new one), no IGW/NAT
    assert "textract" not in json.dumps(t.find_resources("AWS::EC2::VPCEndpoint"))
    t.resource_count_is("AWS::EC2::VPNGateway", 0)
    t.has_resource_properties("AWS::EC2::VPCGatewayAttachment", {"VpnGatewayId": "vgw-0123456789abcdef0"})
    t.resource_count_is("AWS::EC2::InternetGateway", 0)
    t.resource_count_is("AWS::EC2::NatGateway", 0)
    # and with the prefix lists configured, function egress is 443 to them only
    egress = t.find_resources("AWS::EC2::SecurityGroupEgress")
    lambda_sg = next(
        iter(
            t.find_resources(
                "AWS::EC2::SecurityGroup",
                {"Properties": {"GroupDescription": Match.string_like_regexp("yomitori functions")}},
            )
        )
    )
    rules = [r["Properties"] for r in egress.values()] + t.to_json()["Resources"][lambda_sg][
        "Properties"
    ].get("SecurityGroupEgress", [])
    prefix_lists = {r.get("DestinationPrefixListId") for r in rules if "DestinationPrefixListId" in r}
    assert prefix_lists == {"pl-61a54008", "pl-78a54011"}
    assert not any(r.get("CidrIp") == "0.0.0.0/0" for r in rules)


def test_network_alone_textract_in_another_region_uses_a_cross_region_endpoint():
    from infra.network import Network

    cfg = load_config(
        context(ocr_engine="textract", ocr_region="us-east-1", allow_region_outside_residency=True)
    )
    stack = _bare()
    Network(stack, "Net", config=cfg)
    Template.from_stack(stack).has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {"ServiceName": Match.string_like_regexp("textract"), "ServiceRegion": "us-east-1"},
    )


def test_storage_alone_restricted_to_given_endpoints():
    from infra.storage import Storage

    stack = _bare()
    storage = Storage(stack, "Storage", config=load_config(context()))
    storage.restrict_to_network(
        vpc_endpoint_ids=["vpce-gw", "vpce-if"],
        client_cidrs=["10.0.10.15/32"],
        service_cidrs=["10.20.0.0/22"],
        exempt_principal_arns=["arn:aws:iam::1:role/deploy"],
    )
    t = Template.from_stack(stack)
    policies = [json.dumps(p) for p in t.find_resources("AWS::S3::BucketPolicy").values()]
    with_vpce = [p for p in policies if "vpce-gw" in p]
    assert len(with_vpce) == 2  # intake and results, not the log bucket
    assert all("arn:aws:iam::1:role/deploy" in p and "10.0.10.15/32" in p for p in with_vpce)
    t.resource_count_is("AWS::DynamoDB::Table", 4)
    t.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_functions_alone_build_vpc_functions_with_layers():
    from infra.functions import PythonFunctions, stage_domain_layer

    stack = _bare()
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        availability_zones=["ap-northeast-1a", "ap-northeast-1c"],
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="i", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )
    sg = ec2.SecurityGroup(stack, "Sg", vpc=vpc)
    fns = PythonFunctions(
        stack,
        "Fns",
        config=load_config(context()),
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        security_group=sg,
        key=kms.Key(stack, "K"),
        environment={"EXTRA": "1"},
    )
    fns.add("purge", description="test", reserved_concurrency=2)
    t = Template.from_stack(stack)
    # domain + base, imaging, reference + the default engine's: ppocr, models (no textract)
    t.resource_count_is("AWS::Lambda::LayerVersion", 6)
    assert set(fns.third_party_layers) == {"base", "imaging", "reference", "ppocr", "models"}
    t.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "handler.handler",
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "ReservedConcurrentExecutions": 2,
            "TracingConfig": {"Mode": "Active"},
            "VpcConfig": Match.object_like({"SubnetIds": Match.any_value()}),
            "Environment": {
                "Variables": Match.object_like({"EXTRA": "1", "YOMITORI_FORMS_DIR": "/opt/forms"})
            },
        },
    )
    # the staged domain layer carries the package, every form definition and the reference
    # images (blank scans) of the registered existing forms
    staged = stage_domain_layer()
    assert (staged / "python" / "yomitori" / "settings.py").is_file()
    for pattern in ("*.yaml", "*.png"):
        assert sorted(p.name for p in (staged / "forms").glob(pattern)) == sorted(
            p.name for p in (staged.parents[2] / "forms").glob(pattern)
        )
    assert (staged / "forms" / "water_city.png").is_file()


def test_pipeline_alone_wires_trigger_map_and_dlq():
    from infra.pipeline import Pipeline

    stack = _bare()
    key = kms.Key(stack, "K")
    fns = {
        n: lambda_.Function(
            stack,
            n,
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="index.h",
            code=lambda_.Code.from_inline("def h(e, c): return e"),
        )
        for n in ("ocr", "validate", "review", "finalize", "purge")
    }
    table = ddb.Table(
        stack, "Audit", partition_key=ddb.Attribute(name="batch_id", type=ddb.AttributeType.STRING)
    )
    Pipeline(
        stack,
        "Pipe",
        config=load_config(context()),
        intake=s3.Bucket(stack, "Intake"),
        results=s3.Bucket(stack, "Results"),
        audit_table=table,
        functions=fns,
        key=key,
    )
    t = Template.from_stack(stack)
    # history encrypted with the stack's key (customer managed), not AWS-owned keys
    t.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": "yomitori-batch",
            "StateMachineType": "STANDARD",
            "EncryptionConfiguration": Match.object_like(
                {"Type": "CUSTOMER_MANAGED_KMS_KEY", "KmsKeyId": Match.any_value()}
            ),
        },
    )
    # two rules: the manifest starts the flow; the download's ack.json reaches the review function
    rules = t.find_resources("AWS::Events::Rule")
    suffixes = sorted(
        r["Properties"]["EventPattern"]["detail"]["object"]["key"][0]["suffix"] for r in rules.values()
    )
    assert suffixes == ["/ack.json", "/manifest.json"]
    t.has_resource_properties("AWS::SQS::Queue", {"KmsMasterKeyId": Match.any_value()})


def test_operations_alone_alarm_on_each_function():
    from infra.operations import Operations

    stack = _bare()
    fn = lambda_.Function(
        stack,
        "F",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.h",
        code=lambda_.Code.from_inline("def h(e, c): return e"),
    )
    sm = sfn.StateMachine(
        stack, "Sm", definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "P"))
    )
    Operations(
        stack,
        "Ops",
        config=load_config(context(alarm_email=None)),
        key=kms.Key(stack, "K"),
        state_machine=sm,
        dlq=sqs.Queue(stack, "Q"),
        functions={"ocr": fn},
    )
    t = Template.from_stack(stack)
    t.resource_count_is("AWS::CloudWatch::Alarm", 5 + 2)
    t.resource_count_is("AWS::SNS::Subscription", 0)  # no e-mail configured, none subscribed


def test_missing_third_party_layer_fails_when_required(tmp_path):
    import infra.functions as f

    # Given no built layer and a config that requires it / Then synth stops with what to run
    with pytest.raises(RuntimeError, match="run `.venv/bin/python layers/build.py`"):
        f.third_party_layer_dir("base", built_dir=tmp_path, required=True)
    # and without the requirement an empty placeholder is used (offline synth)
    path, built = f.third_party_layer_dir("base", built_dir=tmp_path, required=False)
    assert not built and (path / "python").is_dir()
    # and a built layer is used as it is
    (tmp_path / "imaging" / "python").mkdir(parents=True)
    assert f.third_party_layer_dir("imaging", built_dir=tmp_path, required=True) == (
        tmp_path / "imaging",
        True,
    )


def test_layer_build_targets_the_functions_runtime_and_architecture():
    import importlib.util

    import infra.functions as f

    spec = importlib.util.spec_from_file_location("layer_build", f.REPO / "layers" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert f.RUNTIME.name == f"python{build.PYTHON_VERSION}"
    arch = {"arm64": "aarch64", "x86_64": "x86_64"}[f.ARCHITECTURE.name]
    assert all(p.endswith(arch) for p in build.PLATFORMS)
    assert set(build.GROUPS) == set(f.THIRD_PARTY_GROUPS)
    assert all((f.REPO / "layers" / "requirements" / f"{g}.txt").is_file() for g in build.GROUPS)
