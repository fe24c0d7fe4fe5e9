"""The review page takes on a job role as the person's own IAM user, for their office."""

from __future__ import annotations

import os

import pytest
from yomitori_agent.review.job_role import JobRoleError, assume_job_role, user_name

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/yomitori-number-viewer"


def test_only_a_persons_own_iam_user_names_a_session():
    assert user_name(f"arn:aws:iam::{ACCOUNT}:user/sato") == "sato"
    assert user_name(f"arn:aws:iam::{ACCOUNT}:user/office/kita/sato") == "sato"
    for arn in (f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/x", f"arn:aws:iam::{ACCOUNT}:root", "nonsense"):
        with pytest.raises(JobRoleError):
            user_name(arn)


def test_the_job_role_is_assumed_with_the_users_name_and_office(monkeypatch):
    # Given sato's own credentials (real STS answers: moto)
    import boto3
    from moto import mock_aws
    from yomitori.store.clients import client, reset

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "ap-northeast-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)  # recorded, so the test's end puts it back
    asked: list[dict] = []
    with mock_aws():
        sts = boto3.client("sts")
        sts.meta.events.register("provide-client-params.sts.AssumeRole",
                                 lambda params, **_: asked.append(params))
        # When the review page takes on the number-viewer job for office city-a
        name = assume_job_role(ROLE, "city-a", sts=sts)
        # Then the session is his, by name and source identity, tagged with his office
        assert name == "moto"  # moto's caller is the IAM user "moto"
        assert asked[0]["RoleSessionName"] == asked[0]["SourceIdentity"] == "moto"
        assert asked[0]["Tags"] == [{"Key": "yomitori-client", "Value": "city-a"}]
        # And the process now acts as that session: STS names the assumed role
        arn = client("sts").get_caller_identity()["Arn"]
        assert arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/yomitori-number-viewer/moto"
        assert os.environ["AWS_SESSION_TOKEN"]
    reset()


def test_a_refused_role_says_what_to_check(monkeypatch):
    from botocore.exceptions import ClientError

    class Refusing:
        def get_caller_identity(self):
            return {"Arn": f"arn:aws:iam::{ACCOUNT}:user/sato"}

        def assume_role(self, **_):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")

    with pytest.raises(JobRoleError) as e:
        assume_job_role(ROLE, "city-b", sts=Refusing())
    assert "AccessDenied" in e.value.message and "client_id" in e.value.action
    assert "not authorized" not in str(e.value)
