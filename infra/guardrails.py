"""Optional organisation guardrails, deployed from the AWS Organizations management account
(or a delegated administrator): the Japan-only SCP and the AI services opt-out policy (all
services), attached to the OUs / accounts in ``organization_target_ids``.

The policy documents are plain JSON files in infra/organization/ so an organisation that
manages its policies elsewhere can take them as they are (docs/deploy.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Stack
from aws_cdk import aws_organizations as org
from constructs import Construct

POLICY_DIR = Path(__file__).resolve().parent / "organization"
SCP_FILE = POLICY_DIR / "japan-only-scp.json"
AI_OPT_OUT_FILE = POLICY_DIR / "ai-services-opt-out.json"


def policy_document(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


class OrganizationGuardrails(Stack):
    """Two Organizations policies attached to ``target_ids`` (root r-..., OU ou-..., account id)."""

    def __init__(
        self, scope: Construct, id: str, *, target_ids: list[str], name_prefix: str, **kwargs
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.scp = org.CfnPolicy(
            self,
            "JapanOnly",
            name=f"{name_prefix}-japan-only",
            description="Deny regional calls outside ap-northeast-1 / ap-northeast-3 (My Number residency)",
            type="SERVICE_CONTROL_POLICY",
            content=policy_document(SCP_FILE),
            target_ids=list(target_ids),
        )
        self.ai_opt_out = org.CfnPolicy(
            self,
            "AiServicesOptOut",
            name=f"{name_prefix}-ai-services-opt-out",
            description="Opt out of AWS AI services storing or using content (all services)",
            type="AISERVICES_OPT_OUT_POLICY",
            content=policy_document(AI_OPT_OUT_FILE),
            target_ids=list(target_ids),
        )
