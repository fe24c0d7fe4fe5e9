"""The optional organisation guardrails: the Japan-only SCP (evaluated with the project's
policy evaluator) and the AI services opt-out policy, as files and as the optional stack."""

from __future__ import annotations

import json

import pytest

from infra.config import ConfigError, load_config
from infra.guardrails import AI_OPT_OUT_FILE, SCP_FILE, policy_document
from tests.infra.conftest import context
from tests.infra.policy_eval import denied

ADMIN = "arn:aws:iam::111122223333:role/OrganizationAccountAccessRole"
SOMEONE = "arn:aws:iam::111122223333:role/yomitori-ocr"


def _ctx(region: str, principal: str = SOMEONE) -> dict:
    return {"aws:RequestedRegion": region, "aws:PrincipalArn": principal}


@pytest.mark.parametrize("action", ["s3:PutObject", "textract:DetectDocumentText", "lambda:InvokeFunction",
                                    "kms:Decrypt", "bedrock:InvokeModel", "comprehend:DetectPiiEntities"])
def test_the_scp_denies_regional_services_outside_japan(action):
    statements = policy_document(SCP_FILE)["Statement"]
    # Given a member account's principal / When it calls a regional service outside Japan / Then denied
    for region in ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"):
        assert denied(statements, action, "*", _ctx(region)) == ["DenyOutsideJapan"], (action, region)
    # and in Tokyo and Osaka it is not
    for region in ("ap-northeast-1", "ap-northeast-3"):
        assert denied(statements, action, "*", _ctx(region)) == []


def test_the_scp_leaves_global_services_and_the_break_glass_role():
    statements = policy_document(SCP_FILE)["Statement"]
    # Given global services (their calls name us-east-1) / Then they still work from Japan
    for action in ("iam:CreateRole", "sts:AssumeRole", "organizations:DescribeEffectivePolicy",
                   "support:DescribeCases", "route53:ChangeResourceRecordSets"):
        assert denied(statements, action, "*", _ctx("us-east-1")) == [], action
    # and the organisation's break-glass role is not locked out
    assert denied(statements, "s3:PutObject", "*", _ctx("us-east-1", ADMIN)) == []


def test_the_ai_opt_out_policy_opts_every_service_out_and_children_cannot_undo_it():
    doc = policy_document(AI_OPT_OUT_FILE)["services"]
    assert doc["default"]["opt_out_policy"]["@@assign"] == "optOut"
    for level in (doc, doc["default"], doc["default"]["opt_out_policy"]):
        assert level["@@operators_allowed_for_child_policies"] == ["@@none"]


def test_the_guardrails_stack_attaches_both_policies_to_the_targets():
    from aws_cdk import App, Environment
    from aws_cdk.assertions import Template

    from infra.guardrails import OrganizationGuardrails

    app = App()
    stack = OrganizationGuardrails(app, "G", target_ids=["ou-ab12-cdefgh34"], name_prefix="yomitori",
                                   env=Environment(region="us-east-1"))
    policies = Template.from_stack(stack).find_resources("AWS::Organizations::Policy")
    by_type = {p["Properties"]["Type"]: p["Properties"] for p in policies.values()}
    assert set(by_type) == {"SERVICE_CONTROL_POLICY", "AISERVICES_OPT_OUT_POLICY"}
    for props in by_type.values():
        assert props["TargetIds"] == ["ou-ab12-cdefgh34"]
    content = by_type["SERVICE_CONTROL_POLICY"]["Content"]
    assert (json.loads(content) if isinstance(content, str) else content) == policy_document(SCP_FILE)


def test_organization_targets_are_validated():
    assert load_config(context(organization_target_ids=["r-ab12", "123456789012"])).organization_target_ids
    with pytest.raises(ConfigError, match="organization_target_ids"):
        load_config(context(organization_target_ids=["my-ou"]))
