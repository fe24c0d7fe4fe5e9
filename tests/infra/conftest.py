"""Infra test fixtures: the full stack is synthesized ONCE per session (jsii is slow on two
cores) with a fixed config and account, so no context lookup ever needs AWS credentials."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ACCOUNT = "123456789012"
REGION = "ap-northeast-1"
VPC_CIDR = "10.20.0.0/22"
ON_PREM = ["10.0.0.0/16"]
CLIENTS = ["10.0.10.15/32", "10.0.10.16/32"]

TEST_CONTEXT = {
    "account": ACCOUNT,
    "region": REGION,
    "vpc_cidr": VPC_CIDR,
    "on_prem_cidrs": ON_PREM,
    "client_cidrs": CLIENTS,
    # the AWS-managed prefix lists of the gateway endpoints in ap-northeast-1
    "s3_prefix_list_id": "pl-61a54008",
    "dynamodb_prefix_list_id": "pl-78a54011",
    "direct_connect": {"dx_gateway_id": "5f2a3c1e-1111-2222-3333-444455556666"},
    "review_thresholds": {"digits": 0.9},
    "retention_days": 1,
    "alarm_email": "ops@example.jp",
    "max_concurrency": 7,
    # who may assume each job role (infra/people.py): IAM users, and an Identity Center permission set
    "people": {
        "reviewer": [f"arn:aws:iam::{ACCOUNT}:user/sato"],
        "number-viewer": [f"arn:aws:iam::{ACCOUNT}:user/suzuki",
                          f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/ap-northeast-1/"
                          "AWSReservedSSO_yomitori-number-viewer_*"],
        "verifier": [f"arn:aws:iam::{ACCOUNT}:user/tanaka"],
        "supervisor": [f"arn:aws:iam::{ACCOUNT}:user/kato"],
        "operator": [f"arn:aws:iam::{ACCOUNT}:user/ops"],
    },
    # never the built layers (hundreds of MiB to hash and copy): placeholders keep synth fast
    "third_party_layers_dir": "build/no-layers-in-tests",
}


def context(**overrides) -> dict:
    """The test config with some keys replaced (None removes a key)."""
    out = {**TEST_CONTEXT, **overrides}
    return {k: v for k, v in out.items() if v is not None}


@dataclass
class Synth:
    template: dict
    report: dict | None  # cdk's validation-report.json (None when no plugin reported anything)
    error: str | None  # the synth error, if validation failed
    outdir: Path
    stack: object

    def resources(self, type_: str) -> dict[str, dict]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}


def synthesize(outdir: Path, **overrides) -> Synth:
    """The full stack with the test config (``overrides`` replace keys), cdk-nag registered
    as app.py does; a validation failure is kept in ``error``, not raised."""
    from infra.app import build_app

    app = build_app(context=context(**overrides), outdir=str(outdir))
    stack = app.node.find_child(app.node.children[0].node.id)
    error = None
    try:
        app.synth()
    except RuntimeError as e:  # cdk-nag or CloudFormation validation failed
        error = str(e)
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    template = json.loads((outdir / "Yomitori.template.json").read_text())
    return Synth(template=template, report=report, error=error, outdir=outdir, stack=stack)


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synth:
    """The full stack as configured by default (ocr_engine ppocr), synthesized once."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def config():
    from infra.config import load_config

    return load_config(context())
