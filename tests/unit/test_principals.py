"""In the cloud the principal is the assumed job role's session: ARN -> (name, roles)."""

from __future__ import annotations

import pytest
from yomitori.access import Principal, Role
from yomitori.principals import UnknownPrincipal, default_job_roles, principal_from_arn

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("role", "roles"),
    [
        ("yomitori-reviewer", {Role.REVIEWER}),
        ("yomitori-number-viewer", {Role.REVIEWER, Role.NUMBER_VIEWER}),
        ("yomitori-verifier", {Role.VERIFIER}),
        ("yomitori-supervisor", {Role.SUPERVISOR}),
        ("yomitori-operator", {Role.OPERATOR}),
        ("AWSReservedSSO_yomitori-number-viewer_0123456789abcdef", {Role.REVIEWER, Role.NUMBER_VIEWER}),
    ],
)
def test_an_assumed_job_role_names_the_person_and_their_roles(role, roles):
    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/sato@city.example.jp"
    assert principal_from_arn(arn, default_job_roles()) == Principal("sato@city.example.jp", frozenset(roles))


def test_other_identities_are_not_people():
    jobs = default_job_roles()
    # an assumed role that is no job role, and the shared agent user: refused
    with pytest.raises(UnknownPrincipal):
        principal_from_arn(f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/sato", jobs)
    with pytest.raises(UnknownPrincipal):
        principal_from_arn(f"arn:aws:iam::{ACCOUNT}:user/yomitori-agent", jobs)
    # unless the agent user is allowed (the local cloud): a reviewer who cannot reveal
    p = principal_from_arn(f"arn:aws:iam::{ACCOUNT}:user/yomitori-agent", jobs, allow_agent_identity=True)
    assert p == Principal("yomitori-agent", frozenset({Role.REVIEWER}))


def test_the_session_of_a_role_assumed_through_sts_is_the_principal(monkeypatch):
    # Given real STS answers (moto): a person assumes the number-viewer job role with their name
    import boto3
    from moto import mock_aws

    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
    }.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        creds = boto3.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/yomitori-number-viewer",
            RoleSessionName="suzuki",
            SourceIdentity="suzuki",
        )["Credentials"]
        arn = boto3.client(
            "sts",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        ).get_caller_identity()["Arn"]
    # When the review backend maps the caller's ARN
    p = principal_from_arn(arn, default_job_roles())
    # Then the person is the session name with the job's roles
    assert p.name == "suzuki" and p.has(Role.NUMBER_VIEWER) and p.has(Role.REVIEWER)


def test_the_job_roles_can_be_configured_for_another_prefix(monkeypatch):
    from yomitori.principals import ENV_JOB_ROLES, job_roles_from_env

    # Given a deployment whose roles are named differently (the stack's JobRoles output)
    monkeypatch.setenv(ENV_JOB_ROLES, '{"city-a-reviewer": ["reviewer"]}')
    jobs = job_roles_from_env()
    # Then its role maps, and the default names no longer do
    assert (
        principal_from_arn(f"arn:aws:sts::{ACCOUNT}:assumed-role/city-a-reviewer/sato", jobs).name == "sato"
    )
    with pytest.raises(UnknownPrincipal):
        principal_from_arn(f"arn:aws:sts::{ACCOUNT}:assumed-role/yomitori-number-viewer/sato", jobs)
