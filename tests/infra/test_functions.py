"""Function properties (VPC, roles, logs, tracing, layers, shared names) on the full stack's template."""

from __future__ import annotations

import json

from yomitori import settings

from tests.infra import template as tpl


def test_every_function_is_in_the_vpc_traced_json_logged_with_its_own_role(synth):
    fns = tpl.functions(synth)
    assert len(fns) == len(settings.FUNCTION_NAMES)
    roles = set()
    for fn in fns.values():
        p = fn["Properties"]
        assert p["VpcConfig"]["SubnetIds"] and p["VpcConfig"]["SecurityGroupIds"]
        assert p["TracingConfig"] == {"Mode": "Active"}
        assert p["LoggingConfig"]["LogFormat"] == "JSON"
        assert "LogGroup" in p["LoggingConfig"]
        roles.add(p["Role"]["Fn::GetAtt"][0])
    assert len(roles) == len(fns)
    for role in roles:
        assert "ManagedPolicyArns" not in synth.template["Resources"][role]["Properties"]


def test_explicit_log_groups_with_retention_and_our_key(synth):
    groups = synth.resources("AWS::Logs::LogGroup")
    names = {json.dumps(g["Properties"]["LogGroupName"]) for g in groups.values()}
    for fn in settings.FUNCTION_NAMES:
        assert any(f"/aws/lambda/yomitori-{fn}" in n for n in names)
    for g in groups.values():
        assert g["Properties"]["RetentionInDays"] == 90 and "KmsKeyId" in g["Properties"]


def test_ocr_reserved_concurrency_matches_the_map_concurrency(synth, config):
    ocr = next(v for k, v in tpl.functions(synth).items() if k.startswith("FunctionsOcr"))
    assert ocr["Properties"]["ReservedConcurrentExecutions"] == config.max_concurrency == 7


def test_function_environment_uses_the_shared_names(synth):
    env_keys = {
        k for fn in tpl.functions(synth).values() for k in fn["Properties"]["Environment"]["Variables"]
    }
    for key in (
        settings.ENV_INTAKE_BUCKET,
        settings.ENV_RESULTS_BUCKET,
        settings.ENV_REVIEW_TABLE,
        settings.ENV_AUDIT_TABLE,
        settings.ENV_KMS_KEY_ARN,
        settings.ENV_FORMS_DIR,
        settings.ENV_THRESHOLDS,
    ):
        assert key in env_keys
    variables = next(iter(tpl.functions(synth).values()))["Properties"]["Environment"]["Variables"]
    assert variables[settings.ENV_FORMS_DIR] == settings.LAMBDA_FORMS_DIR
    assert json.loads(variables[settings.ENV_THRESHOLDS])["digits"] == 0.9


def test_no_function_policy_grants_wildcard_s3_or_kms_actions(synth):
    # Least privilege: explicit actions only (no s3:*, s3:GetObject*, kms:ReEncrypt*)
    for name, policy in synth.resources("AWS::IAM::Policy").items():
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]:
            for action in stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]:
                assert not (action.startswith(("s3:", "kms:", "dynamodb:", "lambda:")) and "*" in action), (
                    name,
                    action,
                )


def test_each_function_gets_only_its_layers(synth):
    # Given the layers by description / Then ocr has imaging, validate reference, all base + domain
    layers = {
        k: v["Properties"]["Description"] for k, v in synth.resources("AWS::Lambda::LayerVersion").items()
    }

    def groups(fn_prefix: str) -> set[str]:
        fn = next(v for k, v in tpl.functions(synth).items() if k.startswith(fn_prefix))
        names = set()
        for ref in fn["Properties"]["Layers"]:
            desc = layers[ref["Ref"]]
            names.add("domain" if "domain package" in desc else desc.split(": ")[1].split(" ")[0])
        return names

    assert groups("FunctionsOcr") == {"base", "imaging", "domain"}
    assert groups("FunctionsValidate") == {"base", "reference", "domain"}
    # a submitted correction is validated again: postal codes, banks, phones
    assert groups("FunctionsReview") == {"base", "reference", "domain"}
    for name in ("Finalize", "Purge"):
        assert groups(f"Functions{name}") == {"base", "domain"}
