"""Exit codes and typed errors of the agent.

Every error carries a one-line message (what is wrong) and an action (what to do); the CLI
turns them into one line on stderr and the error's exit code, in one place. Messages name
files, batch ids and counts only, never personal values.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of ``yomitori-agent`` (stable; documented in docs/agent.md)."""

    OK = 0
    PARTIAL = 1  # the command finished but some items were rejected (see the report)
    USAGE = 2
    CONFIG = 3
    BAD_INPUT = 4
    MISSING_DEPENDENCY = 5
    PACKAGE_REJECTED = 6
    NETWORK = 7
    NOT_FOUND = 8
    TARGET_NOT_WRITABLE = 9
    KEY_PERMISSIONS = 10
    BUSY = 11
    INTERNAL = 70
    INTERRUPTED = 130


class AgentError(Exception):
    """Base class: ``exit_code`` is stable, ``action`` tells the user what to do."""

    exit_code = ExitCode.INTERNAL
    action = "Report this with the command you ran and the agent log file."

    def __init__(self, message: str, *, action: str | None = None):
        super().__init__(message)
        self.message = message
        if action is not None:
            self.action = action

    def __str__(self) -> str:
        return f"{self.message} {self.action}".strip()


class ConfigError(AgentError):
    exit_code = ExitCode.CONFIG
    action = "Fix the configuration file (see agent/yomitori-agent.example.toml)."


class BadInputError(AgentError):
    exit_code = ExitCode.BAD_INPUT
    action = "Check the folder or file named above and run the command again."


class PackageRejected(AgentError):
    """The package is damaged, tampered with, truncated or not for this machine."""

    exit_code = ExitCode.PACKAGE_REJECTED
    action = ("Nothing was written. Make a new package on the sending machine "
              "and bring it again; keep the rejected file for inspection.")


class NetworkError(AgentError):
    exit_code = ExitCode.NETWORK
    action = "Check the dedicated line and the endpoint URL, then run the same command again: it resumes."


class NotFoundError(AgentError):
    exit_code = ExitCode.NOT_FOUND
    action = "Check the batch id with `yomitori-agent status`."


class TargetNotWritable(AgentError):
    exit_code = ExitCode.TARGET_NOT_WRITABLE
    action = "Check that the USB stick or folder is mounted, not read-only and has free space."


class KeyPermissionError(AgentError):
    exit_code = ExitCode.KEY_PERMISSIONS
    action = "Restrict the identity file to its owner (chmod 600 FILE), then run again."


class BusyError(AgentError):
    exit_code = ExitCode.BUSY
    action = "Another yomitori-agent is working on this batch; wait for it to finish."
