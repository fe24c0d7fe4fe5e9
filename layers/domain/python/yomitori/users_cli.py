"""``yomitori users add|list|remove|passwd``: manage the users file of one machine (thin: the
work is :mod:`yomitori.users`). Passphrases come from a prompt (asked twice, not echoed) or,
for scripts, from the first line of stdin (``--passphrase-stdin``); never from an argument,
which other users of the machine could see in the process list."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from yomitori.access import Role
from yomitori.errors import ExitCode
from yomitori.users import UsersError, UsersFile, users_path


def _path(args: argparse.Namespace):
    path = users_path(args.users)
    if path is None:
        raise UsersError("No users file given.", action="Pass --users FILE or set YOMITORI_USERS.")
    return path


def _passphrase(args: argparse.Namespace, who: str) -> str:
    if args.passphrase_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsersError("No terminal to ask the passphrase on.", action="Use --passphrase-stdin in scripts.")
    first = getpass.getpass(f"Passphrase for {who}: ")
    if getpass.getpass("Again: ") != first:
        raise UsersError("The two passphrases differ.", action="Run the command again.")
    return first


def _add(args: argparse.Namespace) -> int:
    users = UsersFile.load(_path(args), missing_ok=True)
    if args.name in users.users:  # said before the passphrase is asked for
        raise UsersError(
            f"User '{args.name}' already exists.",
            action="Use `yomitori users passwd` or `users remove` first.",
        )
    users.add(args.name, args.role or [], _passphrase(args, args.name))
    users.save()
    print(
        json.dumps(
            {"added": args.name, "roles": sorted(args.role), "file": str(users.path)}, ensure_ascii=False
        )
    )
    return ExitCode.OK


def _list(args: argparse.Namespace) -> int:
    print(json.dumps({"users": UsersFile.load(_path(args)).listing()}, ensure_ascii=False))
    return ExitCode.OK


def _remove(args: argparse.Namespace) -> int:
    users = UsersFile.load(_path(args))
    users.remove(args.name)
    users.save()
    print(json.dumps({"removed": args.name}, ensure_ascii=False))
    return ExitCode.OK


def _passwd(args: argparse.Namespace) -> int:
    users = UsersFile.load(_path(args))
    if args.name not in users.users:  # said before the passphrase is asked for
        raise UsersError(f"There is no user '{args.name}'.", action="See `yomitori users list`.")
    users.set_passphrase(args.name, _passphrase(args, args.name))
    users.save()
    print(json.dumps({"changed": args.name}, ensure_ascii=False))
    return ExitCode.OK


def add_parser(sub) -> None:
    """The ``users`` sub-command of ``yomitori``."""
    u = sub.add_parser("users", help="who may log in to the review page, with which roles (docs/review.md)")
    usub = u.add_subparsers(dest="users_command", required=True)
    roles = [r.value for r in Role]

    def common(p, name: bool = True, secret: bool = False) -> None:
        if name:
            p.add_argument("name", help="login name (lower-case letters, digits, . _ -)")
        p.add_argument("--users", help="the users file (default: $YOMITORI_USERS)")
        if secret:
            p.add_argument(
                "--passphrase-stdin",
                action="store_true",
                help="read the passphrase from the first line of stdin (scripts)",
            )

    a = usub.add_parser("add", help="add a user with roles (asks the passphrase twice)")
    common(a, secret=True)
    a.add_argument("--role", action="append", choices=roles, required=True, help="a role (repeat for more)")
    a.set_defaults(func=_add)
    ls = usub.add_parser("list", help="names and roles (no passphrase hashes)")
    common(ls, name=False)
    ls.set_defaults(func=_list)
    rm = usub.add_parser("remove", help="remove a user")
    common(rm)
    rm.set_defaults(func=_remove)
    pw = usub.add_parser("passwd", help="set a new passphrase")
    common(pw, secret=True)
    pw.set_defaults(func=_passwd)
