"""Build the CDK app (used by app.py and the tests)."""

from __future__ import annotations

import json
from pathlib import Path

import cdk_nag
from aws_cdk import App, Environment, Validations

from infra.config import CONTEXT_KEY, load_config
from infra.stack import YomitoriStack

# Server access logs through a bucket policy, not the LogDeliveryWrite ACL (ACLs are off).
FEATURE_FLAGS = {
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
}
CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"


def build_app(*, context: dict | None = None, outdir: str | None = None, acknowledge: bool = True) -> App:
    """An App with the yomitori stack and cdk-nag registered. ``context`` (tests) replaces
    the ``yomitori`` object of cdk.json; raises ConfigError for a bad configuration.
    ``acknowledge=False`` leaves out the cdk-nag acknowledgements (to list the raw findings)."""
    app = App(outdir=outdir, context=dict(FEATURE_FLAGS)) if outdir else App(context=dict(FEATURE_FLAGS))
    raw = context if context is not None else app.node.try_get_context(CONTEXT_KEY)
    if raw is None and CDK_JSON.is_file():
        # `python app.py` without the CDK CLI: the CLI would have passed cdk.json's context.
        raw = json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {}).get(CONTEXT_KEY)
    config = load_config(raw)
    if config.account:
        # The VPC checks its AZs against the stack's, which for a stack with an account the CDK
        # CLI would look up in that account (credentials needed). They are configuration here:
        # answer the lookup from the config, so synth stays offline with `account` set.
        app.node.set_context(f"availability-zones:account={config.account}:region={config.region}",
                             list(config.azs))
    YomitoriStack(
        app,
        config.stack_name,
        config=config,
        acknowledge=acknowledge,
        env=Environment(account=config.account, region=config.region),
        description="yomitori: Japanese paper forms to checked data (isolated VPC, Direct Connect only)",
    )
    if config.organization_target_ids:
        from infra.guardrails import OrganizationGuardrails

        OrganizationGuardrails(
            app,
            f"{config.stack_name}OrganizationGuardrails",
            target_ids=config.organization_target_ids,
            name_prefix=config.name_prefix,
            env=Environment(region="us-east-1"),  # Organizations is a global service homed there
            description="yomitori: organisation guardrails (Japan-only SCP, AI services opt-out)",
        )
    Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app))
    return app
