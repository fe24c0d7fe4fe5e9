"""Who may do what: people are principals, jobs are roles.

The My Number guideline asks that each person works under their own identity and that only
the people whose job needs it can see a My Number. yomitori has one role per job:

* ``reviewer``       checks and corrects the fields a person must see (My Numbers masked);
* ``number_viewer``  may reveal a My Number, giving a purpose that is audited;
* ``verifier``       types fields marked ``verify`` a second time, blind (ベリファイ);
* ``supervisor``     reads the audit trail and decides where two entries disagree;
* ``operator``       runs the agent (pack, upload, download, import).

A principal is an authenticated person with their roles. Where it comes from is the
boundary's business (a users file and a login on one machine; the assumed role and session
name of the AWS credentials in the cloud); the domain only asks :meth:`Principal.require`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from yomitori.errors import ExitCode, YomitoriError


class Role(StrEnum):
    REVIEWER = "reviewer"
    NUMBER_VIEWER = "number_viewer"
    VERIFIER = "verifier"
    SUPERVISOR = "supervisor"
    OPERATOR = "operator"


class NotAllowed(YomitoriError):
    """The principal lacks the role an action needs (translated to HTTP 403 / exit 4)."""

    code = "not_allowed"
    status = 403
    exit_code = ExitCode.BAD_INPUT
    action = "Ask your administrator for the role this needs, or let a colleague who has it do it."


@dataclass(frozen=True)
class Principal:
    """An authenticated person: ``name`` is what audit records carry (a login name, or the
    session name of an assumed role), never a display name typed by the caller."""

    name: str
    roles: frozenset[Role]

    def has(self, role: Role) -> bool:
        return role in self.roles

    def require(self, role: Role) -> None:
        if role not in self.roles:
            raise NotAllowed(f"'{self.name}' does not have the {role.value} role.")
