"""Who may log in to the review page of one machine, with which roles: the users file
(:mod:`.file`), its passphrase hashing (:mod:`.passphrases`) and the login with its
throttling (:mod:`.logins`). Callers import from here. No network, no AWS."""

from yomitori.users.file import (
    DEFAULT_PURPOSES,
    ENV_USERS,
    MIN_PASSPHRASE,
    User,
    UsersError,
    UsersFile,
    users_path,
)
from yomitori.users.logins import LoginGuard, LoginRefused, login
from yomitori.users.passphrases import check_passphrase, hash_passphrase

__all__ = [
    "DEFAULT_PURPOSES",
    "ENV_USERS",
    "MIN_PASSPHRASE",
    "LoginGuard",
    "LoginRefused",
    "User",
    "UsersError",
    "UsersFile",
    "check_passphrase",
    "hash_passphrase",
    "login",
    "users_path",
]
