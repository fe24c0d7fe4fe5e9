"""The validator registry.

A *field validator* checks one field's normalised value and may look at other fields through
the context (e.g. a branch code needs the bank code). A *rule* checks several fields at once
and says which fields its findings concern. Both are named in form definitions, with
arguments, and return findings: a reason code, how bad it is, and maybe a suggested value.

Validators never raise for a bad value and never put a value into a reason code: codes are
stable identifiers safe for logs and audit records.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from enum import StrEnum
from typing import Any

from yomitori.errors import FormDefinitionError
from yomitori.forms.schema import FieldDef, FormDefinition
from yomitori.results import Suggestion


class Severity(StrEnum):
    INVALID = "invalid"  # the value cannot be true
    REVIEW = "review"  # the value may be wrong; a person should look


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity = Severity.INVALID
    suggestion: Suggestion | None = None
    field: str | None = None  # set by rules: which field the finding concerns


@dataclass
class ValidationContext:
    """What a validator may look at besides the value itself."""

    form: FormDefinition
    values: Mapping[str, str]  # normalised values of every field of the document
    field: FieldDef | None = None
    today: dt.date = dc_field(default_factory=dt.date.today)
    options: Mapping[str, Any] = dc_field(default_factory=dict)  # deployment settings (e.g. horizons)
    raws: Mapping[str, str] = dc_field(default_factory=dict)  # as read (e.g. 令和6年4月1日 for a date)
    # which fields are themselves sure (read confidently and passing their own validators, or
    # settled by a person); None when the caller does not know (values taken as given)
    sure: Mapping[str, bool] | None = None

    def is_sure(self, name: str) -> bool | None:
        """True/False when known, None when the caller gave no confidences."""
        return None if self.sure is None else bool(self.sure.get(name, False))


FieldValidator = Callable[..., list[Finding]]  # (value, ctx, **args) -> findings
Rule = Callable[..., list[Finding]]  # (ctx, **args) -> findings with .field set

_FIELD_VALIDATORS: dict[str, FieldValidator] = {}
_RULES: dict[str, Rule] = {}

# Modules that register validators when imported; imported on first lookup so that
# importing the registry stays cheap (Lambda cold starts).
_VALIDATOR_MODULES = (
    "yomitori.validation.basic",
    "yomitori.validation.japan",
    "yomitori.validation.dates",
    "yomitori.validation.phone",
    "yomitori.validation.address",
    "yomitori.validation.bank",
    "yomitori.validation.names",
)
_loaded = False


def validator(name: str) -> Callable[[FieldValidator], FieldValidator]:
    def register(fn: FieldValidator) -> FieldValidator:
        if name in _FIELD_VALIDATORS:
            raise ValueError(f"validator '{name}' is registered twice")
        _FIELD_VALIDATORS[name] = fn
        return fn

    return register


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        if name in _RULES:
            raise ValueError(f"rule '{name}' is registered twice")
        _RULES[name] = fn
        return fn

    return register


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    for module in _VALIDATOR_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:  # a module that exists but fails to import is a real error
                raise
    _loaded = True


def registered() -> dict[str, list[str]]:
    _load_all()
    return {"validators": sorted(_FIELD_VALIDATORS), "rules": sorted(_RULES)}


def get_validator(name: str) -> FieldValidator:
    _load_all()
    try:
        return _FIELD_VALIDATORS[name]
    except KeyError:
        known = ", ".join(sorted(_FIELD_VALIDATORS))
        raise FormDefinitionError(f"Unknown validator '{name}' (known: {known}).") from None


def get_rule(name: str) -> Rule:
    _load_all()
    try:
        return _RULES[name]
    except KeyError:
        known = ", ".join(sorted(_RULES)) or "none"
        raise FormDefinitionError(f"Unknown rule '{name}' (known: {known}).") from None


def check_form_validators(form: FormDefinition) -> None:
    """Fail early, naming the field, when a form names a validator that does not exist."""
    for f in form.fields:
        for spec in f.validators:
            try:
                get_validator(spec.name)
            except FormDefinitionError as e:
                raise FormDefinitionError(f"form '{form.id}', field '{f.name}': {e.message}") from None
    for spec in form.rules:
        get_rule(spec.name)
