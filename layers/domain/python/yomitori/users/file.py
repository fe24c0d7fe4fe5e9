"""The users file of one machine: who may log in to the review page, with which roles.

A JSON file (path from ``--users`` or ``YOMITORI_USERS``)::

    {"version": 1,
     "users": {"sato": {"roles": ["reviewer", "number_viewer"],
                        "passphrase": "scrypt$32768$8$1$<salt b64>$<key b64>"}},
     "purposes": {"identity_check": "本人確認", ...}}        # optional: the reveal purposes

Passphrases are stored as scrypt keys (memory-hard: 32 MiB per try) with a random salt and
the parameters next to the key, compared in constant time (:mod:`.passphrases`). The file is
written to a temporary name with mode 0600 and renamed, so it is never half-written or
readable by others.
``purposes`` (optional) replaces the list of reasons a My Number may be revealed for
(:data:`DEFAULT_PURPOSES`). Runs on one machine (the ``yomitori users`` command and the
review page); no network, no AWS.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from yomitori.access import Principal, Role
from yomitori.errors import ExitCode, YomitoriError
from yomitori.users.passphrases import check_passphrase, dummy_key, hash_passphrase

ENV_USERS = "YOMITORI_USERS"
VERSION = 1
MIN_PASSPHRASE = 10
NAME = re.compile(r"^[a-z][a-z0-9._-]{0,39}$")

# Why a My Number may be shown (番号法: only for the work that needs it). Codes go into the
# audit trail, the Japanese labels onto the page; a users file's "purposes" replaces them.
DEFAULT_PURPOSES: dict[str, str] = {
    "identity_check": "本人確認（番号確認）",
    "number_match": "番号の照合（読み取り誤りの確認）",
    "entry_check": "記載内容の確認",
    "correction": "読み取り誤りの訂正",
    "inquiry": "本人・関係機関への問合せ対応",
}
PURPOSE_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class UsersError(YomitoriError):
    code = "users_file"
    exit_code = ExitCode.BAD_INPUT
    action = (
        "Check the users file (see docs/review.md, 'Who may review'), or manage it with `yomitori users`."
    )


# --- the file -----------------------------------------------------------------------------------


@dataclass
class User:
    name: str
    roles: frozenset[Role]
    passphrase: str  # the stored scrypt string, never the passphrase itself

    def principal(self) -> Principal:
        return Principal(self.name, self.roles)


@dataclass
class UsersFile:
    """The users of one machine, read from and written to ``path``."""

    path: Path
    users: dict[str, User] = field(default_factory=dict)
    purposes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PURPOSES))
    _custom_purposes: bool = False

    # -- reading and writing ---------------------------------------------------------------
    @classmethod
    def load(cls, path: Path | str, *, missing_ok: bool = False) -> UsersFile:
        """The users file at ``path``; an empty one when it does not exist and ``missing_ok``."""
        path = Path(path)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            mode = 0
        if mode & 0o022:
            # whoever may write it may give themselves any role
            raise UsersError(
                f"The users file {path} may be changed by other users of this machine.",
                action=f"Make it writable by its owner only: chmod 600 {path}",
            )
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if missing_ok:
                return cls(path)
            raise UsersError(
                f"The users file {path} does not exist.",
                action=f"Create it with `yomitori users add NAME --role reviewer --users {path}`.",
            ) from None
        except (OSError, ValueError) as e:
            raise UsersError(f"The users file {path} cannot be read ({type(e).__name__}).") from None
        if (
            not isinstance(raw, dict)
            or raw.get("version") != VERSION
            or not isinstance(raw.get("users"), dict)
        ):
            raise UsersError(f"{path} is not a yomitori users file (version {VERSION}).")
        out = cls(path)
        for name, u in raw["users"].items():
            try:
                roles = frozenset(Role(x) for x in u["roles"])
                stored = str(u["passphrase"])
            except (KeyError, TypeError, ValueError):
                raise UsersError(f"User '{name}' in {path} has unknown roles or no passphrase.") from None
            if not NAME.match(name):
                raise UsersError(f"'{name}' in {path} is not a valid user name.")
            out.users[name] = User(name, roles, stored)
        purposes = raw.get("purposes")
        if purposes is not None:
            out.set_purposes(purposes)
        return out

    def set_purposes(self, purposes: Mapping[str, str]) -> None:
        if (
            not isinstance(purposes, Mapping)
            or not purposes
            or not all(
                isinstance(k, str) and PURPOSE_CODE.match(k) and isinstance(v, str) and v.strip()
                for k, v in purposes.items()
            )
        ):
            raise UsersError(f"'purposes' in {self.path} must map codes (a-z, 0-9, _) to Japanese labels.")
        self.purposes = dict(purposes)
        self._custom_purposes = True

    def save(self) -> None:
        """Write the file atomically with mode 0600 (a temporary file, then rename)."""
        data: dict = {
            "version": VERSION,
            "users": {
                n: {"roles": sorted(r.value for r in u.roles), "passphrase": u.passphrase}
                for n, u in sorted(self.users.items())
            },
        }
        if self._custom_purposes:
            data["purposes"] = self.purposes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.chmod(self.path, 0o600)

    # -- managing users ----------------------------------------------------------------------
    def add(self, name: str, roles: Iterable[Role | str], passphrase: str) -> User:
        if not NAME.match(name):
            raise UsersError(
                f"'{name}' is not a valid user name.",
                action="Use lower-case letters, digits, '.', '_' or '-' (up to 40, starting with a letter).",
            )
        if name in self.users:
            raise UsersError(
                f"User '{name}' already exists.",
                action="Use `yomitori users passwd` or `users remove` first.",
            )
        try:
            role_set = frozenset(Role(r) for r in roles)
        except ValueError:
            raise UsersError(
                "Unknown role.", action="Roles are: " + ", ".join(r.value for r in Role)
            ) from None
        if not role_set:
            raise UsersError("A user needs at least one role.", action="Add --role reviewer (and others).")
        _check_strength(passphrase)
        self.users[name] = User(name, role_set, hash_passphrase(passphrase))
        return self.users[name]

    def remove(self, name: str) -> None:
        if self.users.pop(name, None) is None:
            raise UsersError(f"There is no user '{name}'.", action="See `yomitori users list`.")

    def set_passphrase(self, name: str, passphrase: str) -> None:
        if name not in self.users:
            raise UsersError(f"There is no user '{name}'.", action="See `yomitori users list`.")
        _check_strength(passphrase)
        self.users[name].passphrase = hash_passphrase(passphrase)

    def listing(self) -> list[dict]:
        """Names and roles (never the stored keys)."""
        return [
            {"name": u.name, "roles": sorted(r.value for r in u.roles)} for _, u in sorted(self.users.items())
        ]

    def authenticate(self, name: str, passphrase: str) -> Principal | None:
        """The principal when ``name`` and ``passphrase`` match; None otherwise (same cost)."""
        user = self.users.get(name)
        ok = check_passphrase(passphrase, user.passphrase if user else dummy_key())
        return user.principal() if (user is not None and ok) else None


def _check_strength(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise UsersError(
            f"The passphrase is too short (at least {MIN_PASSPHRASE} characters).",
            action="Choose a longer passphrase, e.g. several words.",
        )


def users_path(explicit: str | Path | None = None) -> Path | None:
    """The users file to use: ``--users``, else ``YOMITORI_USERS``, else none."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_USERS)
    return Path(env) if env else None
