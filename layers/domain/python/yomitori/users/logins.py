"""Logins to the review page against the users file, slowed and limited per name and for all
names together (in memory, per server). Runs on one machine (no network, no AWS)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from yomitori.access import Principal
from yomitori.errors import ExitCode, YomitoriError

if TYPE_CHECKING:
    from yomitori.users.file import UsersFile


class LoginRefused(YomitoriError):
    """A login that did not succeed (wrong name or passphrase, or locked for a while)."""

    code = "login_failed"
    status = 401
    exit_code = ExitCode.BAD_INPUT
    action = "Check the name and passphrase and try again."

    def __init__(self, reason: str, message: str, *, retry_after: int = 0):
        super().__init__(message, code="login_locked" if reason == "locked_out" else None)
        self.reason = reason
        self.retry_after = retry_after


class LoginGuard:
    """Slows and limits logins: after ``max_failures`` failed tries for one name (or
    ``max_total`` for all names together, against guessing many names) further tries are
    refused for ``lock_seconds``, even with the right passphrase. In memory, per server."""

    def __init__(
        self, *, max_failures: int = 5, max_total: int = 20, lock_seconds: int = 300, clock=time.monotonic
    ):
        self.max_failures, self.max_total, self.lock_seconds = max_failures, max_total, lock_seconds
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        kept = [t for t in self._failures.get(key, []) if now - t < self.lock_seconds]
        self._failures[key] = kept
        return kept

    def locked_for(self, name: str) -> int:
        """Seconds until ``name`` may try again (0: now)."""
        now = self.clock()
        with self._lock:
            for key, limit in ((name, self.max_failures), ("*", self.max_total)):
                recent = self._recent(key, now)
                if len(recent) >= limit:
                    return max(1, int(recent[-limit] + self.lock_seconds - now + 0.999))
        return 0

    def failed(self, name: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (name, "*"):
                self._recent(key, now).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)


def login(users: UsersFile, guard: LoginGuard, name: str, passphrase: str) -> Principal:
    """Authenticate ``name``; raises :class:`LoginRefused` (reason ``locked_out``,
    ``unknown_user`` or ``wrong_passphrase``). The caller audits the outcome."""
    wait = guard.locked_for(name)
    if wait:
        raise LoginRefused("locked_out", "Too many failed logins: try again later.", retry_after=wait)
    principal = users.authenticate(name, passphrase)
    if principal is None:
        guard.failed(name)
        reason = "wrong_passphrase" if name in users.users else "unknown_user"
        raise LoginRefused(reason, "The name or passphrase is wrong.")
    guard.succeeded(name)
    return principal
