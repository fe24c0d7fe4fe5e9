"""Typed errors of the domain.

Each error carries a stable ``code`` and a message that says what is wrong and what to do.
Messages never contain personal values (names, addresses, numbers read from a form): they
may name files, fields and form ids only. Boundaries (CLI, Lambda, HTTP) translate them once.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the ``yomitori`` command (documented in the README)."""

    OK = 0
    SOME_DOCUMENTS_FAILED = 1
    USAGE = 2
    BAD_FORM_DEFINITION = 3
    BAD_INPUT = 4
    MISSING_DEPENDENCY = 5
    INTERNAL = 70


class YomitoriError(Exception):
    """Base class: ``code`` is stable, ``action`` tells the user what to do."""

    code = "error"
    exit_code = ExitCode.INTERNAL
    action = "Report this to the yomitori maintainers with the command you ran."

    def __init__(self, message: str, *, action: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        if action is not None:
            self.action = action
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message} {self.action}".strip()


class FormDefinitionError(YomitoriError):
    code = "bad_form_definition"
    exit_code = ExitCode.BAD_FORM_DEFINITION
    action = "Fix the form definition file and run the command again."


class UnknownFormError(YomitoriError):
    code = "unknown_form"
    exit_code = ExitCode.USAGE
    action = "Run `yomitori forms list` to see the forms that are installed."


class DocumentError(YomitoriError):
    """A single input document cannot be read; the batch goes on without it."""

    code = "document_error"
    exit_code = ExitCode.SOME_DOCUMENTS_FAILED
    action = "Rescan the page and add it to a new batch."


class EngineError(YomitoriError):
    code = "engine_error"
    exit_code = ExitCode.MISSING_DEPENDENCY
    action = "Install the OCR engine with `make setup` (Tesseract with the jpn model)."
