"""Where a principal comes from in the cloud: the assumed role of the AWS credentials in use.

Each job has one IAM role (``infra/people.py`` creates them; their names come from here, one
source of truth): a person assumes the role of their job with their own session name (IAM
Identity Center does this for a permission set; ``aws sts assume-role --role-session-name``
otherwise, and the role's trust policy requires ``sts:SourceIdentity``). STS
GetCallerIdentity then answers ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``: the person
is SESSION, their roles those of the job ROLE. Runs in the agent; no AWS call here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping

from yomitori.access import Principal, Role
from yomitori.errors import ExitCode, YomitoriError

ENV_JOB_ROLES = "YOMITORI_JOB_ROLES"  # JSON: {"<IAM role name or prefix*>": ["reviewer", ...]}
# "1": an IAM user (the agent's shared identity) may review as a plain reviewer. Off by default;
# the local cloud (moto, one user) sets it.
ENV_ALLOW_AGENT_REVIEWER = "YOMITORI_ALLOW_AGENT_REVIEWER"


def agent_reviewer_allowed() -> bool:
    return os.environ.get(ENV_ALLOW_AGENT_REVIEWER) == "1"


# job -> the yomitori roles a session of that job's IAM role holds. A session holds one IAM role
# at a time, so the number viewer's job includes reviewing (it reveals while reviewing).
JOBS: dict[str, tuple[Role, ...]] = {
    "reviewer": (Role.REVIEWER,),
    "number-viewer": (Role.REVIEWER, Role.NUMBER_VIEWER),
    "verifier": (Role.VERIFIER,),
    "supervisor": (Role.SUPERVISOR,),
    "operator": (Role.OPERATOR,),
}


def job_role_name(name_prefix: str, job: str) -> str:
    """The IAM role name of ``job`` in a deployment (``yomitori-reviewer`` ...)."""
    return f"{name_prefix}-{job}"


def default_job_roles(name_prefix: str = "yomitori") -> dict[str, list[str]]:
    """IAM role name -> yomitori roles for a stack deployed with ``name_prefix``; also the
    permission sets of IAM Identity Center named like the jobs (their roles are
    ``AWSReservedSSO_<permission set>_<hash>``)."""
    out: dict[str, list[str]] = {}
    for job, roles in JOBS.items():
        values = [r.value for r in roles]
        out[job_role_name(name_prefix, job)] = values
        out[f"AWSReservedSSO_{job_role_name(name_prefix, job)}_*"] = values
    return out


class UnknownPrincipal(YomitoriError):
    code = "unknown_principal"
    status = 403
    exit_code = ExitCode.BAD_INPUT
    action = (
        "Assume the IAM role of your job with your own session name (IAM Identity Center, or "
        "`aws sts assume-role --role-session-name YOUR-NAME --source-identity YOUR-NAME`); "
        "see docs/deploy.md, 'Job roles'."
    )


_ASSUMED = re.compile(r"^arn:aws[a-z-]*:sts::(\d{12}):assumed-role/([\w+=,.@-]+)/([\w+=,.@-]+)$")
_USER = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):user/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)$")


def iam_user_name(arn: str) -> str | None:
    """The user name of an IAM user's ARN (``…:user[/path]/NAME``), None for any other identity."""
    u = _USER.match(arn)
    return u.group(2) if u else None


def job_roles_from_env(name_prefix: str = "yomitori") -> dict[str, list[str]]:
    """``YOMITORI_JOB_ROLES`` (JSON) when set, else :func:`default_job_roles`."""
    raw = os.environ.get(ENV_JOB_ROLES)
    if not raw:
        return default_job_roles(name_prefix)
    try:
        data = json.loads(raw)
        return {str(k): [Role(r).value for r in v] for k, v in data.items()}
    except (ValueError, TypeError, AttributeError):
        raise YomitoriError(
            f"{ENV_JOB_ROLES} is not a JSON object of role names to yomitori roles.",
            action='Set it like {"yomitori-reviewer": ["reviewer"]}.',
            code="bad_job_roles",
        ) from None


def _roles_for(role_name: str, job_roles: Mapping[str, Iterable[str]]) -> frozenset[Role] | None:
    if role_name in job_roles:
        return frozenset(Role(r) for r in job_roles[role_name])
    for key, roles in job_roles.items():
        if key.endswith("*") and role_name.startswith(key[:-1]):
            return frozenset(Role(r) for r in roles)
    return None


def principal_from_arn(
    arn: str, job_roles: Mapping[str, Iterable[str]], *, allow_agent_identity: bool = False
) -> Principal:
    """The person behind ``arn`` (from STS GetCallerIdentity): an assumed job role's session.

    An assumed role that is no job role, or (unless ``allow_agent_identity``) any other
    identity such as the agent's IAM user, raises :class:`UnknownPrincipal`. With
    ``allow_agent_identity`` an IAM user is a reviewer named after the user (the one-identity
    setup of earlier versions, e.g. the local cloud): no My Number can be revealed by it."""
    m = _ASSUMED.match(arn)
    if m:
        _, role_name, session = m.groups()
        roles = _roles_for(role_name, job_roles)
        if roles is None:
            raise UnknownPrincipal(f"The IAM role '{role_name}' is not one of yomitori's job roles.")
        return Principal(session, roles)
    user = iam_user_name(arn)
    if user and allow_agent_identity:
        return Principal(user, frozenset({Role.REVIEWER}))
    raise UnknownPrincipal("These AWS credentials are not an assumed job role with a person's session name.")
