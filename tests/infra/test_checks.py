"""The checks that run on every synth: cdk-nag (AwsSolutions, v3 policy validation) with
zero unacknowledged findings, every acknowledgement specific and matching a real finding;
cfn-lint with zero errors on the synthesized template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import Validations

from tests.infra.conftest import context

PLACEHOLDERS = ("todo", "fixme", "suppress", "not needed", "n/a", "ignore", "placeholder")


def _violations(report: dict | None) -> list[tuple[str, str]]:
    if not report:
        return []
    return [
        (v["ruleName"], c["constructPath"])
        for p in report["pluginReports"]
        for v in p["violations"]
        for c in v["violatingConstructs"]
    ]


def _our_acknowledgements(stack) -> dict[tuple[str, str], str]:
    """(rule id, construct path) -> reason, for the cdk-nag rules we acknowledged."""
    out = {}
    for c in stack.node.find_all():
        for m in c.node.metadata:
            if m.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule, reason in m.data.items():
                    if "AwsSolutions-" in rule:
                        out[(rule.split("::", 1)[1], c.node.path)] = reason
    return out


def test_cdk_nag_has_no_unacknowledged_findings(synth):
    # Given the full stack with AwsSolutionsChecks registered like app.py does
    # Then synth passed validation and no finding was reported (errors or warnings)
    assert synth.error is None, synth.error
    assert _violations(synth.report) == []


def test_every_acknowledgement_is_specific(synth):
    acks = _our_acknowledgements(synth.stack)
    assert len(acks) >= 10
    for (rule, path), reason in acks.items():
        assert len(reason) >= 60, (rule, path, reason)
        assert not any(p in reason.lower() for p in PLACEHOLDERS), (rule, path, reason)


@pytest.fixture(scope="module")
def raw_findings(tmp_path_factory):
    """The same stack without our acknowledgements: what cdk-nag finds on its own."""
    from infra.app import build_app

    outdir = tmp_path_factory.mktemp("raw.out")
    app = build_app(context=context(), outdir=str(outdir), acknowledge=False)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    return _violations(json.loads((outdir / "validation-report.json").read_text()))


def test_each_acknowledgement_answers_a_real_finding_and_sits_on_its_resource(synth, raw_findings):
    # Given the raw findings and our acknowledgements
    acks = _our_acknowledgements(synth.stack)
    # Then every raw finding is covered by an acknowledgement on the resource or its construct ...
    for rule, path in raw_findings:
        assert any(r == rule and (path == p or path.startswith(p + "/")) for r, p in acks), (rule, path)
    # ... and no acknowledgement is stale (each one covers at least one finding)
    for rule, p in acks:
        assert any(r == rule and (path == p or path.startswith(p + "/")) for r, path in raw_findings), (
            rule,
            p,
        )


def test_cfn_lint_reports_no_errors(synth):
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(
        Path(synth.outdir) / "Yomitori.template.json", config=ManualArgs(regions=["ap-northeast-1"])
    )
    errors = [
        f"{m.rule.id} {m.message} ({m.path_string if hasattr(m, 'path_string') else ''})"
        for m in matches
        if m.rule.id.startswith("E")
    ]
    assert errors == []
    assert matches is not None
