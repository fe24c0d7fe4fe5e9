"""People for the review tests: principals with roles, and a real users file (scrypt)."""

from __future__ import annotations

from pathlib import Path

from yomitori.access import Principal, Role

PASSPHRASE = "sakura-mochi-2026"


def reviewer(name: str = "alice") -> Principal:
    """A reviewer who may not reveal a My Number."""
    return Principal(name, frozenset({Role.REVIEWER}))


def number_viewer(name: str = "alice") -> Principal:
    """A reviewer who may also reveal a My Number (with a purpose)."""
    return Principal(name, frozenset({Role.REVIEWER, Role.NUMBER_VIEWER}))


def users_file(path: Path, people: dict[str, list[str]], passphrase: str = PASSPHRASE):
    """A users file at ``path`` with ``people`` (name -> role names), all with ``passphrase``."""
    from yomitori.users import UsersFile

    users = UsersFile.load(path, missing_ok=True)
    for name, roles in people.items():
        users.add(name, roles, passphrase)
    users.save()
    return UsersFile.load(path)
