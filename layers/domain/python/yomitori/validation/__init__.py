"""Validators (a registry named in the form definitions) and review routing."""

from yomitori.validation.registry import (
    Finding,
    Severity,
    ValidationContext,
    get_validator,
    registered,
    rule,
    validator,
)
from yomitori.validation.routing import DEFAULT_THRESHOLDS, route_document

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Finding",
    "Severity",
    "ValidationContext",
    "get_validator",
    "registered",
    "route_document",
    "rule",
    "validator",
]
