"""One IAM role per job, assumed per person with their own session name, each with only what
its job needs (infra/people.py), judged with the project's policy evaluator."""

from __future__ import annotations

import json

import pytest
from support.policy_guard import Deployment, endpoint_id, policy_statements, resolve
from yomitori import settings
from yomitori.principals import default_job_roles

from tests.infra.conftest import ACCOUNT
from tests.infra.policy_eval import statement_matches

JOBS = ("reviewer", "number-viewer", "verifier", "supervisor", "operator")
SM = "arn:aws:states:ap-northeast-1:123456789012:stateMachine:yomitori-batch"
OURS, THEIRS = "city-a-20260401-091500-3fa2c1", "city-b-20260401-091500-3fa2c1"  # two offices' batches
DOC = f"arn:aws:s3:::results/{OURS}/documents/d1.json"
PAGE = f"arn:aws:s3:::intake/{OURS}/pages/p1.jpg"
AUDIT = f"arn:aws:dynamodb:ap-northeast-1:{ACCOUNT}:table/audit"
REVIEW = f"arn:aws:dynamodb:ap-northeast-1:{ACCOUNT}:table/review_tasks"


def _statements(synth, prefix: str) -> list[dict]:
    names = Deployment(
        intake="intake",
        results="results",
        tables={t.role: t.role for t in settings.TABLES},
        key_arn="arn:aws:kms:ap-northeast-1:123456789012:key/k",
        state_machine_arn=SM,
    )
    return resolve(policy_statements(synth.template, prefix), names.binding(synth.template))


def _allowed(statements, action, resource, ctx) -> bool:
    if any(s["Effect"] == "Deny" and statement_matches(s, action, resource, ctx) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and statement_matches(s, action, resource, ctx) for s in statements)


def _office(service: str, ip: str = "10.0.10.15") -> dict:
    """A person of office city-a (their session's yomitori-client tag) at an office terminal."""
    return {
        "aws:RequestedRegion": "ap-northeast-1",
        "aws:VpcSourceIp": ip,
        "aws:SourceVpce": endpoint_id(service),
        "aws:SecureTransport": "true",
        "aws:PrincipalTag/yomitori-client": "city-a",
        **({"dynamodb:LeadingKeys": [OURS]} if service == "dynamodb" else {}),
    }


def _may(trust: list[dict], action: str, ctx: dict) -> bool:
    """The role's trust policy (resource-less) judged by the same evaluator."""
    return _allowed([{**s, "Resource": "*"} for s in trust], action, "*", ctx)


def _roles(synth) -> dict[str, dict]:
    return {
        r["Properties"]["RoleName"]: r
        for r in synth.resources("AWS::IAM::Role").values()
        if str(r["Properties"].get("RoleName", "")).startswith("yomitori-")
    }


def test_one_role_per_job_assumable_only_by_its_people_with_their_own_name(synth):
    # Given the stack with people configured for every job
    roles = _roles(synth)
    # Then there is one role per job, named as the agent expects (yomitori.principals)
    assert sorted(roles) == sorted(f"yomitori-{j}" for j in JOBS)
    assert set(roles) <= set(default_job_roles())
    # And an IAM user assumes it only as itself: session name and source identity are its name
    trust = roles["yomitori-reviewer"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assume = [
        s
        for s in trust
        if "sts:AssumeRole" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert len(assume) == 1
    cond = assume[0]["Condition"]
    assert cond["ArnLike"]["aws:PrincipalArn"] == [f"arn:aws:iam::{ACCOUNT}:user/sato"]
    assert cond["StringLike"] == {"sts:RoleSessionName": "${aws:username}"}
    assert cond["StringLikeIfExists"] == {"sts:SourceIdentity": "${aws:username}"}
    assert any("sts:SetSourceIdentity" in json.dumps(s["Action"]) for s in trust)
    # And, judged by the evaluator, sato assumes it as himself, for his own office only
    sato = {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/sato", "aws:username": "sato",
            "aws:PrincipalTag/yomitori-client": "city-a", "sts:RoleSessionName": "sato",
            "aws:RequestTag/yomitori-client": "city-a", "aws:TagKeys": ["yomitori-client"]}
    assert _may(trust, "sts:AssumeRole", sato) and _may(trust, "sts:TagSession", sato)
    for wrong in ({"sts:RoleSessionName": "tanaka"},  # someone else's name
                  {"aws:RequestTag/yomitori-client": "city-b"},  # another office
                  {"aws:TagKeys": ["yomitori-client", "dept"]}):  # other session tags
        assert not _may(trust, "sts:AssumeRole", {**sato, **wrong}), wrong
    no_office = {k: v for k, v in sato.items() if k not in ("aws:RequestTag/yomitori-client", "aws:TagKeys")}
    assert not _may(trust, "sts:AssumeRole", no_office)
    # And a role principal (an Identity Center permission set) must set a source identity and
    # its office (the attribute for access control)
    nv = roles["yomitori-number-viewer"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert any(s.get("Condition", {}).get("Null") == {"sts:SourceIdentity": "false",
                                                      "aws:RequestTag/yomitori-client": "false"} for s in nv)
    # And a session lasts a working day at most
    assert all(r["Properties"]["MaxSessionDuration"] == 8 * 3600 for r in roles.values())
    # And the agent can map the roles: the stack outputs them
    out = synth.template["Outputs"]
    assert json.loads(out["JobRoles"]["Value"]) == default_job_roles()
    assert {"ReviewerRoleArn", "NumberViewerRoleArn", "SupervisorRoleArn"} <= set(out)


def test_each_job_can_do_only_what_it_needs(synth):
    reviewer = _statements(synth, "PeopleReviewerPolicy")
    supervisor = _statements(synth, "PeopleSupervisorPolicy")
    # A reviewer works the review page from an office terminal through the endpoints
    for action, resource, service in [
        ("s3:GetObject", DOC, "s3"),
        ("s3:PutObject", DOC, "s3"),
        ("s3:GetObject", PAGE, "s3"),
        ("dynamodb:UpdateItem", REVIEW, "dynamodb"),
        ("dynamodb:PutItem", AUDIT, "dynamodb"),
        ("states:SendTaskSuccess", SM, "states"),
    ]:
        assert _allowed(reviewer, action, resource, _office(service)), action
        # but not from a terminal off the allow-list, nor outside the permitted regions
        assert not _allowed(reviewer, action, resource, _office(service, ip="192.0.2.7")), action
        assert not _allowed(
            reviewer, action, resource, {**_office(service), "aws:RequestedRegion": "us-east-1"}
        )
    # but only their own office's batches
    for action, resource, service in [
        ("s3:GetObject", DOC.replace(OURS, THEIRS), "s3"),
        ("s3:PutObject", DOC.replace(OURS, THEIRS), "s3"),
        ("s3:GetObject", PAGE.replace(OURS, THEIRS), "s3"),
        ("dynamodb:UpdateItem", REVIEW, "dynamodb"),
        ("dynamodb:PutItem", AUDIT, "dynamodb"),
    ]:
        assert not _allowed(reviewer, action, resource, {**_office(service), "dynamodb:LeadingKeys": [THEIRS]}
                            if service == "dynamodb" else _office(service)), action
    # A reviewer reads only the audit chain's head (key and hash), never the records
    records = {**_office("dynamodb"), "dynamodb:Select": "ALL_ATTRIBUTES"}
    assert not _allowed(reviewer, "dynamodb:Query", AUDIT, records)
    head = {
        **_office("dynamodb"),
        "dynamodb:Select": "SPECIFIC_ATTRIBUTES",
        "dynamodb:Attributes": ["batch_id", "event_id", "hash"],
    }
    assert _allowed(reviewer, "dynamodb:Query", AUDIT, head)
    # A reviewer cannot change the audit trail, upload, download results, or invoke anything
    for action, resource, service in [
        ("dynamodb:DeleteItem", AUDIT, "dynamodb"),
        ("s3:PutObject", PAGE, "s3"),
        ("s3:GetObject", f"arn:aws:s3:::results/{OURS}/results.csv", "s3"),
        ("lambda:InvokeFunction", "*", "lambda"),
    ]:
        assert not _allowed(reviewer, action, resource, _office(service)), action
    # A supervisor reads the audit trail, and no document, page or result
    assert _allowed(supervisor, "dynamodb:Query", AUDIT, _office("dynamodb"))
    assert _allowed(supervisor, "dynamodb:Scan", AUDIT, _office("dynamodb"))
    assert not _allowed(supervisor, "dynamodb:UpdateItem", REVIEW, _office("dynamodb"))
    for action, resource in [("s3:GetObject", DOC), ("s3:GetObject", PAGE), ("dynamodb:PutItem", AUDIT)]:
        assert not _allowed(supervisor, action, resource, _office(resource.split(":")[2] or "s3")), action


@pytest.mark.parametrize("job", ["reviewer", "number-viewer", "verifier", "supervisor"])
def test_no_job_may_invoke_a_function_or_name_someone_else(synth, job):
    statements = _statements(synth, f"People{''.join(p.capitalize() for p in job.split('-'))}Policy")
    assert statements, job
    dumped = json.dumps(statements)
    assert "lambda:" not in dumped and "iam:" not in dumped and "sts:" not in dumped


def test_the_operator_role_is_the_agent(synth):
    role = _roles(synth)["yomitori-operator"]
    refs = [a["Ref"] for a in role["Properties"]["ManagedPolicyArns"] if isinstance(a, dict) and "Ref" in a]
    assert any(r.startswith("AgentPolicy") for r in refs)

    # and every job role is under the region guard
    guard = next(
        r for k, r in synth.resources("AWS::IAM::ManagedPolicy").items() if k.startswith("RegionGuard")
    )
    guarded = {ref["Ref"] for ref in guard["Properties"]["Roles"]}
    people = {
        k
        for k, r in synth.resources("AWS::IAM::Role").items()
        if str(r["Properties"].get("RoleName", "")).startswith("yomitori-")
    }
    assert people and people <= guarded


def test_the_stack_synthesizes_with_the_job_roles_and_no_unacknowledged_finding(synth):
    assert synth.error is None, synth.error
