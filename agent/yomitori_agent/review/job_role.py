"""Take on a job role for the review page: the person's own credentials assume
``<prefix>-<job>`` as themselves, for their office.

The stack's trust policy (infra/people.py, docs/deploy.md "Job roles") admits an IAM user only
with the session name and source identity equal to their own user name and with the session
tag ``yomitori-client`` equal to their own tag; an AWS profile cannot pass a session tag, so
the agent assumes the role itself. The session's credentials then go into this process's
environment, where the review page's stores (``yomitori.store.clients``) read them.
"""

from __future__ import annotations

import os

from yomitori.batch import CLIENT_TAG
from yomitori.errors import ExitCode, YomitoriError

SESSION_SECONDS = 8 * 3600  # the role's maximum: one working day


class JobRoleError(YomitoriError):
    code = "job_role"
    exit_code = ExitCode.BAD_INPUT
    action = ("Check that your IAM user is in the job's `people` list and tagged yomitori-client with this "
              "PC's client_id (docs/deploy.md, Job roles), or ask your administrator.")


def user_name(arn: str) -> str:
    """The IAM user name of ``arn``; a job role is assumed by a person's own IAM user only
    (roles and federated users use Identity Center instead)."""
    from yomitori.principals import iam_user_name

    name = iam_user_name(arn)
    if name is None:
        raise JobRoleError("These credentials are not a person's own IAM user, so they cannot take on a "
                           "job role.",
                           action="Use your own IAM user's profile, or sign in through IAM Identity Center.")
    return name


def assume_job_role(role_arn: str, client_id: str, *, sts=None) -> str:
    """Assume ``role_arn`` as the calling IAM user, for ``client_id``; put the session's
    credentials into ``os.environ`` and return the person's name."""
    from botocore.exceptions import BotoCoreError, ClientError
    from yomitori.store.clients import client, reset

    sts = sts or client("sts")
    try:
        name = user_name(sts.get_caller_identity()["Arn"])
        creds = sts.assume_role(
            RoleArn=role_arn,
            RoleSessionName=name,
            SourceIdentity=name,
            Tags=[{"Key": CLIENT_TAG, "Value": client_id}],
            TransitiveTagKeys=[CLIENT_TAG],
            DurationSeconds=SESSION_SECONDS,
        )["Credentials"]
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "?")
        raise JobRoleError(f"The job role was refused ({code}).") from None
    except BotoCoreError as e:
        raise JobRoleError(f"STS could not be reached ({type(e).__name__}).",
                           action="Check the network to the STS endpoint and the AWS profile.") from None
    os.environ.pop("AWS_PROFILE", None)  # the session's keys, not the profile's, from now on
    os.environ.update({
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    })
    reset()  # clients built before hold the old credentials
    return name
