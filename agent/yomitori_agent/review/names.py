"""The name the review page's header shows for a reviewer (a person's name, never an ARN).

The reviewer id stays what the audit trail records (``os:<login>``, ``aws:<ARN>``); the header
shows the part a person recognises: the login, the user name of an IAM user, or the role
session name of an assumed role (the session names the person, see docs/review.md).
"""

from __future__ import annotations


def display_name(reviewer: str) -> str:
    """``os:root`` -> ``root``; ``aws:arn:aws:sts::1:assumed-role/Reviewer/hanako`` -> ``hanako``;
    ``aws:arn:aws:iam::1:user/ops/taro`` -> ``taro``; anything else as it is."""
    who = reviewer
    for prefix in ("os:", "aws:", "user:"):
        if who.startswith(prefix):
            who = who[len(prefix):]
            break
    if who.startswith("arn:"):
        resource = who.split(":", 5)[-1]  # assumed-role/Role/session, user/path/name, root
        parts = [p for p in resource.split("/") if p]
        if parts and parts[0] == "assumed-role" and len(parts) >= 3:
            return parts[-1]
        if parts and parts[0] in ("user", "federated-user") and len(parts) >= 2:
            return parts[-1]
        return parts[-1] if parts else who
    return who or reviewer
