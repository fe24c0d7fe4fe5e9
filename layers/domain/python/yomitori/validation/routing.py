"""Review routing: a field is ``accepted`` only when its confidence clears the threshold of
its type AND every validator passes; otherwise it goes to a person (``needs_review``) or is
``invalid`` (the value cannot be true). Runs in Lambda (validate step) and on one machine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from yomitori.forms.schema import FieldDef, FieldType, FormDefinition
from yomitori.results import READER_REASONS, DocumentResult, FieldResult, FieldStatus
from yomitori.validation.address import fold_address_variants
from yomitori.validation.names import align_name_spaces, holder_spaced_like_reading
from yomitori.validation.registry import Finding, Severity, ValidationContext, get_rule, get_validator

# Chosen for the ppocr engine from `yomitori demo --degrade heavy` (seen and unseen handwriting
# fonts, docs/ocr.md): the lowest value of each type with no accepted-but-wrong field on either
# set, rounded up with a margin. Overridable per deployment and per field (`threshold:`).
DEFAULT_THRESHOLDS: dict[str, float] = {
    FieldType.TEXT: 0.80,
    FieldType.KANA: 0.75,
    FieldType.DIGITS: 0.80,
    FieldType.DATE: 0.80,
    FieldType.CHECKBOX: 0.90,
    FieldType.CHOICE: 0.90,
}

LOW_CONFIDENCE = "low_confidence"
REQUIRED = "required"


def field_findings(f: FieldDef, value: str, ctx: ValidationContext) -> list[Finding]:
    """All findings of one field's validators (empty optional fields are not validated)."""
    if not value:
        return [Finding(REQUIRED)] if f.required else []
    ctx.field = f
    findings: list[Finding] = []
    for spec in f.validators:
        if spec.name == REQUIRED:
            continue  # handled above, for empty values only
        findings.extend(get_validator(spec.name)(value, ctx, **spec.args))
    return findings


def decide(
    f: FieldDef, result: FieldResult, findings: list[Finding], thresholds: Mapping[str, float]
) -> None:
    """Set status, reasons and suggestion of ``result`` from its findings and confidence."""
    reader = [r for r in result.reasons if r in READER_REASONS]  # e.g. 訂正あり, from extraction
    reasons = list(dict.fromkeys([*reader, *(x.code for x in findings)]))
    threshold = f.threshold if f.threshold is not None else thresholds.get(f.type, 0.9)
    if result.confidence < threshold:
        reasons.append(LOW_CONFIDENCE)
    result.reasons = reasons
    suggestions = [x.suggestion for x in findings if x.suggestion is not None]
    result.suggestion = suggestions[0] if suggestions else None
    if any(x.severity is Severity.INVALID for x in findings):
        result.status = FieldStatus.INVALID
    elif reasons:
        result.status = FieldStatus.NEEDS_REVIEW
    else:
        result.status = FieldStatus.ACCEPTED


def fold_to_master_data(form: FormDefinition, doc: DocumentResult) -> None:
    """Address fields (those validated by ``address_jp``) as read, with old kanji in the
    forms Japan Post's data uses (the reader prefers old forms: 靜, 德; see
    :func:`fold_address_variants`). A person's name is never folded (validation/names.py
    sends old forms to a person); bank and branch names are left to their validators, which
    suggest the Zengin spelling (a branch may itself be listed with an old form)."""
    for f in form.fields:
        result = doc.fields.get(f.name)
        if (result is None or result.status in (FieldStatus.CORRECTED, FieldStatus.ILLEGIBLE)
                or not any(v.name == "address_jp" for v in f.validators)):
            continue
        result.value = fold_address_variants(result.value)


def space_names_like_their_readings(form: FormDefinition, doc: DocumentResult) -> None:
    """A name or its フリガナ written without the space between family and given name gets it
    where the other has it (see :func:`align_name_spaces`): the core system keeps them apart."""
    for spec in form.rules:
        values = {k: fr.value for k, fr in doc.fields.items()
                  if fr.status not in (FieldStatus.CORRECTED, FieldStatus.ILLEGIBLE)}
        if spec.name == "name_reading":
            for field, value in align_name_spaces(values, **spec.args).items():
                doc.fields[field].value = value
        elif spec.name == "account_holder_reading":
            holder, reading = spec.args.get("holder", "account_holder"), spec.args.get("reading", "name_kana")
            spaced = holder_spaced_like_reading(values.get(holder, ""), values.get(reading, ""))
            if spaced:
                doc.fields[holder].value = spaced


def route_document(
    form: FormDefinition,
    doc: DocumentResult,
    *,
    thresholds: Mapping[str, float] | None = None,
    today: dt.date | None = None,
    options: Mapping[str, Any] | None = None,
) -> DocumentResult:
    """Validate every field of ``doc`` and route it. Fields a person already settled
    (``corrected``, ``illegible``) keep their status. Returns the same object."""
    thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    fold_to_master_data(form, doc)
    space_names_like_their_readings(form, doc)
    values = {name: fr.value for name, fr in doc.fields.items()}
    raws = {name: fr.raw for name, fr in doc.fields.items()}
    ctx = ValidationContext(
        form=form, values=values, today=today or dt.date.today(), options=options or {}, raws=raws
    )
    per_field: dict[str, list[Finding]] = {}
    for f in form.fields:
        result = doc.fields.get(f.name)
        if result is None:
            continue
        per_field[f.name] = field_findings(f, result.value, ctx)
    ctx.field = None
    for spec in form.rules:
        for finding in get_rule(spec.name)(ctx, **spec.args):
            if finding.field in per_field:
                per_field[finding.field].append(finding)
    for f in form.fields:
        result = doc.fields.get(f.name)
        if result is None or result.status in (FieldStatus.CORRECTED, FieldStatus.ILLEGIBLE):
            continue
        decide(f, result, per_field[f.name], thresholds)
    return doc
